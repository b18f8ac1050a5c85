"""Common record, index, errors and reader base shared by every corpus reader.

A corpus reader turns a folder laid out like one of the public corpora into a
:class:`CorpusIndex`: a sorted list of :class:`AudioItem` records (file path, stable id,
label, speaker, transcript, extra facts) plus a train/valid/test split. Readers only look
at file names and metadata files; audio is decoded elsewhere.

Conventions kept by every reader:

* ``AudioItem.id`` is the path of the audio file relative to the corpus root, with
  ``/`` separators (``"wavs/LJ001-0001.wav"``); items are sorted by id.
* ``CorpusIndex.labels`` defines ``label_index``: ``labels[item.label_index] == item.label``
  for every labelled item.
* ``CorpusIndex.splits`` always has the keys ``"train"``, ``"valid"`` and ``"test"``; the
  lists hold sorted item ids and are disjoint.
* Splits that are not given by the corpus itself are drawn by hashing; the split names,
  split files and hash splits live in :mod:`wavediff.data.corpora.splits` (re-exported here).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

from ...audio.io import READ_FORMATS
from ...files import write_text_atomic
from .splits import SPLITS, canonical_split, hash_split, read_split, unit_hash

__all__ = [
    "AUDIO_EXTENSIONS",
    "SPLITS",
    "AudioItem",
    "CorpusIndex",
    "CorpusLayoutError",
    "CorpusReader",
    "CorpusWarning",
    "canonical_split",
    "hash_split",
    "read_split",
    "unit_hash",
]

#: File extensions (lower case) that count as audio when a reader searches folders: exactly
#: those ``load_audio`` decodes, so no file is listed as audio and then skipped as unsupported.
AUDIO_EXTENSIONS: tuple[str, ...] = tuple(READ_FORMATS)

_INDEX_FORMAT = "wavediff-corpus-index"
_INDEX_VERSION = 1
_SHOWN = 5  # how many names a warning or error message lists


class CorpusWarning(UserWarning):
    """Something in a corpus folder was skipped or looks incomplete (the index is still usable)."""


class CorpusLayoutError(ValueError):
    """A folder does not match the layout a corpus reader expects.

    The message names the folder and what is missing or wrong, and ends with the expected
    layout (the same tree as ``data/<corpus>/README.md``).

    Attributes:
        corpus: reader name, e.g. ``"ljspeech"``.
        root: the folder that was given.
        problem: what was missing or wrong, in words.
        layout: the expected layout tree.
    """

    def __init__(self, corpus: str, root: str | os.PathLike[str], problem: str, layout: str) -> None:
        self.corpus = corpus
        self.root = Path(root)
        self.problem = problem
        self.layout = layout
        super().__init__(
            f"{corpus} corpus at '{self.root}': {problem}\n"
            f"Expected layout:\n{layout}\n"
            f"(see data/{corpus}/README.md for where to obtain the corpus)"
        )


def _json_value(value: Any) -> Any:
    """JSON-friendly copy of an option or extra value (paths -> str, tuples/sets -> lists)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_json_value(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


@dataclass(frozen=True)
class AudioItem:
    """One audio file of a corpus.

    Attributes:
        path: absolute path of the audio file.
        id: the file's path relative to the corpus root, ``/``-separated; unique and stable.
        label: class label, or ``None`` when the corpus is indexed without labels.
        label_index: position of ``label`` in :attr:`CorpusIndex.labels`, or ``None``.
        speaker: speaker id where the corpus has speakers, else ``None``.
        text: transcript where the corpus has one, else ``None``.
        extra: further JSON-friendly facts (pitch, instrument family, year, ...). Not part
            of the hash, so items can be put in sets.
    """

    path: Path
    id: str
    label: str | None = None
    label_index: int | None = None
    speaker: str | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self, root: Path | None = None) -> dict[str, Any]:
        """JSON-friendly dict; ``path`` is relative to ``root`` when the file lies under it."""
        path = Path(self.path)
        if root is not None:
            try:
                path_str = path.relative_to(root).as_posix()
            except ValueError:
                path_str = os.fspath(path)
        else:
            path_str = os.fspath(path)
        return {
            "id": self.id,
            "path": path_str,
            "label": self.label,
            "label_index": self.label_index,
            "speaker": self.speaker,
            "text": self.text,
            "extra": _json_value(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], root: Path | None = None) -> "AudioItem":
        """Inverse of :meth:`to_dict`; a relative ``path`` is resolved against ``root``."""
        path = Path(d["path"])
        if not path.is_absolute():
            if root is None:
                raise ValueError(f"item {d.get('id')!r} has a relative path and no root was given")
            path = root / path
        return cls(
            path=path,
            id=str(d["id"]),
            label=d.get("label"),
            label_index=d.get("label_index"),
            speaker=d.get("speaker"),
            text=d.get("text"),
            extra=dict(d.get("extra") or {}),
        )


@dataclass
class CorpusIndex:
    """The items of a corpus, its label set and its train/valid/test split.

    Attributes:
        name: reader name (``"ljspeech"``, ``"folder"``, ...).
        root: absolute corpus folder.
        items: records sorted by id.
        labels: label names; ``labels[i]`` is the label with ``label_index == i``. Empty
            when the corpus is indexed without labels.
        splits: ``{"train": [ids], "valid": [ids], "test": [ids]}``, sorted and disjoint.
        options: the reader options the index was built with, plus ``split_source``
            (where the split came from), for the record.
    """

    name: str
    root: Path
    items: list[AudioItem]
    labels: list[str] = field(default_factory=list)
    splits: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.items = list(self.items)
        self.labels = [str(x) for x in self.labels]
        splits: dict[str, list[str]] = {s: [] for s in SPLITS}
        for key, ids in dict(self.splits).items():
            splits[canonical_split(key)].extend(str(i) for i in ids)
        self.splits = {s: sorted(ids) for s, ids in splits.items()}
        self._validate()

    def _validate(self) -> None:
        ids = [item.id for item in self.items]
        known = set(ids)
        if len(known) != len(ids):
            dups = sorted(i for i, n in Counter(ids).items() if n > 1)
            raise ValueError(f"{self.name}: duplicate item ids {dups[:_SHOWN]}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"{self.name}: duplicate label names in {self.labels}")
        for item in self.items:
            if (item.label is None) != (item.label_index is None):
                raise ValueError(f"{self.name}: item {item.id!r} must have both label and label_index or neither")
            if item.label is not None:
                i = item.label_index
                if not (isinstance(i, int) and 0 <= i < len(self.labels) and self.labels[i] == item.label):
                    raise ValueError(
                        f"{self.name}: item {item.id!r} has label {item.label!r} with label_index {i}, "
                        f"which does not match labels[{i}]"
                    )
        owner: dict[str, str] = {}
        for split, members in self.splits.items():
            for i in members:
                if i not in known:
                    raise ValueError(f"{self.name}: split {split!r} names {i!r}, which is not an item")
                if i in owner:
                    raise ValueError(f"{self.name}: item {i!r} is in both {owner[i]!r} and {split!r}")
                owner[i] = split

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[AudioItem]:
        return iter(self.items)

    def by_id(self) -> dict[str, AudioItem]:
        """``{id: item}`` for all items."""
        return {item.id: item for item in self.items}

    def split(self, name: str) -> list[AudioItem]:
        """Items of split ``name`` (``"train"``, ``"valid"``/``"validation"``, ``"test"``), sorted by id."""
        lookup = self.by_id()
        return [lookup[i] for i in self.splits[canonical_split(name)]]

    @property
    def speakers(self) -> list[str]:
        """Sorted distinct speaker ids (empty when the corpus has none)."""
        return sorted({item.speaker for item in self.items if item.speaker is not None})

    def with_splits(self, splits: Mapping[str, Sequence[str]]) -> "CorpusIndex":
        """A copy of this index with another split (e.g. one read back with :func:`read_split`).

        Raises:
            ValueError: a split names an id that is not an item, or an id is in two splits.
        """
        return CorpusIndex(
            name=self.name,
            root=self.root,
            items=list(self.items),
            labels=list(self.labels),
            splits={k: list(v) for k, v in splits.items()},
            options={**self.options, "split_source": "given"},
        )

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; item paths are stored relative to ``root``."""
        return {
            "format": _INDEX_FORMAT,
            "version": _INDEX_VERSION,
            "name": self.name,
            "root": os.fspath(self.root),
            "labels": list(self.labels),
            "options": _json_value(self.options),
            "splits": {s: list(self.splits[s]) for s in SPLITS},
            "items": [item.to_dict(self.root) for item in self.items],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], root: str | os.PathLike[str] | None = None) -> "CorpusIndex":
        """Inverse of :meth:`to_dict`. ``root`` relocates the corpus (item paths follow it)."""
        if d.get("format") != _INDEX_FORMAT:
            raise ValueError(f"not a corpus index (format {d.get('format')!r}, expected {_INDEX_FORMAT!r})")
        if d.get("version") != _INDEX_VERSION:
            raise ValueError(f"unsupported corpus index version {d.get('version')!r}")
        base = Path(root) if root is not None else Path(d["root"])
        return cls(
            name=d["name"],
            root=base,
            items=[AudioItem.from_dict(x, base) for x in d["items"]],
            labels=list(d.get("labels") or []),
            splits={k: list(v) for k, v in (d.get("splits") or {}).items()},
            options=dict(d.get("options") or {}),
        )

    def to_json(self, indent: int | None = 1) -> str:
        """The index as a JSON string (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, root: str | os.PathLike[str] | None = None) -> "CorpusIndex":
        """Parse :meth:`to_json` output; ``root`` relocates the corpus."""
        return cls.from_dict(json.loads(text), root=root)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` atomically; returns the path."""
        out = Path(path)
        write_text_atomic(out, self.to_json())
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> "CorpusIndex":
        """Read an index written by :meth:`save`."""
        return cls.from_json(Path(path).read_text("utf-8"), root=root)

    def write_split(self, path: str | os.PathLike[str]) -> Path:
        """Write the split as ``{"train": [ids], "valid": [ids], "test": [ids]}`` atomically.

        The ids are paths relative to the corpus root, so the file has the format of a
        ``split.json`` that the ``folder`` reader accepts (``split_file=``) and that
        :func:`read_split` returns; keep it next to a checkpoint to reproduce the split.

        Returns:
            the written path.
        """
        out = Path(path)
        write_text_atomic(out, json.dumps({s: self.splits[s] for s in SPLITS}, indent=1) + "\n")
        return out

    def summary(self) -> str:
        """A few human-readable lines: root, item count, labels, speakers, split sizes."""
        lines = [f"{self.name} corpus at {self.root}", f"  items:    {len(self.items)}"]
        if self.labels:
            shown = ", ".join(self.labels[:8]) + (", ..." if len(self.labels) > 8 else "")
            lines.append(f"  labels:   {len(self.labels)} ({shown})")
        else:
            lines.append("  labels:   none")
        speakers = self.speakers
        if speakers:
            lines.append(f"  speakers: {len(speakers)}")
        with_text = sum(item.text is not None for item in self.items)
        if with_text:
            lines.append(f"  text:     {with_text} items have a transcript")
        sizes = " | ".join(f"{s} {len(self.splits[s])}" for s in SPLITS)
        source = self.options.get("split_source")
        lines.append(f"  splits:   {sizes}" + (f"  (from {source})" if source else ""))
        return "\n".join(lines)


# ---------------------------------------------------------------------- reader base


class CorpusReader:
    """Base of the corpus readers: a name, the expected layout and :meth:`index`.

    Subclasses set :attr:`name`, :attr:`layout` (the tree printed in layout errors and
    shown in ``data/<name>/README.md``) and :attr:`description`, and implement
    :meth:`index` with keyword-only options.
    """

    name: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def index(self, root: str | os.PathLike[str], **options: Any) -> CorpusIndex:
        """Index the corpus folder ``root``."""
        raise NotImplementedError

    def __call__(self, root: str | os.PathLike[str], **options: Any) -> CorpusIndex:
        return self.index(root, **options)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # helpers for subclasses -------------------------------------------------

    def error(self, root: str | os.PathLike[str], problem: str) -> CorpusLayoutError:
        """A :class:`CorpusLayoutError` for this reader (to be raised by the caller)."""
        return CorpusLayoutError(self.name, root, problem, self.layout)

    def check_root(self, root: str | os.PathLike[str]) -> Path:
        """Absolute ``root``; raises a layout error when it is missing, a file or empty."""
        path = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
        if not path.exists():
            raise self.error(path, "the folder does not exist")
        if not path.is_dir():
            raise self.error(path, "this is a file, not a folder")
        with os.scandir(path) as it:
            if not any(not e.name.startswith(".") for e in it):
                raise self.error(path, "the folder is empty")
        return path

    def warn(self, message: str, stacklevel: int = 4) -> None:
        """Emit one :class:`CorpusWarning` prefixed with the reader name."""
        warnings.warn(f"{self.name}: {message}", CorpusWarning, stacklevel=stacklevel)

    def warn_skipped(self, names: Sequence[str], what: str) -> None:
        """One warning for all skipped entries: their count and the first few names."""
        if not names:
            return
        shown = ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
        self.warn(f"skipped {len(names)} {what}: {shown}", stacklevel=5)


def list_files(folder: Path) -> set[str]:
    """Names of the non-hidden plain files directly in ``folder`` (empty if it is missing)."""
    if not folder.is_dir():
        return set()
    with os.scandir(folder) as it:
        return {e.name for e in it if not e.name.startswith(".") and e.is_file()}


def list_dirs(folder: Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``folder``."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
