"""Noise-level embedding of the DiffWave reference implementation, driven by ``logsnr``.

The reference network (Kong et al. 2021; LMNT's ``diffwave`` package) indexes the noise level
by its training step ``n`` of a discrete beta schedule: a table of sinusoidal features of the
integer steps, linearly interpolated at fractional steps (its fast sampler evaluates the
network between training steps), followed by an MLP. wavediff networks see ``logsnr`` only,
so :class:`DiffWaveStepEmbedding` maps ``logsnr`` to the reference's fractional step first:

* ``alpha = sqrt(sigmoid(logsnr))`` is ``sqrt(alpha_bar)`` of the noise level;
* the training steps have ``s_n = sqrt(prod_{i<=n} (1 - beta_i))``, decreasing in ``n``;
* ``step = n + (s_n - alpha) / (s_n - s_{n+1})`` for ``s_{n+1} <= alpha <= s_n``: linear in
  ``sqrt(alpha_bar)`` between training steps, the interpolation of the reference's fast
  sampler, so the same noise levels give the same embedding. Levels outside the trained
  range are clamped to steps ``0`` and ``N - 1``.

With this embedding, a converted reference checkpoint gives the reference's outputs for the
same ``x_t``, noise level and mel (``wavediff import diffwave``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["DiffWaveStepEmbedding", "fractional_step"]


def _sqrt_alpha_bar(betas: Sequence[float], device: torch.device | None) -> Tensor:
    b = torch.as_tensor(list(betas), dtype=torch.float64, device=device)
    return torch.cumprod(1.0 - b, 0).sqrt()


def fractional_step(logsnr: Tensor, betas: Sequence[float]) -> Tensor:
    """The reference's fractional step index of each ``logsnr`` under training ``betas``.

    Shapes: ``logsnr (B,)`` -> ``(B,)`` float64 in ``[0, len(betas) - 1]``."""
    s = _sqrt_alpha_bar(betas, logsnr.device)
    n = s.numel()
    alpha = torch.sigmoid(logsnr.to(torch.float64)).sqrt()
    # number of training steps at least as clean as alpha, minus one: s[k] >= alpha > s[k + 1]
    below = torch.searchsorted(s.flip(0).contiguous(), alpha.contiguous())
    k = (n - below - 1).clamp(0, max(n - 2, 0))
    if n == 1:
        return torch.zeros_like(alpha)
    frac = (s[k] - alpha) / (s[k] - s[k + 1])
    return (k.to(torch.float64) + frac).clamp(0.0, n - 1.0)


class DiffWaveStepEmbedding(nn.Module):
    """``logsnr`` -> fractional step -> interpolated sinusoidal table -> Linear, SiLU, Linear, SiLU.

    Args:
        betas: the training noise schedule (``params.noise_schedule`` of the reference).
        table_dim: width of the sinusoidal table (128 in the reference: 64 sin, 64 cos with
            frequencies ``10 ** (4 j / 63)``).
        hidden_dim: width of the MLP and of the output (512 in the reference).

    Shapes:
        ``logsnr``: ``(B,)`` float -> ``(B, hidden_dim)``.
    """

    def __init__(self, betas: Sequence[float], table_dim: int = 128, hidden_dim: int = 512) -> None:
        super().__init__()
        if len(betas) < 1 or not all(0.0 < float(b) < 1.0 for b in betas):
            raise ValueError(f"DiffWave step embedding needs betas in (0, 1), got {list(betas)!r}")
        if table_dim < 4 or table_dim % 2:
            raise ValueError(f"DiffWave step table width must be even and >= 4, got {table_dim}")
        self.betas = tuple(float(b) for b in betas)
        self.table_dim = table_dim
        self.mlp = nn.Sequential(
            nn.Linear(table_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.SiLU(),
        )

    def table(self, device: torch.device | None = None) -> Tensor:
        """Sinusoidal features of the integer steps, ``(len(betas), table_dim)`` float32.

        Built here rather than stored, like the Fourier features: casting the module to a low
        precision never changes it, and it is not part of the state dict (nor is it in the
        reference's)."""
        half = self.table_dim // 2
        steps = torch.arange(len(self.betas), device=device).unsqueeze(1)
        dims = torch.arange(half, device=device).unsqueeze(0)
        angles = steps * 10.0 ** (dims * 4.0 / (half - 1))  # float32, as the reference builds it
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    def forward(self, logsnr: Tensor) -> Tensor:
        step = fractional_step(logsnr, self.betas).to(torch.float32)
        table = self.table(logsnr.device)
        low = step.floor().long()
        high = step.ceil().long()
        feats = table[low] + (table[high] - table[low]) * (step - low).unsqueeze(-1)
        first = self.mlp[0]
        return self.mlp(feats.to(first.weight.dtype))
