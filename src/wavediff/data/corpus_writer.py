"""Writing a synthesised corpus to disk: what the demo, SoundFont and espeak-ng builders share.

A builder plans its clips (:class:`PlannedClip`: label, id, metadata), renders each one to
audio, and hands both to :func:`write_corpus`, which writes the generic folder layout that the
``folder`` corpus reader takes::

    out_dir/<label>/<id>.wav     16-bit PCM, mono
    out_dir/metadata.csv         path,label,label_index,<the builder's columns>
    out_dir/split.json           {"train": [...], "valid": [...], "test": [...]}
    out_dir/corpus.json          the builder's manifest: what produced the folder

Safety: a folder that holds another corpus (a different ``corpus.json``, or wav files in
first-level subfolders that are not part of this corpus) is refused with
:class:`CorpusExistsError` before anything is rendered, unless ``overwrite``. Every file is
written atomically (:mod:`wavediff.files`), ``corpus.json`` first so that an interrupted
write is recognised and completed by the next one; a file whose content would not change is
left untouched, so writing the same corpus again changes nothing on disk.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import soundfile as sf

from wavediff.data.synthesis import label_key
from wavediff.files import write_bytes_atomic

__all__ = ["CorpusExistsError", "PlannedClip", "stratified_split", "write_corpus"]


class CorpusExistsError(FileExistsError):
    """The target folder already holds a different corpus (another config, another builder,
    or wav files that are not part of this corpus)."""


@dataclass
class PlannedClip:
    """One clip of a corpus: where it goes and what the metadata says about it.

    Attributes:
        label: class label, also the clip's folder.
        id: file stem, unique within the corpus.
        meta: values of the builder's metadata columns (missing ones are written empty);
            the render callback may add to it.
    """

    label: str
    id: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def relpath(self) -> str:
        """Path of the clip's wav file relative to the corpus folder (POSIX separators)."""
        return f"{self.label}/{self.id}.wav"


class _SplitItem(Protocol):
    label: str
    id: str

    @property
    def relpath(self) -> str: ...


def stratified_split(
    clips: Sequence[_SplitItem], seed: int, valid_fraction: float = 0.1, test_fraction: float = 0.1
) -> dict[str, list[str]]:
    """Seeded split stratified by label.

    Each label with at least 3 clips gives ``max(1, round(fraction * n))`` clips to valid
    and to test, the rest to train (labels with fewer clips go to train only). A label's
    share depends only on the seed, the label and its clips' ids.

    Args:
        clips: anything with ``label``, ``id`` and ``relpath`` (a :class:`PlannedClip`, a
            :class:`~wavediff.data.demo.DemoClip`).
        seed: non-negative integer.

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}`` of sorted relative paths;
        disjoint and covering all clips.
    """
    split: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    by_label: dict[str, list[_SplitItem]] = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    for label, members in by_label.items():
        members = sorted(members, key=lambda c: c.id)
        n = len(members)
        order = np.random.default_rng([seed, label_key(label), 2]).permutation(n)
        n_valid = max(1, int(round(valid_fraction * n))) if n >= 3 else 0
        n_test = max(1, int(round(test_fraction * n))) if n >= 3 else 0
        for rank, j in enumerate(order):
            part = "valid" if rank < n_valid else "test" if rank < n_valid + n_test else "train"
            split[part].append(members[j].relpath)
    return {k: sorted(v) for k, v in split.items()}


def write_corpus(
    out_dir: str | os.PathLike[str],
    manifest: Mapping[str, Any],
    plan: Sequence[PlannedClip],
    render: Callable[[PlannedClip], np.ndarray | None],
    sample_rate: int,
    columns: Sequence[str],
    *,
    seed: int,
    overwrite: bool,
    before_render: Callable[[], None] | None = None,
    split_clips: Callable[[list[PlannedClip]], dict[str, list[str]]] | None = None,
) -> list[PlannedClip]:
    """Render the planned clips and write them in the generic folder layout (module docs).

    Args:
        out_dir: target folder, created if missing.
        manifest: JSON-friendly description of what produced the corpus, written to
            ``corpus.json``; an existing folder with another manifest is another corpus.
        plan: the clips, in metadata order; ids must be unique.
        render: gives a clip's float audio ``(samples,)`` in [-1, 1] at ``sample_rate``, or
            ``None`` to skip the clip (a silent render).
        sample_rate: Hz.
        columns: metadata columns after ``path, label, label_index``, read from each clip's
            ``meta``; ``duration_s`` (seconds, 6 decimals) is filled in here.
        seed: seeds the default split (:func:`stratified_split`).
        overwrite: replace a folder that holds a different corpus; wav files of the old
            content are deleted, other files are kept.
        before_render: runs after the folder check and before the first file is written
            (e.g. a probe of an external tool).
        split_clips: maps the written clips to ``{"train", "valid", "test"}`` lists of
            relative paths; default :func:`stratified_split` with ``seed``.

    Returns:
        the clips that were skipped because ``render`` gave ``None``.

    Raises:
        CorpusExistsError: ``out_dir`` holds a different corpus and ``overwrite`` is False.
        NotADirectoryError: ``out_dir`` is a file.
        RuntimeError: every clip was skipped.

    ``label_index`` numbers the labels in the order they first appear among the written
    clips.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory")
    planned = {c.relpath for c in plan}
    if len(planned) != len(plan):
        raise ValueError("clip ids are not unique")
    existing: set[str] = set()
    if out.is_dir():
        existing = _existing_wavs(out)
        _check_target_folder(out, manifest, existing - planned, overwrite)
    if before_render is not None:
        before_render()

    out.mkdir(parents=True, exist_ok=True)
    # The marker goes first so that an interrupted write is recognised and completed.
    _write_if_changed(out / "corpus.json", _json_bytes(manifest))
    written: list[PlannedClip] = []
    skipped: list[PlannedClip] = []
    for clip in plan:
        audio = render(clip)
        if audio is None:
            skipped.append(clip)
            continue
        clip.meta["duration_s"] = f"{audio.shape[0] / sample_rate:.6f}"
        _write_if_changed(out / clip.relpath, _wav_bytes(audio, sample_rate))
        written.append(clip)
    if not written:
        raise RuntimeError(f"every clip rendered silent; nothing written to {out}")

    keep = {c.relpath for c in written}
    for rel in sorted(existing - keep):
        (out / rel).unlink()
    for sub in out.iterdir():
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()

    _write_if_changed(out / "metadata.csv", _metadata_csv(written, columns))
    split = split_clips(written) if split_clips is not None else stratified_split(written, seed)
    _write_if_changed(out / "split.json", _json_bytes(split))
    return skipped


def _check_target_folder(out: Path, manifest: Mapping[str, Any], stray: set[str], overwrite: bool) -> None:
    """Refuse a folder whose ``corpus.json`` is another manifest or that holds ``stray`` wav
    files (relative paths not in the plan), unless ``overwrite``."""
    problems: list[str] = []
    marker = out / "corpus.json"
    if marker.is_file():
        try:
            old = json.loads(marker.read_text("utf-8"))
        except (OSError, ValueError):
            old = None
        if old != manifest:
            problems.append(f"{marker} describes a different corpus")
    if stray:
        problems.append(f"{len(stray)} wav file(s) not in this corpus, e.g. {sorted(stray)[0]}")
    if problems and not overwrite:
        raise CorpusExistsError(
            f"refusing to mix corpora in {out}: {'; '.join(problems)}. "
            "Use another folder or pass overwrite=True."
        )


def _existing_wavs(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.glob("*/*.wav")}


def _metadata_csv(clips: Sequence[PlannedClip], columns: Sequence[str]) -> bytes:
    labels: dict[str, int] = {}
    for clip in clips:
        labels.setdefault(clip.label, len(labels))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "label_index", *columns])
    for clip in clips:
        writer.writerow([clip.relpath, clip.label, labels[clip.label], *(clip.meta.get(c, "") for c in columns)])
    return buf.getvalue().encode("utf-8")


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode("utf-8")


def _wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` atomically unless ``path`` already holds exactly it (then its mtime and
    mode stay as they are)."""
    if path.is_file() and path.read_bytes() == data:
        return
    write_bytes_atomic(path, data)
