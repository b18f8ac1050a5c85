"""The fixed, invertible map between audio and the diffusion's clean signal ``x_0``.

    x_0   = data_scale * pre_emphasis(audio)      pre_emphasis(a)[n] = a[n] - c * a[n - 1]
    audio = de_emphasis(x_0 / data_scale)         de_emphasis(y)[n]  = y[n] + c * audio[n - 1]

with ``a[-1] = 0`` (every clip starts from silence), so the two are exact inverses.

Why: the schedules assume data of about unit variance, and audio is neither (speech and
the demo corpus sit near RMS 0.1) nor white (most of its power lies below 1 kHz). With
``data_scale`` the logsnr of the schedule is the logsnr of the signal itself, not offset by
``2 log(rms)``. With pre-emphasis the diffusion runs on a flatter spectrum, and the
de-emphasis that turns samples back into audio is a low-pass: whatever noise a model
leaves (roughly white in ``x_0``) ends up shaped under the signal's own spectrum instead
of as broadband hiss above it. ``data_scale = 1, pre_emphasis = 0`` is the identity.

Shapes: any ``(..., samples)`` tensor; the filter runs along the last axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from scipy.signal import lfilter

Tensor = torch.Tensor

__all__ = ["DataTransform", "suggest_data_scale"]

# samples per de-emphasis block: long outputs (a vocoded hour) never get a float64 copy
_BLOCK = 1 << 18


@dataclass(frozen=True)
class DataTransform:
    """``x_0 = data_scale * pre_emphasis(audio)`` and its inverse (see the module docstring).

    Attributes:
        data_scale: positive factor; choose it so that ``x_0`` has about unit standard
            deviation on the training audio (:func:`suggest_data_scale`).
        pre_emphasis: first-order pre-emphasis coefficient ``c`` in ``[0, 1)``; 0 is none,
            0.9-0.97 are usual for speech and music.
    """

    data_scale: float = 1.0
    pre_emphasis: float = 0.0

    def __post_init__(self) -> None:
        scale, c = self.data_scale, self.pre_emphasis
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"diffusion.data_scale must be a positive number, got {scale!r}")
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 <= c < 1.0:
            raise ValueError(f"diffusion.pre_emphasis must lie in [0, 1) (0 = off), got {c!r}")
        object.__setattr__(self, "data_scale", float(scale))
        object.__setattr__(self, "pre_emphasis", float(c))

    @property
    def is_identity(self) -> bool:
        return self.data_scale == 1.0 and self.pre_emphasis == 0.0

    @property
    def x0_bound(self) -> float:
        """Largest ``|x_0|`` that audio in [-1, 1] encodes to: ``data_scale * (1 + pre_emphasis)``."""
        return self.data_scale * (1.0 + self.pre_emphasis)

    def encode(self, audio: Tensor) -> Tensor:
        """Audio ``(..., T)`` in [-1, 1] -> ``x_0`` (same shape, dtype and device;
        differentiable)."""
        if self.is_identity:
            return audio
        x = audio
        if self.pre_emphasis:
            x = torch.cat([x[..., :1], x[..., 1:] - self.pre_emphasis * x[..., :-1]], dim=-1)
        return x * self.data_scale if self.data_scale != 1.0 else x

    def decode(self, x0: Tensor) -> Tensor:
        """``x_0 (..., T)`` -> audio (same shape, dtype and device). The de-emphasis is a
        recursive filter run on the CPU in float64, block by block (for generated audio, not
        for gradients)."""
        if self.is_identity:
            return x0
        y = x0 / self.data_scale if self.data_scale != 1.0 else x0
        if not self.pre_emphasis:
            return y
        rows = y.detach().reshape(-1, y.shape[-1])
        out = torch.empty(rows.shape, dtype=x0.dtype)
        a = [1.0, -self.pre_emphasis]
        for r in range(rows.shape[0]):
            state = np.zeros(1)  # the filter state carries across blocks: the result is exact
            for start in range(0, rows.shape[1], _BLOCK):
                block = rows[r, start:start + _BLOCK].to("cpu", torch.float64).numpy()
                filtered, state = lfilter([1.0], a, block, zi=state)
                out[r, start:start + _BLOCK] = torch.from_numpy(filtered)
        return out.reshape(y.shape).to(x0.device)

    def to_dict(self) -> dict[str, float]:
        return {"data_scale": self.data_scale, "pre_emphasis": self.pre_emphasis}

    @classmethod
    def from_config(cls, diffusion: Any) -> "DataTransform":
        """From a recipe's ``diffusion`` section (a ``DiffusionConfig`` or a mapping)."""
        get = diffusion.get if isinstance(diffusion, dict) else lambda k, d: getattr(diffusion, k, d)
        return cls(get("data_scale", 1.0), get("pre_emphasis", 0.0))


def suggest_data_scale(audio: Tensor | Sequence[Tensor | np.ndarray], pre_emphasis: float = 0.0) -> float:
    """``1 / RMS`` of the pre-emphasised audio: the ``data_scale`` that gives ``x_0`` unit
    root-mean-square on these clips. ``audio``: one ``(..., T)`` tensor, or a sequence of
    clips of any lengths (each filtered on its own)."""
    clips = [audio] if isinstance(audio, Tensor) else list(audio)
    emphasis = DataTransform(1.0, pre_emphasis)
    total, count = 0.0, 0
    for clip in clips:
        x0 = emphasis.encode(torch.as_tensor(clip, dtype=torch.float64))
        total += float(x0.pow(2).sum())
        count += x0.numel()
    if not total > 0:
        raise ValueError("the audio is silent: no data_scale makes it unit RMS")
    return 1.0 / math.sqrt(total / count)
