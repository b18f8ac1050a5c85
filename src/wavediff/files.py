"""Atomic file writes: every file wavediff writes (checkpoints, audio, corpora, reports,
figures, caches) goes through this module (light: torch is imported only to save with it).

A write goes to a temporary file ``.<name>.<random>.tmp`` in the target's folder, is
flushed to the disk (fsync), and is then renamed onto the target in one step, and the
folder is fsynced so that the rename survives a power loss too. Readers never see a
half-written file; a crash, a full disk or an exception while writing leaves the previous
file intact and removes the temporary. A process killed between creating and renaming
leaves a ``.tmp`` file behind, which :func:`remove_stale_temporaries` clears.

The file gets the mode a plain ``open(path, "w")`` would give it: an existing target keeps
its permission bits, a new one gets ``0o666`` less the umask (the temporary is created with
that mode, so the kernel applies the umask), never ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

__all__ = ["atomic_torch_save", "atomic_write", "remove_stale_temporaries", "write_bytes_atomic",
           "write_text_atomic"]

_TEMP_SUFFIX = ".tmp"


@contextmanager
def atomic_write(path: str | os.PathLike[str], fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for binary writing; when the ``with`` block ends
    normally it is flushed, fsynced and renamed onto ``path``. Missing parent folders are
    created.

    Args:
        path: the file to (re)place.
        fsync: flush the file and the folder to the disk before and after the rename; pass
            ``False`` only for caches that are rebuilt when lost.

    Yields:
        the open binary handle of the temporary file.

    On an exception inside the block (or while renaming) the temporary is removed, ``path``
    is untouched and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        if path.exists():  # open() on an existing file keeps its mode
            os.fchmod(fd, path.stat().st_mode & 0o7777)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{path}: expected bytes to write, got {type(data).__name__}")
    with atomic_write(path) as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 with ``\\n`` line ends, atomically (see
    :func:`atomic_write`); returns the path."""
    if not isinstance(text, str):
        raise TypeError(f"{path}: expected text to write, got {type(text).__name__}")
    return write_bytes_atomic(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (see :func:`atomic_write`): a crash or a
    full disk while saving a checkpoint leaves the previous one intact; returns the path."""
    import torch

    with atomic_write(path) as handle:
        torch.save(obj, handle)
    return Path(path)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files that interrupted atomic writes left in ``folder``
    (not its subfolders); returns what was removed."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for tmp in folder.glob(f".*{_TEMP_SUFFIX}"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def _create_temporary(path: Path) -> tuple[int, Path]:
    """Create and open ``.<name>.<random>.tmp`` next to ``path`` with ``O_EXCL`` and mode
    ``0o666``, which the kernel narrows by the umask exactly as for ``open()``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_TEMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {path}")


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename) to the disk; a no-op where folders cannot be
    opened or synced (Windows, some network file systems)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
