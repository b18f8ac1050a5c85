"""Noise-level embedding: Fourier features of ``logsnr`` followed by an MLP.

The denoiser learns the noise level only from ``logsnr = log(alpha^2 / sigma^2)`` (a
float per batch element), never from an integer step index, so any step count or
schedule can be used at sampling time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["LogSNRFourierFeatures", "NoiseLevelEmbedding"]


class LogSNRFourierFeatures(nn.Module):
    """Sinusoidal features ``[sin(w_j * logsnr), cos(w_j * logsnr)]`` of ``logsnr``.

    The angular frequencies ``w_j = 2 pi / P_j`` use periods ``P_j`` spaced geometrically
    from ``max_period`` down to ``min_period`` (in logsnr units). The defaults are chosen
    for the usual range ``logsnr in [-20, 20]``:

    * ``max_period = 160``: the slowest pair turns by only pi/2 over the whole range of
      width 40, so it is a monotone, unambiguous coarse code of the noise level;
    * ``min_period = 0.25``: the fastest pair turns by about 1 radian for a change of
      0.04 in logsnr, which is the spacing of a 1000-step grid over that range.

    Args:
        dim: number of output features (even): ``dim // 2`` frequencies, sin and cos.

    Shapes:
        ``logsnr``: ``(B,)`` float -> ``(B, dim)``.
    """

    def __init__(self, dim: int, min_period: float = 0.25, max_period: float = 160.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"Fourier feature dim must be an even number >= 2, got {dim}")
        if not 0 < min_period <= max_period:
            raise ValueError(f"need 0 < min_period <= max_period, got {min_period}, {max_period}")
        self.dim = dim
        self.min_period = float(min_period)
        self.max_period = float(max_period)

    def frequencies(self, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """Angular frequencies ``(dim // 2,)`` in radians per logsnr unit."""
        half = self.dim // 2
        steps = torch.arange(half, device=device, dtype=dtype) / max(half - 1, 1)
        periods = self.max_period * (self.min_period / self.max_period) ** steps
        return (2 * math.pi) / periods

    def forward(self, logsnr: Tensor) -> Tensor:
        # Computed here (not stored as a buffer) so that casting the module to a low
        # precision dtype never changes the frequencies; angles reach ~500 rad, so they
        # are formed in at least float32.
        dtype = torch.float64 if logsnr.dtype == torch.float64 else torch.float32
        angles = logsnr.to(dtype)[:, None] * self.frequencies(logsnr.device, dtype)[None, :]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class NoiseLevelEmbedding(nn.Module):
    """``logsnr`` -> Fourier features -> Linear, SiLU, Linear, SiLU.

    Args:
        fourier_dim: number of Fourier features (even).
        hidden_dim: width of the MLP and of the output vector.

    Shapes:
        ``logsnr``: ``(B,)`` float -> ``(B, hidden_dim)``.
    """

    def __init__(self, fourier_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.features = LogSNRFourierFeatures(fourier_dim)
        self.mlp = nn.Sequential(
            nn.Linear(fourier_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.SiLU(),
        )

    def forward(self, logsnr: Tensor) -> Tensor:
        first = self.mlp[0]
        return self.mlp(self.features(logsnr).to(first.weight.dtype))
