"""Generic folder corpus: any tree of audio files, labels from first-level folder names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from wavediff.data.corpora.base import AUDIO_EXTENSIONS, AudioItem, CorpusIndex, CorpusReader
from wavediff.data.corpora.splits import hash_split, read_split

__all__ = ["FOLDER_LAYOUT", "FolderReader"]

#: Expected on-disk layout (also shown in data/folder/README.md).
FOLDER_LAYOUT = """\
<root>/
  <label>/                     first-level folder name = label (labels="subfolder")
    clip_0001.wav              audio files at any depth: .wav .flac .ogg .mp3 .aif .aiff
    more/clip_0002.flac
    ...
  <label>/
    ...
  split.json                   optional: {"train": [paths], "valid": [paths], "test": [paths]},
                               paths relative to <root>, e.g. "<label>/clip_0001.wav"
(without labels, audio files may lie anywhere under <root>, also directly in it)"""

_LABEL_MODES = ("auto", "subfolder", None)


def _scan(base: Path, extensions: tuple[str, ...]) -> list[str]:
    """Relative POSIX paths of the audio files under ``base`` (hidden entries skipped,
    symlinked folders followed once)."""
    found: list[str] = []
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(base)
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(extensions):
                continue
            found.append((rel_dir / name).as_posix())
    return sorted(found)


class FolderReader(CorpusReader):
    """Indexes every audio file under a folder (no decoding; the file list only).

    Labels (``labels=``): ``"subfolder"`` takes the first-level folder name as the label
    (files directly under the root are skipped with a warning); ``None`` gives no labels;
    ``label_order`` fixes the label order instead of sorting;
    ``"auto"`` (default) means ``"subfolder"`` when every file lies in a first-level
    folder and there are at least two of them, else ``None``. Labels are sorted unless
    ``label_order`` is given.

    Split: from a split file (``split_file=``; by default ``<root>/split.json`` when it
    exists, the format :meth:`CorpusIndex.write_split` and the demo corpus write).
    Files the split file does not list are left out of the index, and listed files that
    do not exist are skipped, each with one :class:`CorpusWarning`. Without a split file:
    a hash split on the relative path, with each label's (or the whole corpus's) share
    of valid/test set by the fractions and at least one valid and one test item per
    label of at least 3 files (see :func:`~wavediff.data.corpora.splits.hash_split`).
    """

    name = "folder"
    layout = FOLDER_LAYOUT
    description = "any folder of audio files; optional labels from sub-folder names and an optional split.json"

    def index(
        self,
        root: str | os.PathLike[str],
        *,
        labels: str | None = "auto",
        label_order: Sequence[str] | None = None,
        split_file: str | os.PathLike[str] | None = "auto",
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        extensions: Sequence[str] = AUDIO_EXTENSIONS,
    ) -> CorpusIndex:
        """Index a folder of audio files.

        Args:
            root: the folder to search (recursively).
            labels: ``"auto"``, ``"subfolder"`` or ``None`` (see the class docs).
            label_order: the label names in ``label_index`` order, instead of sorted
                (e.g. to match a model trained with another order); implies
                ``labels="subfolder"``. Folders not named in it are skipped with a warning.
            split_file: ``"auto"`` (use ``<root>/split.json`` if present), a path
                (relative to ``root`` or absolute), or ``None`` (always hash).
            valid_fraction: share of valid items for the hash split.
            test_fraction: share of test items for the hash split.
            seed: changes which items the hash split picks.
            extensions: file endings that count as audio (case-insensitive).

        Raises:
            CorpusLayoutError: the folder is missing or empty, holds no audio files, or
                the split file is missing or malformed.
        """
        if labels not in _LABEL_MODES:
            raise ValueError(f"labels must be one of {_LABEL_MODES}, got {labels!r}")
        exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        base = self.check_root(root)
        rels = _scan(base, exts)
        if not rels:
            raise self.error(base, f"no audio files ({' '.join(exts)}) were found under the folder")

        mode = labels if label_order is None else "subfolder"
        if label_order is not None and len(set(label_order)) != len(label_order):
            raise ValueError(f"label_order has duplicates: {list(label_order)}")
        if mode == "auto":
            top = {r.split("/", 1)[0] for r in rels if "/" in r}
            mode = "subfolder" if all("/" in r for r in rels) and len(top) >= 2 else None
        if mode == "subfolder":
            loose = [r for r in rels if "/" not in r]
            rels = [r for r in rels if "/" in r]
            if not rels:
                raise self.error(base, "labels='subfolder' but no audio file lies in a sub-folder")
            self.warn_skipped(loose, "file(s) directly under the root, which have no label folder")
            label_of = {r: r.split("/", 1)[0] for r in rels}
            if label_order is not None:
                label_names = [str(x) for x in label_order]
                outside = [r for r in rels if label_of[r] not in label_names]
                self.warn_skipped(outside, "file(s) in folders not named in label_order")
                rels = [r for r in rels if label_of[r] in label_names]
                if not rels:
                    raise self.error(base, f"no audio file lies in a folder named in label_order {label_names}")
                label_of = {r: label_of[r] for r in rels}
            else:
                label_names = sorted(set(label_of.values()))
        else:
            label_of = {}
            label_names = []
        label_index = {name: i for i, name in enumerate(label_names)}

        split_path: Path | None = None
        if split_file == "auto":
            split_path = base / "split.json" if (base / "split.json").is_file() else None
        elif split_file is not None:
            split_path = Path(split_file) if Path(split_file).is_absolute() else base / split_file
            if not split_path.is_file():
                raise self.error(base, f"the split file {split_path} does not exist")

        if split_path is not None:
            try:
                given = read_split(split_path)
            except ValueError as exc:
                raise self.error(base, str(exc)) from None
            listed: dict[str, str] = {}
            for split, members in given.items():
                for rel in members:
                    if listed.setdefault(rel, split) != split:
                        raise self.error(base, f"{split_path.name} puts {rel!r} in both {listed[rel]!r} and {split!r}")
            on_disk = set(rels)
            self.warn_skipped(sorted(set(listed) - on_disk), f"path(s) listed in {split_path.name} that are not indexed audio files")
            self.warn_skipped(sorted(on_disk - set(listed)), f"audio file(s) not listed in {split_path.name}")
            rels = sorted(on_disk & set(listed))
            if not rels:
                raise self.error(base, f"no audio file listed in {split_path.name} exists")
            splits = {s: [r for r in rels if listed[r] == s] for s in ("train", "valid", "test")}
            source = split_path.name if split_path.parent == base else os.fspath(split_path)
        else:
            groups = {r: label_of[r] for r in rels} if label_of else None
            splits = hash_split({r: r for r in rels}, valid_fraction, test_fraction, seed=seed, groups=groups)
            source = "hash of the relative path" + (", per label" if label_of else "")

        items = [
            AudioItem(
                path=base / r,
                id=r,
                label=label_of.get(r),
                label_index=label_index[label_of[r]] if r in label_of else None,
            )
            for r in rels
        ]
        return CorpusIndex(
            name=self.name,
            root=base,
            items=items,
            labels=label_names,
            splits=splits,
            options={
                "labels": labels,
                "label_mode": mode,
                "label_order": list(label_order) if label_order is not None else None,
                "split_file": os.fspath(split_file) if split_file is not None else None,
                "valid_fraction": valid_fraction,
                "test_fraction": test_fraction,
                "seed": seed,
                "extensions": list(exts),
                "split_source": source,
            },
        )
