"""Exponential moving average of model weights (used for validation, sampling and export)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """Holds a frozen copy of ``model`` whose parameters track
    ``ema = d * ema + (1 - d) * param`` with ``d = min(decay, (1 + n) / (10 + n))`` after the
    ``n``-th update (the warm-up keeps early averages from being dominated by the random
    initialisation). Buffers are copied, not averaged. Being an ``nn.Module``, its state is
    part of the owner's ``state_dict``, so a resumed run continues the same average."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        n = int(self.num_updates)
        d = min(self.decay, (1.0 + n) / (10.0 + n))
        ema_params = list(self.model.parameters())
        params = [p.detach().to(e.dtype) for p, e in zip(model.parameters(), ema_params)]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for ema_buf, buf in zip(self.model.buffers(), model.buffers()):
            ema_buf.copy_(buf)
        self.num_updates += 1

    def forward(self, *args, **kwargs):  # noqa: D401 - delegate
        return self.model(*args, **kwargs)

    def train(self, mode: bool = True) -> "EMA":
        # the averaged copy always runs in eval mode
        super().train(mode)
        self.model.eval()
        return self
