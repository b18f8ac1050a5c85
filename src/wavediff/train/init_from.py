"""``wavediff train --init-from CKPT``: a new run that starts from another run's weights.

Unlike ``--resume`` (which continues a run exactly: step, optimiser, LR schedule, data
order), this copies only the network weights and their EMA into a freshly built module; the
optimiser, the LR schedule (warm-up included) and the step counter start anew, and the run
trains on the recipe's own corpus. That is fine-tuning: adapting a vocoder to a new speaker,
a model to a new instrument.

The checkpoint's network must match the recipe's: the same architecture fields of
``DenoiserConfig``, the same tensor shapes and, for vocoders, the same ``MelConfig``. Anything that differs is named (which config
fields, which tensors, which shapes) instead of being loaded partially.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..checkpoint_io import load_checkpoint

__all__ = ["InitFromError", "init_from_checkpoint", "read_checkpoint"]

# Prefixes of the state-dict entries that are copied: the trained network and its EMA copy.
_NET, _EMA = "net.", "ema.model."
_EMA_COUNT = "ema.num_updates"
# Most differences listed in one message (a different width changes every tensor).
_SHOWN = 8


class InitFromError(ValueError):
    """The checkpoint given to ``--init-from`` cannot initialise this recipe's network."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dictionary at ``path`` (a ``.ckpt`` file or an exported model folder),
    read without executing anything from it (``checkpoint_io.load_checkpoint``), or a clear error."""
    ckpt = load_checkpoint(path, "--init-from checkpoint")
    if "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        hint = (" It looks like a DiffWave reference checkpoint: convert it first with "
                f"`wavediff import diffwave {path} --out converted.ckpt`."
                if "model" in ckpt and "params" in ckpt else "")
        raise InitFromError(f"{path} is not a wavediff checkpoint (no state_dict / hyper_parameters).{hint}")
    return ckpt


def _config_differences(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    keys = sorted(set(theirs) | set(ours))
    return [f"{k}: checkpoint {theirs.get(k)!r}, recipe {ours.get(k)!r}" for k in keys if theirs.get(k) != ours.get(k)]


def _tensor_differences(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> list[str]:
    out = [f"{k}: missing from the checkpoint (recipe shape {tuple(v.shape)})" for k, v in ours.items() if k not in theirs]
    out += [f"{k}: in the checkpoint {tuple(v.shape)}, not in the recipe's network" for k, v in theirs.items()
            if k not in ours]
    out += [f"{k}: checkpoint shape {tuple(theirs[k].shape)}, recipe shape {tuple(v.shape)}"
            for k, v in ours.items() if k in theirs and tuple(theirs[k].shape) != tuple(v.shape)]
    return out


def _listing(lines: list[str]) -> str:
    shown = "\n  ".join(lines[:_SHOWN])
    more = f"\n  ... and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return f"\n  {shown}{more}"


def init_from_checkpoint(module: Any, path: str | Path) -> dict[str, Any]:
    """Copy the network and EMA weights of the checkpoint at ``path`` into ``module`` (a freshly
    built ``DiffusionModule``); returns the checkpoint's ``hyper_parameters``.

    The EMA continues from the checkpoint's average and update count (no new warm-up: the
    warm-up exists to forget a random initialisation, which a fine-tuning run does not have).
    A checkpoint without EMA weights initialises the EMA from its network weights.

    Raises:
        InitFromError: not a wavediff checkpoint, or its network differs from ``module.net``
            (the config fields and the tensors that differ are named).
    """
    ckpt = read_checkpoint(path)
    theirs_cfg = dict(ckpt["hyper_parameters"].get("model_config") or {})
    ours_cfg = module.net.config.to_dict()
    state = ckpt["state_dict"]
    net = {k[len(_NET):]: v for k, v in state.items() if k.startswith(_NET)}
    ema = {k[len(_EMA):]: v for k, v in state.items() if k.startswith(_EMA)}
    ours = module.net.state_dict()
    differences = _tensor_differences(net, ours)
    config = _config_differences(theirs_cfg, ours_cfg)
    # the same shapes on other mel features would load, and vocode wrongly: name those too
    theirs_mel = ckpt["hyper_parameters"].get("mel_config")
    ours_mel = module.mel_config.to_dict() if module.mel_config is not None else None
    if theirs_mel != ours_mel:
        if theirs_mel is None or ours_mel is None:
            config.append(f"mel: checkpoint {theirs_mel and 'a MelConfig'!r}, recipe {ours_mel and 'a MelConfig'!r}")
        else:
            config += [f"mel.{line}" for line in _config_differences(theirs_mel, ours_mel)]
    if differences or config:
        parts = []
        if config:
            parts.append(f"network config fields that differ:{_listing(config)}")
        if differences:
            parts.append(f"tensors that differ:{_listing(differences)}")
        raise InitFromError(
            f"--init-from {path}: its network does not match the recipe's, so its weights cannot "
            f"initialise this run. " + "\n".join(parts) + "\nSet the recipe's model (model.preset, "
            "model.overrides, model.conditioning, mel, the class labels) to the checkpoint's, or train "
            "from scratch without --init-from.")
    module.net.load_state_dict(net)
    module.ema.model.load_state_dict(ema if ema else net)
    if _EMA_COUNT in state and ema:
        module.ema.num_updates.copy_(state[_EMA_COUNT])
    return dict(ckpt["hyper_parameters"])
