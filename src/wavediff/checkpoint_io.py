"""Reading and writing wavediff checkpoints without ever executing code from them.

A ``.ckpt`` is a pickle inside a zip file; unpickling an untrusted one can run arbitrary
code. Every loader in wavediff goes through :func:`load_checkpoint`, which only unpickles
with ``torch.load(weights_only=True)`` (plain containers, numbers, strings and tensors; any
other global is refused before it is called). wavediff writes only such plain values
(:func:`plain`), so its own checkpoints load that way.

An *exported model* (``wavediff export``) is a folder with ``model.safetensors`` (the EMA
weights) and ``config.json`` (everything else): no pickle at all. :func:`load_checkpoint`
reads it into the same dictionary layout as a ``.ckpt``, so every command takes either.
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import torch

__all__ = ["CheckpointError", "EXPORT_CONFIG", "EXPORT_WEIGHTS", "is_export", "load_checkpoint", "plain"]

EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
EXPORT_FORMAT = "wavediff-export"
# the values ``weights_only`` unpickling accepts, and so the only ones wavediff writes
_PLAIN_SCALARS = (str, int, float, bool, type(None), torch.Tensor)


class CheckpointError(ValueError):
    """A checkpoint that cannot (or must not) be loaded: the message names the file and the fix."""


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``wavediff export``."""
    path = Path(path)
    return path.is_dir() and (path / EXPORT_CONFIG).is_file() and (path / EXPORT_WEIGHTS).is_file()


def plain(value: Any) -> Any:
    """``value`` with every mapping turned into a ``dict`` (``OrderedDict`` kept: the
    state dicts) and every list/tuple rebuilt of plain items; raises ``TypeError`` naming the
    first value that ``torch.load(weights_only=True)`` would refuse (a class instance,
    function, ...). Used on everything wavediff puts in a checkpoint."""
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, Mapping):
        items = {k: plain(v) for k, v in value.items()}
        return OrderedDict(items) if isinstance(value, OrderedDict) else items
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, (torch.dtype, torch.device, torch.Size)):  # allowed by weights_only unpickling
        return value
    raise TypeError(f"{type(value).__module__}.{type(value).__qualname__} is not a plain value "
                    "(dict/list/str/number/tensor) and would make the checkpoint unloadable with weights_only")


def _check_file(path: Path, what: str) -> None:
    if path.is_dir() and (path / "checkpoints" / "last.ckpt").is_file():
        raise CheckpointError(f"{what} {path} is a run folder, not a checkpoint: pass {path / 'checkpoints' / 'last.ckpt'}")
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a folder, not a checkpoint: pass a .ckpt file, a run folder's "
                              f"checkpoints/last.ckpt, or a folder written by `wavediff export`")
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path} is empty (0 bytes; an interrupted copy?): use another checkpoint")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{what} {path} is not a PyTorch checkpoint (not a zip archive; corrupt or another "
                              "format): use a .ckpt written by wavediff")


def load_checkpoint(path: str | Path, what: str = "checkpoint") -> dict[str, Any]:
    """The dictionary stored in a wavediff checkpoint file or exported-model folder, loaded on
    the CPU without executing anything from it.

    Raises ``FileNotFoundError`` for a missing path and :class:`CheckpointError` (a
    ``ValueError``) for a folder, an empty, truncated or foreign file, and for a pickle that
    refers to anything but plain values (such a file may carry code; it is not run).
    ``what`` names the file in messages (``"--resume checkpoint"``, ``"teacher"``, ...)."""
    path = Path(path)
    if is_export(path):
        return _load_export(path)
    _check_file(path, what)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{what} {path} was refused: it holds more than weights and settings "
                              f"({_refused_global(err)}); wavediff never runs code from a checkpoint. Load only "
                              "checkpoints written by wavediff, or ask for an exported model (`wavediff export`)"
                              ) from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, KeyError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{what} {path} cannot be read ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:200] if str(err) else 'truncated'}); it is corrupt or "
                              "truncated: use another checkpoint") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{what} {path} is not a wavediff checkpoint (it holds a {type(ckpt).__name__}, "
                              "not a dictionary)")
    return ckpt


def _refused_global(err: Exception) -> str:
    """What the weights-only unpickler refused, e.g. ``GLOBAL builtins.open``, from its message."""
    found = re.search(r"(GLOBAL [\w.]+|Unsupported operand \d+|[\w ]*unsupported[^\n.]*)", str(err))
    return found.group(1).strip() if found else type(err).__name__


def _load_export(folder: Path) -> dict[str, Any]:
    """An exported model in the layout of a ``.ckpt``: ``hyper_parameters``, ``wavediff`` and a
    ``state_dict`` whose raw and EMA weights are both the exported EMA weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        config = json.loads((folder / EXPORT_CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{folder / EXPORT_CONFIG} is not valid JSON ({err}): export the model again") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{folder} is not a wavediff exported model ({EXPORT_CONFIG} has no "
                              f"'format: {EXPORT_FORMAT}'): export it with `wavediff export CKPT --out DIR`")
    try:
        weights = load_file(str(folder / EXPORT_WEIGHTS), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{folder / EXPORT_WEIGHTS} cannot be read ({err}): export the model again") from None
    state = {f"net.{k}": v for k, v in weights.items()}
    state.update({f"ema.model.{k}": v for k, v in weights.items()})
    state["ema.num_updates"] = torch.zeros((), dtype=torch.long)
    return {"hyper_parameters": config.get("hyper_parameters"), "wavediff": config.get("wavediff", {}),
            "state_dict": state, "exported": True}
