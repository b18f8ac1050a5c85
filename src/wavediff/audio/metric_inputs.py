"""Checks and conversions of metric inputs, shared by :mod:`wavediff.audio.metrics` and
:mod:`wavediff.audio.speech_metrics`.

Every metric takes float audio (torch tensor or numpy array) shaped ``(B, 1, T)``,
``(B, T)`` or ``(T,)``, mono only; reference-based ones cut the estimate and the reference
to the shorter length. Results are per example: a float64 tensor ``(B,)`` for batched
input, a Python ``float`` for 1-D input. Bad input raises ``ValueError`` naming the
argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .resample import resample

__all__ = ["Audio", "as_batch", "check_rate", "finish", "numpy_batch", "pair", "resample_rows"]

Audio = torch.Tensor | np.ndarray


def as_batch(x: Audio, name: str) -> tuple[torch.Tensor, bool]:
    """``x`` as a ``(B, T)`` tensor (dtype, device and graph kept) and whether it was 1-D.

    Raises ``TypeError`` for something that is not a tensor or array, ``ValueError`` for
    integer PCM, a rank other than 1-3, several channels, empty audio or NaN/inf values.
    """
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(
                f"{name}: expected floating-point audio in [-1, 1], got numpy dtype {x.dtype}; "
                f"convert integer PCM with x.astype(np.float32) / 32768 (16-bit) first"
            )
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name}: expected floating-point audio in [-1, 1], got dtype {x.dtype}; "
            f"convert integer PCM with x.float() / 32768 (16-bit) first"
        )
    if x.ndim == 1:
        x, scalar = x.unsqueeze(0), True
    elif x.ndim == 2:
        scalar = False
    elif x.ndim == 3:
        if x.shape[1] != 1:
            raise ValueError(
                f"{name}: metrics take mono audio (B, 1, T); got shape {tuple(x.shape)} with "
                f"{x.shape[1]} channels. Evaluate channels separately or mix them down."
            )
        x, scalar = x[:, 0], False
    else:
        raise ValueError(
            f"{name}: expected shape (B, 1, T), (B, T) or (T,), got {tuple(x.shape)} ({x.ndim}-D)"
        )
    if x.shape[0] == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name}: empty audio (shape {tuple(x.shape)})")
    bad = ~torch.isfinite(x.detach())
    if bool(bad.any()):
        raise ValueError(
            f"{name}: contains {int(bad.sum())} NaN/inf value(s); it comes from a diverged "
            f"computation or a damaged file"
        )
    return x, scalar


def pair(estimate: Audio, reference: Audio) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate an estimate/reference pair; return ``(est (B, T), ref (B, T) on est's
    device, scalar)``, both cut to the shorter length."""
    est, s_est = as_batch(estimate, "estimate")
    ref, s_ref = as_batch(reference, "reference")
    if s_est != s_ref:
        raise ValueError(
            f"estimate and reference must both be 1-D (T,) or both batched; got shapes "
            f"{tuple(estimate.shape)} and {tuple(reference.shape)}"
        )
    if est.shape[0] != ref.shape[0]:
        raise ValueError(
            f"estimate and reference have different batch sizes: {est.shape[0]} vs {ref.shape[0]}"
        )
    n = min(est.shape[-1], ref.shape[-1])
    return est[:, :n], ref[:, :n].to(est.device), s_est


def check_rate(sample_rate: Any, metric: str, minimum: int | None = None) -> int:
    """A positive integer sample rate (Hz), at least ``minimum`` when given; ``metric``
    names the caller in the error message."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"{metric}: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    value = float(sample_rate)
    if not math.isfinite(value) or value != int(value) or value <= 0:
        raise ValueError(f"{metric}: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    rate = int(sample_rate)
    if minimum is not None and rate < minimum:
        raise ValueError(f"{metric}: needs audio sampled at >= {minimum} Hz, got {rate} Hz")
    return rate


def finish(values: torch.Tensor | Sequence[float], scalar: bool) -> torch.Tensor | float:
    """Per-example values ``(B,)`` as a detached float64 tensor, or a float for 1-D input."""
    out = torch.as_tensor(values, dtype=torch.float64) if not isinstance(values, torch.Tensor) else values
    out = out.detach().to(torch.float64)
    return float(out[0]) if scalar else out


def numpy_batch(x: torch.Tensor) -> np.ndarray:
    """(B, T) tensor -> float64 C-contiguous numpy array on the CPU."""
    return np.ascontiguousarray(x.detach().to("cpu", torch.float64).numpy())


def resample_rows(x: torch.Tensor, rate: int, target: int) -> np.ndarray:
    """(B, T) audio at ``rate`` Hz -> float64 numpy (B, T') at ``target`` Hz, through
    :func:`wavediff.audio.resample.resample` (soxr HQ, linear phase, no delay)."""
    if rate == target:
        return numpy_batch(x)
    return numpy_batch(resample(x.detach().to("cpu", torch.float32), rate, target))
