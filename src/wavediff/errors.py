"""One-line messages for the failures a user can fix: what went wrong and what to do.

The command line prints :func:`user_message` of an exception and exits with status 2;
exceptions it returns ``None`` for are bugs and keep their traceback.
"""

from __future__ import annotations

import errno
import pickle

__all__ = ["DISK_FULL_HINTS", "user_message"]

# what torch's C++ writer says when a write fails (it does not pass errno on)
DISK_FULL_HINTS = ("basic_ios::clear", "PytorchStreamWriter failed", "file write failed", "No space left")


def _where(err: OSError) -> str:
    return f" ({err.filename})" if getattr(err, "filename", None) else ""


def user_message(err: BaseException) -> str | None:
    """The message to print for ``err``, or None when it is not a user-fixable failure."""
    if isinstance(err, (ValueError, FileNotFoundError, FileExistsError)):
        return str(err)
    if isinstance(err, (pickle.UnpicklingError, EOFError)):
        return f"a file could not be read ({type(err).__name__}: {err}); it is corrupt or truncated"
    if isinstance(err, OSError):
        code = err.errno
        if code in (errno.ENOSPC, errno.EDQUOT):
            return (f"no space left on the device{_where(err)}; free some space or write to another --out "
                    "(files already written are intact)")
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return (f"permission denied{_where(err)}: the folder is not writable; choose a writable --out "
                    "or fix its permissions")
        if code == errno.EISDIR:
            return f"a folder is in the way{_where(err)}: give a file path"
        if code == errno.ENOTDIR:
            return f"a file is in the way{_where(err)}: a path component is not a folder"
        return f"{err.strerror or err}{_where(err)}"
    if isinstance(err, RuntimeError) and any(h in str(err) for h in DISK_FULL_HINTS):
        return ("writing a checkpoint failed: the disk is probably full (or the folder not writable); free "
                "some space and resume from the last checkpoint with --resume (checkpoints already written "
                "are intact)")
    return None
