"""How training draws the time ``t`` (equivalently the noise level) of each example.

* ``uniform``: i.i.d. ``t ~ U(0, 1)``.
* ``stratified``: one offset ``u ~ U(0, 1)`` per batch and ``t_i = (u + i / B) mod 1``, a
  low-discrepancy sequence that lowers the variance of the batch loss (Kingma et al. 2021).
* ``lognormal``: ``ln sigma_edm ~ N(p_mean, p_std^2)`` (Karras et al. 2022), mapped to ``t``
  through the schedule (``logsnr = -2 ln sigma_edm``), clamped to the schedule's range.

Losses are weighted per unit of ``t`` assuming uniform sampling; a non-uniform sampler
changes the effective weighting by its density (that is the point of ``lognormal``).
"""

from __future__ import annotations

from typing import Any

import torch

from .schedules import Schedule

Tensor = torch.Tensor
TIME_SAMPLERS: tuple[str, ...] = ("uniform", "stratified", "lognormal")


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None,
          normal: bool = False) -> Tensor:
    gen_device = generator.device if generator is not None else device
    draw = torch.randn if normal else torch.rand
    return draw(shape, generator=generator, device=gen_device, dtype=torch.float64).to(device)


def sample_time(batch: int, method: str = "uniform", *, schedule: Schedule | None = None,
                generator: torch.Generator | None = None, device: torch.device | str | None = None,
                p_mean: float = -1.2, p_std: float = 1.2, **unused: Any) -> Tensor:
    """Draw ``t`` for a batch: float32 tensor of shape (batch,) in [0, 1]."""
    if unused:
        raise ValueError(f"unexpected time-sampling options {sorted(unused)}")
    if method == "uniform":
        t = _rand((batch,), generator, device)
    elif method == "stratified":
        u = _rand((1,), generator, device)
        t = torch.remainder(u + torch.arange(batch, device=device, dtype=torch.float64) / batch, 1.0)
    elif method == "lognormal":
        if schedule is None:
            raise ValueError("lognormal time sampling needs the schedule")
        log_sigma = p_mean + p_std * _rand((batch,), generator, device, normal=True)
        t = schedule.t_from_logsnr(-2.0 * log_sigma)
    else:
        raise ValueError(f"unknown time sampling {method!r}; choose one of {list(TIME_SAMPLERS)}")
    return t.to(torch.float32)
