"""Datasets: folder layouts of the named corpora and the built-in demo corpus."""

from wavediff.data.corpora import (
    CORPORA,
    AudioItem,
    CorpusIndex,
    CorpusLayoutError,
    index_corpus,
)
from wavediff.data.demo import (
    DEMO_CLASSES,
    PITCHED_CLASSES,
    DemoClip,
    DemoCorpusConfig,
    DemoCorpusExistsError,
    corpus_to_arrays,
    demo_split,
    generate_demo_clip,
    generate_demo_corpus,
    midi_to_hz,
    midi_to_note_name,
    write_demo_corpus,
)

__all__ = [
    "CORPORA",
    "AudioItem",
    "CorpusIndex",
    "CorpusLayoutError",
    "index_corpus",
    "DEMO_CLASSES",
    "PITCHED_CLASSES",
    "DemoClip",
    "DemoCorpusConfig",
    "DemoCorpusExistsError",
    "corpus_to_arrays",
    "demo_split",
    "generate_demo_clip",
    "generate_demo_corpus",
    "midi_to_hz",
    "midi_to_note_name",
    "write_demo_corpus",
]
