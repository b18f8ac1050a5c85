"""One run per run folder: a lock that a crashed run does not leave stuck, and a refusal to
start a fresh run in a folder that already holds one.

The lock is an advisory ``flock`` on ``OUT/.wavediff.lock``: the kernel drops it when the
process ends, however it ends (even ``kill -9``), so a crash never blocks the folder. Only
the launching process (global rank 0) takes it; the other ranks of a multi-GPU run share the
folder with it.
"""

from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .config import RecipeError

LOCK_NAME = ".wavediff.lock"


class RunFolderBusy(RecipeError):
    """Another process is writing to the run folder."""


def is_secondary_rank() -> bool:
    """Whether this process is a non-zero rank of a distributed launch (torchrun, SLURM or
    Lightning's own launcher, which re-runs the command with ``LOCAL_RANK`` set)."""
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "NODE_RANK"):
        value = os.environ.get(name, "0")
        if value.isdigit() and int(value) != 0:
            return True
    return False


def previous_run(out: Path) -> Path | None:
    """The file that shows ``out`` already holds a run (a checkpoint or its recipe), or None."""
    checkpoints = out / "checkpoints"
    if checkpoints.is_dir():
        found = sorted(checkpoints.glob("*.ckpt"))
        if found:
            return checkpoints / "last.ckpt" if (checkpoints / "last.ckpt").exists() else found[-1]
    recipe = out / "recipe.yaml"
    return recipe if recipe.is_file() else None


def check_fresh_or_resumed(out: Path, resume: Path | None) -> None:
    """Refuse to start a fresh run in a folder that holds one: its checkpoints would be mixed
    with the new run's, and ``wavediff evaluate OUT`` would read the old one."""
    if resume is not None or is_secondary_rank():
        return
    used = previous_run(out)
    if used is not None:
        # the latest last.ckpt: the run's own for train, the latest stage's for distill
        lasts = sorted(out.glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        hint = f"continue it with --resume {lasts[-1]}" if lasts else "remove it"
        raise RecipeError(f"--out {out} already holds a run ({used.name}); {hint}, or give a new --out folder")


@contextmanager
def run_folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the duration of the block; raises :class:`RunFolderBusy` when
    another live process holds it."""
    if is_secondary_rank():
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise RunFolderBusy(f"run folder {out} is in use by {owner}; wait for that run to finish or "
                                "give another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
