"""Corpus indexers: turn a folder laid out like a public corpus into a :class:`CorpusIndex`.

``index_corpus(name, root, **options)`` picks the reader by name from :data:`CORPORA`:

``ljspeech``  LJ Speech (``metadata.csv`` + ``wavs/``), transcripts, hash split
``vctk``      CSTR VCTK 0.92 (``wav48_silence_trimmed/``) or older (``wav48/``), speaker labels
``sc09``      spoken digits of Speech Commands, digit labels, the corpus's own split lists
``maestro``   MAESTRO piano performances, split from the metadata csv
``nsynth``    NSynth notes, pitch or instrument-family labels, split folders
``folder``    any folder of audio files, sub-folder labels, optional ``split.json``

Readers list files and read metadata only; they decode no audio. A folder that does not
match raises :class:`CorpusLayoutError` with the expected layout, the same tree as in
``data/<name>/README.md`` (also available as ``CORPORA[name].layout``).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from wavediff.data.corpora.base import (
    AUDIO_EXTENSIONS,
    AudioItem,
    CorpusIndex,
    CorpusLayoutError,
    CorpusReader,
    CorpusWarning,
)
from wavediff.data.corpora.folder import FOLDER_LAYOUT, FolderReader
from wavediff.data.corpora.ljspeech import LJSPEECH_LAYOUT, LJSpeechReader
from wavediff.data.corpora.maestro import MAESTRO_LAYOUT, MaestroReader
from wavediff.data.corpora.nsynth import NSYNTH_FAMILIES, NSYNTH_LAYOUT, NSYNTH_SOURCES, NSynthReader
from wavediff.data.corpora.sc09 import SC09_DIGITS, SC09_LAYOUT, SC09Reader, speech_commands_split
from wavediff.data.corpora.splits import SPLITS, canonical_split, hash_split, read_split, unit_hash
from wavediff.data.corpora.vctk import VCTK_LAYOUT, VCTKReader

__all__ = [
    "AUDIO_EXTENSIONS",
    "CORPORA",
    "FOLDER_LAYOUT",
    "LJSPEECH_LAYOUT",
    "MAESTRO_LAYOUT",
    "NSYNTH_FAMILIES",
    "NSYNTH_LAYOUT",
    "NSYNTH_SOURCES",
    "SC09_DIGITS",
    "SC09_LAYOUT",
    "SPLITS",
    "VCTK_LAYOUT",
    "AudioItem",
    "CorpusIndex",
    "CorpusLayoutError",
    "CorpusReader",
    "CorpusWarning",
    "FolderReader",
    "LJSpeechReader",
    "MaestroReader",
    "NSynthReader",
    "SC09Reader",
    "VCTKReader",
    "canonical_split",
    "hash_split",
    "index_corpus",
    "read_split",
    "speech_commands_split",
    "unit_hash",
]

#: Corpus readers by name.
CORPORA: dict[str, CorpusReader] = {
    reader.name: reader
    for reader in (LJSpeechReader(), VCTKReader(), SC09Reader(), MaestroReader(), NSynthReader(), FolderReader())
}


def index_corpus(name: str, root: str | os.PathLike[str], **options: Any) -> CorpusIndex:
    """Index the corpus folder ``root`` with the reader called ``name``.

    Args:
        name: a key of :data:`CORPORA` (case-insensitive).
        root: the corpus folder.
        **options: reader options (see each reader's ``index``).

    Returns:
        the :class:`CorpusIndex`.

    Raises:
        ValueError: unknown corpus name (the message lists the known ones).
        TypeError: an option the reader does not take (the message lists those it takes).
        CorpusLayoutError: the folder does not match the corpus layout.
    """
    key = str(name).strip().lower()
    if key not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(CORPORA))}")
    reader = CORPORA[key]
    accepted = [p for p in inspect.signature(reader.index).parameters if p != "root"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"corpus {key!r} does not take option(s) {unknown}; it takes {accepted}")
    return reader.index(root, **options)
