"""Where ``wavediff vocode`` writes: output paths that never replace an input, never collide
with each other, and never replace an existing file unless asked; and the per-file
failures of a folder run, gathered instead of stopping at the first.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FolderReport", "check_writable", "folder_outputs", "single_output"]


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write (then remove) a probe file in it, so that a folder that is
    not writable is refused before any vocoding, not after all of it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".wavediff-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"--out {folder} is not writable ({err.strerror or err}); choose a writable folder") from None


def single_output(source: Path, out: Path | None, overwrite: bool) -> Path:
    """The output WAV for one input file: ``out`` (a file, or a folder to write
    ``<stem>.wav`` into) or ``<stem>_vocoded.wav`` next to the input."""
    if out is None:
        target = source.with_name(source.stem + "_vocoded.wav")
    elif out.is_dir() or str(out).endswith(("/", os.sep)):
        target = out / (source.stem + ".wav")
    else:
        target = out
    if target.suffix.lower() not in (".wav", ".flac"):
        raise ValueError(f"--out {out}: give a .wav or .flac file (or an existing folder), not "
                         f"'{target.suffix or 'no extension'}'")
    if target.exists() and _same(target, source):
        raise ValueError(f"--out {target} is the input file; vocoding never writes over its input: give another --out")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it, or give another --out")
    return target


def folder_outputs(inputs: list[Path], root: Path, out_dir: Path, overwrite: bool) -> list[Path]:
    """The output of each input of a folder run, in order: ``out_dir/<relative path>.wav``;
    inputs that would share an output (``x.wav``, ``x.flac``, ``x.npy``) keep their own
    suffix in the name (``x.flac.wav``). ``out_dir`` inside the input folder is refused
    (outputs would replace inputs or be read as inputs next time), so are existing outputs
    unless ``overwrite``."""
    if _inside(out_dir, root):
        raise ValueError(f"--out {out_dir} is inside the input folder {root}: the outputs would replace or mix "
                         "with the inputs; give a folder outside it")
    plain = [out_dir / p.relative_to(root).with_suffix(".wav") for p in inputs]
    counts: dict[Path, int] = {}
    for target in plain:
        counts[target] = counts.get(target, 0) + 1
    targets = [out_dir / p.relative_to(root).with_name(p.name + ".wav") if counts[t] > 1 else t
               for p, t in zip(inputs, plain)]
    if len(set(targets)) != len(targets):  # "x.flac.wav" given as an input next to "x.flac"
        raise ValueError(f"{root}: input names collide even with their suffixes kept; rename the inputs")
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} output file(s) exist already, e.g. {existing[0]}; pass --overwrite "
                              "to replace them, or give another --out")
    return targets


@dataclass
class FolderReport:
    """Outcome of a folder run: files written and ``(input, reason)`` of each failure."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per failed input: its path and what was wrong with it."""
        return [f"{path}: {reason}" for path, reason in self.failed]
