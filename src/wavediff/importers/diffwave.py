"""``wavediff import diffwave``: checkpoints of the DiffWave reference implementation.

The reference code (LMNT's ``diffwave`` package, Kong et al. 2021) saves
``{'step': int, 'model': state_dict, 'params': dict, 'optimizer': ..., 'scaler': ...}``.
Its network is wavediff's DiffWave with three differences, all handled here:

* the noise level is a (fractional) step index of the training betas ``params.noise_schedule``:
  the converted network embeds ``logsnr`` the reference's way
  (``DenoiserConfig.noise_embedding = "diffwave_step"``, see ``wavediff.nn.step_embedding``);
* its gate is ``sigmoid(first half) * tanh(second half)`` where wavediff computes
  ``tanh(first half) * sigmoid(second half)``: the two output halves of every dilated
  convolution and mel projection are swapped;
* it sees the mel features as they are (``mel_offset = 0``, ``mel_scale = 1``), made by its
  ``preprocess.py``: torchaudio's mel (HTK, centred frames, normalised STFT, 20 Hz to
  ``sample_rate / 2``, window ``4 * hop``) in its ``[0, 1]`` dB normalisation; the checkpoint's
  MelConfig is exactly that, so copy-synthesis and the mel checks work as for any vocoder.

Layer names map one to one (``residual_layers.i.dilated_conv`` -> ``layers.i.dilated_conv``,
``diffusion_projection`` -> ``embedding_proj``, ``conditioner_projection`` -> ``mel_proj``,
``spectrogram_upsampler.conv1/2`` -> ``mel_upsampler.stages.0/1.conv`` ...); the reference's two
16x transposed convolutions with padding 8 are wavediff's upsampler stages for hop 256.

The converted checkpoint keeps the reference's diffusion: the continuous ``linear_beta``
schedule of its betas (its discrete noise levels at ``t = (n + 1) / N``), eps-prediction, and
DDPM sampling on its ``inference_noise_schedule`` (``diffwave6`` for the published one; any
other is stored as the checkpoint's tuned ``ddpm`` grid). The reference has no EMA: the EMA
weights are its weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import torch

from ..audio.mel_config import MelConfig
from ..diffusion.grids import DIFFWAVE_FAST_BETAS
from ..diffusion.schedules import logsnr_from_betas
from ..nn import DenoiserConfig

__all__ = ["DiffWaveImportError", "REFERENCE_PARAMS", "convert_diffwave_state", "denoiser_config",
           "import_diffwave", "mel_config", "read_reference_checkpoint"]

#: The reference's published ``params`` (``diffwave/params.py``): used for fields a checkpoint
#: does not record.
REFERENCE_PARAMS: dict[str, Any] = {
    "sample_rate": 22050, "n_mels": 80, "n_fft": 1024, "hop_samples": 256, "crop_mel_frames": 62,
    "residual_layers": 30, "residual_channels": 64, "dilation_cycle_length": 10,
    "noise_schedule": [1e-4 + (0.05 - 1e-4) * i / 49 for i in range(50)],
    "inference_noise_schedule": list(DIFFWAVE_FAST_BETAS), "batch_size": 16, "learning_rate": 2e-4,
}
# The reference's upsampler is two fixed 16x stages, whatever params.hop_samples says.
_HOP = 256
_TABLE_DIM, _MLP_DIM = 128, 512


class DiffWaveImportError(ValueError):
    """A file that is not a DiffWave reference checkpoint, or one wavediff cannot represent."""


def read_reference_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], int | None]:
    """``(model state dict, params, training step)`` of a reference checkpoint.

    Read with ``torch.load(weights_only=True)``: the reference saves only tensors and plain
    Python values, so nothing in the file is executed. ``params`` missing from the file (early
    releases) are the published defaults; recorded ones override them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DiffWave checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a file we cannot read safely
        raise DiffWaveImportError(f"{path}: cannot read it as a plain PyTorch checkpoint ({type(err).__name__}); "
                                  "pass the reference's weights file (e.g. weights.pt or "
                                  "diffwave-ljspeech-22kHz-1000578.pt)") from None
    if isinstance(ckpt, Mapping) and "model" in ckpt and isinstance(ckpt["model"], Mapping):
        state, params, step = dict(ckpt["model"]), dict(ckpt.get("params") or {}), ckpt.get("step")
    elif isinstance(ckpt, Mapping) and "input_projection.weight" in ckpt:
        state, params, step = dict(ckpt), {}, None  # a bare model state dict
    else:
        keys = sorted(map(str, ckpt))[:6] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise DiffWaveImportError(f"{path} is not a DiffWave reference checkpoint (expected a dict with 'model' "
                                  f"and 'params', found {keys}); wavediff checkpoints need no import")
    merged = {**REFERENCE_PARAMS, **{k: v for k, v in params.items() if v is not None}}
    return state, merged, int(step) if isinstance(step, int) else None


def _layers_in(state: Mapping[str, torch.Tensor]) -> int:
    indices = {int(k.split(".")[1]) for k in state if k.startswith("residual_layers.")}
    return max(indices) + 1 if indices else 0


def denoiser_config(params: Mapping[str, Any], state: Mapping[str, torch.Tensor] | None = None) -> DenoiserConfig:
    """The wavediff network of reference ``params``; with ``state``, its shapes are checked
    against the params (a mismatch is named)."""
    if int(params["hop_samples"]) != _HOP:
        raise DiffWaveImportError(f"params.hop_samples is {params['hop_samples']}, but the reference network always "
                                  f"upsamples the mel by 16 x 16 = {_HOP}: this checkpoint cannot be represented")
    if params.get("unconditional"):
        raise DiffWaveImportError("unconditional DiffWave checkpoints are not supported; only the mel vocoder is")
    cfg = DenoiserConfig(
        residual_layers=int(params["residual_layers"]), residual_channels=int(params["residual_channels"]),
        dilation_cycle=int(params["dilation_cycle_length"]), kernel_size=3, embedding_dim=_TABLE_DIM,
        mlp_dim=_MLP_DIM, mel_bins=int(params["n_mels"]), hop=_HOP, upsample_factors=(16, 16),
        noise_embedding="diffwave_step", step_betas=tuple(float(b) for b in params["noise_schedule"]))
    if state is not None:
        found = {"residual_layers": _layers_in(state),
                 "residual_channels": int(state["input_projection.weight"].shape[0]),
                 "n_mels": int(state["residual_layers.0.conditioner_projection.weight"].shape[1])
                 if "residual_layers.0.conditioner_projection.weight" in state else None}
        differ = [f"{k}: params {params[k]}, weights {v}" for k, v in found.items() if v != int(params[k])]
        if differ:
            raise DiffWaveImportError("the checkpoint's params do not match its weights (" + "; ".join(differ) + ")")
    return cfg


def mel_config(params: Mapping[str, Any]) -> MelConfig:
    """The features of the reference's ``preprocess.py`` for ``params``."""
    sr, hop = int(params["sample_rate"]), int(params["hop_samples"])
    return MelConfig.preset("diffwave", sample_rate=sr, n_fft=int(params["n_fft"]), hop_length=hop,
                            win_length=4 * hop, n_mels=int(params["n_mels"]), fmin=20.0, fmax=sr / 2.0)


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    half = t.shape[0] // 2
    return torch.cat([t[half:], t[:half]], dim=0)


def convert_diffwave_state(state: Mapping[str, torch.Tensor], config: DenoiserConfig) -> dict[str, torch.Tensor]:
    """The reference's model state dict as the state dict of ``DiffWave(config)``.

    Raises:
        DiffWaveImportError: keys missing from, or left over in, the reference state dict."""
    names = {"input_projection": "input_proj", "skip_projection": "skip_proj", "output_projection": "output_proj",
             "diffusion_embedding.projection1": "noise_embedding.mlp.0",
             "diffusion_embedding.projection2": "noise_embedding.mlp.2",
             "spectrogram_upsampler.conv1": "mel_upsampler.stages.0.conv",
             "spectrogram_upsampler.conv2": "mel_upsampler.stages.1.conv"}
    layer_names = {"dilated_conv": "dilated_conv", "diffusion_projection": "embedding_proj",
                   "conditioner_projection": "mel_proj", "output_projection": "output_proj"}
    swapped = ("dilated_conv", "conditioner_projection")  # gate halves: see the module docstring
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []

    def take(src: str, dst: str, swap: bool = False) -> None:
        for suffix in ("weight", "bias"):
            key = f"{src}.{suffix}"
            if key not in state:
                missing.append(key)
                continue
            value = state[key].detach().to(torch.float32).clone()
            out[f"{dst}.{suffix}"] = _swap_halves(value) if swap else value
            used.add(key)

    for src, dst in names.items():
        take(src, dst)
    for i in range(config.residual_layers):
        for src, dst in layer_names.items():
            take(f"residual_layers.{i}.{src}", f"layers.{i}.{dst}", swap=src in swapped)
    extra = sorted(k for k in state if k not in used and not k.endswith("diffusion_embedding.embedding"))
    if missing or extra:
        raise DiffWaveImportError("the reference state dict does not match its params: "
                                  + (f"missing {missing[:6]}" if missing else "")
                                  + ("; " if missing and extra else "")
                                  + (f"unexpected {extra[:6]}" if extra else ""))
    return out


def _schedule(betas: list[float]) -> dict[str, Any]:
    n = len(betas)
    linear = [betas[0] + (betas[-1] - betas[0]) * i / max(n - 1, 1) for i in range(n)]
    if n < 2 or any(not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(betas, linear)):
        raise DiffWaveImportError(f"params.noise_schedule is not linear in beta ({betas[:3]} ... {betas[-1:]}); "
                                  "wavediff's linear_beta schedule represents linspace(beta_start, beta_end, N) only")
    return {"name": "linear_beta", "beta_start": float(betas[0]), "beta_end": float(betas[-1]), "num_betas": n}


def _recipe(params: Mapping[str, Any], config: DenoiserConfig, mel: MelConfig, name: str) -> dict[str, Any]:
    fast = [float(b) for b in params["inference_noise_schedule"]]
    named = len(fast) == len(DIFFWAVE_FAST_BETAS) and all(
        math.isclose(a, b, rel_tol=1e-9) for a, b in zip(fast, DIFFWAVE_FAST_BETAS))
    architecture = {k: v for k, v in config.to_dict().items() if k not in ("mel_bins", "hop", "num_classes")}
    return {
        "name": name, "seed": 0, "mel": mel.to_dict(),
        "data": {"corpus": "folder", "root": "data/ljspeech", "sample_rate": mel.sample_rate,
                 "segment_samples": int(params["crop_mel_frames"]) * _HOP, "batch_size": int(params["batch_size"]),
                 "valid_clips": 8, "in_memory": False, "options": {"labels": None}},
        "model": {"preset": "base", "conditioning": "mel", "overrides": architecture},
        "diffusion": {"schedule": _schedule([float(b) for b in params["noise_schedule"]]),
                      "parameterisation": "eps", "weighting": "eps", "time_sampling": "uniform"},
        "optim": {"lr": float(params["learning_rate"]), "warmup_steps": 0, "lr_schedule": "constant",
                  "grad_clip": 1.0, "ema_decay": 0.9999},
        "sample": {"method": "ddpm", "steps": len(fast), "grid": "diffwave6" if named else None},
    }


def import_diffwave(checkpoint: str | Path, out: str | Path, name: str | None = None) -> Path:
    """Convert a DiffWave reference checkpoint into a wavediff checkpoint at ``out``.

    Returns the path written. The reference's training step and the source path are kept in
    the checkpoint's ``wavediff.imported`` record. The checkpoint's recipe is also written
    next to it (``out`` with ``.yaml``): the reference's network, mel and diffusion, training on
    a folder of audio (``data.root``), so that fine-tuning is
    ``wavediff train --config OUT.yaml --init-from OUT.ckpt data.root=my-voice/``."""
    import lightning as L

    from ..files import atomic_torch_save
    from ..train.config import recipe_from_dict
    from ..train.module import DiffusionModule

    checkpoint, out = Path(checkpoint), Path(out)
    if out.suffix != ".ckpt":
        raise DiffWaveImportError(f"--out {out}: name the converted checkpoint *.ckpt")
    state, params, step = read_reference_checkpoint(checkpoint)
    config = denoiser_config(params, state)
    weights = convert_diffwave_state(state, config)
    mel = mel_config(params)
    recipe = recipe_from_dict(_recipe(params, config, mel, name or f"diffwave-{checkpoint.stem}"))
    module = DiffusionModule(recipe.to_dict(), config.to_dict(), mel.sample_rate, mel.to_dict(), None, None)
    module.net.load_state_dict(weights)
    module.ema.model.load_state_dict(weights)
    fast = [float(b) for b in params["inference_noise_schedule"]]
    if recipe.sample.grid is None:  # an unpublished fast schedule: the default grid of `ddpm` at its length
        module.tuned_grids[f"ddpm:{len(fast)}"] = logsnr_from_betas(fast).flip(0).tolist()
    ckpt: dict[str, Any] = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                            "pytorch-lightning_version": L.__version__, "epoch": 0, "global_step": 0}
    module.on_save_checkpoint(ckpt)
    ckpt["wavediff"]["imported"] = {"from": "diffwave", "source": str(checkpoint), "step": step}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(ckpt, out)
    recipe.save(out.with_suffix(".yaml"))
    return out
