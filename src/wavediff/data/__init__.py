"""Datasets: folder layouts of the named corpora, the built-in demo corpus, and the writer
that every synthesised corpus goes through."""

from wavediff.data.corpora import (
    CORPORA,
    AudioItem,
    CorpusIndex,
    CorpusLayoutError,
    index_corpus,
)
from wavediff.data.corpus_writer import CorpusExistsError, stratified_split
from wavediff.data.demo import (
    DEMO_CLASSES,
    PITCHED_CLASSES,
    DemoClip,
    DemoCorpusConfig,
    corpus_to_arrays,
    generate_demo_clip,
    generate_demo_corpus,
    write_demo_corpus,
)
from wavediff.data.synthesis import midi_to_hz

__all__ = [
    "CORPORA",
    "AudioItem",
    "CorpusIndex",
    "CorpusLayoutError",
    "index_corpus",
    "CorpusExistsError",
    "stratified_split",
    "DEMO_CLASSES",
    "PITCHED_CLASSES",
    "DemoClip",
    "DemoCorpusConfig",
    "corpus_to_arrays",
    "generate_demo_clip",
    "generate_demo_corpus",
    "midi_to_hz",
    "write_demo_corpus",
]
