"""``wavediff export``: a checkpoint as a folder that is safe to share and to load.

``OUT/model.safetensors`` holds the EMA weights of the network (tensors only, no code can be
stored in the format) and ``OUT/config.json`` everything else a command needs: the
constructor arguments of the model (recipe, network config, sample rate, MelConfig, labels,
data split) and the ``wavediff`` record (schedule, parameterisation, tuned grids, distilled
student settings). Optimiser and trainer states are left out: an export samples, vocodes and
is evaluated or distilled from like its checkpoint, but cannot resume training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoint_io import EXPORT_CONFIG, EXPORT_FORMAT, EXPORT_WEIGHTS, is_export, load_checkpoint
from .files import write_bytes_atomic, write_text_atomic

__all__ = ["export_model", "save_tuned_grid_export"]

# the constructor arguments of ``DiffusionModule`` (a student's teacher path is left out:
# it names a file on the machine that trained it)
_MODEL_ARGS = ("recipe", "model_config", "sample_rate", "mel_config", "labels", "split")


def export_model(checkpoint: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``checkpoint``'s EMA weights and settings to the folder ``out`` (created); returns
    ``out``. An existing ``out`` that holds files is refused unless ``overwrite``."""
    from .train.module import module_from_checkpoint

    checkpoint, out = Path(checkpoint), Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a folder for the exported model")
    if out.exists() and checkpoint.exists() and out.resolve() == checkpoint.resolve():
        raise ValueError(f"--out {out} is the model being exported; give another folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {out} is not empty; give a new folder or pass --overwrite")
    ckpt = load_checkpoint(checkpoint)
    module = module_from_checkpoint(ckpt, checkpoint)
    hp = ckpt["hyper_parameters"]
    config = {"format": EXPORT_FORMAT, "format_version": 1,
              "hyper_parameters": {k: hp.get(k) for k in _MODEL_ARGS},
              "wavediff": ckpt.get("wavediff", {})}
    try:
        text = json.dumps(config, indent=1)
    except TypeError as err:
        raise ValueError(f"{checkpoint}: its settings cannot be written as JSON ({err})") from None
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in module.ema.model.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    _save_safetensors(weights, out / EXPORT_WEIGHTS)
    write_text_atomic(out / EXPORT_CONFIG, text)
    return out


def _save_safetensors(weights: dict[str, Any], path: Path) -> None:
    """``safetensors`` file of ``weights``, written atomically."""
    from safetensors.torch import save

    write_bytes_atomic(path, save(weights, metadata={"format": "pt"}))


def save_tuned_grid_export(folder: Path, target: Path, key: str, grid: list[float]) -> Path:
    """``wavediff tune-schedule`` on an exported model: the grid goes into ``config.json`` of
    ``target`` (the same folder, or a new one that receives a copy of the weights)."""
    if not is_export(folder):
        raise ValueError(f"{folder} is not a wavediff exported model")
    config = json.loads((folder / EXPORT_CONFIG).read_text(encoding="utf-8"))
    config.setdefault("wavediff", {}).setdefault("tuned_grids", {})[key] = grid
    if target.resolve() != folder.resolve():
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise FileExistsError(f"--out {target} exists; an exported model is tuned into a new folder")
        target.mkdir(parents=True, exist_ok=True)
        from safetensors.torch import load_file

        _save_safetensors(load_file(str(folder / EXPORT_WEIGHTS)), target / EXPORT_WEIGHTS)
    write_text_atomic(target / EXPORT_CONFIG, json.dumps(config, indent=1))
    return target
