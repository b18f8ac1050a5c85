"""Sampling step grids, chosen at sampling time.

A grid is a float64 tensor of ``steps + 1`` logsnr values, strictly increasing (noisiest
first), whose last entry is ``+inf`` (clean data: the last step returns ``x0_hat``). So a
``steps``-step first-order sampler makes exactly ``steps`` network evaluations.

Kinds:

* ``uniform_t``: ``t_i = 1 - i / steps`` for ``i < steps`` (the DDPM/DDIM convention: the last
  finite point is ``t = 1/steps``, not ``t = 0``).
* ``uniform_logsnr``: ``steps`` points evenly spaced in logsnr from ``logsnr(1)`` to
  ``logsnr(0)``, both included.
* ``karras``: ``sigma_i = (s_max^(1/rho) + i/(steps-1) (s_min^(1/rho) - s_max^(1/rho)))^rho`` with
  ``sigma = exp(-logsnr/2)`` over the schedule's range, both ends included (Karras et al. 2022).
* an explicit list of logsnr values (e.g. a tuned fast schedule), or a named one from
  ``NAMED_GRIDS`` such as ``diffwave6`` (DiffWave's 6-step fast-sampling betas).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .schedules import Schedule, logsnr_from_betas

Tensor = torch.Tensor
GRID_KINDS: tuple[str, ...] = ("uniform_t", "uniform_logsnr", "karras")

# DiffWave's fast-sampling schedule (Kong et al. 2021, table of T_infer = 6).
DIFFWAVE_FAST_BETAS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 5e-2, 2e-1, 5e-1)


def _diffwave6() -> Tensor:
    return logsnr_from_betas(DIFFWAVE_FAST_BETAS).flip(0)


NAMED_GRIDS = {"diffwave6": _diffwave6}


def grid_names() -> list[str]:
    """Every grid a sampler accepts by name: the grid kinds, then the named grids."""
    return list(GRID_KINDS) + sorted(NAMED_GRIDS)


def named_grid_steps(name: str | None) -> int | None:
    """Step count fixed by the named grid ``name``; ``None`` for a grid kind or no grid."""
    return len(NAMED_GRIDS[name]()) if name in NAMED_GRIDS else None


def explicit_grid(logsnrs: Sequence[float] | Tensor) -> Tensor:
    """Validate an explicit list of finite logsnr values and append ``+inf``.

    Either order is accepted; the values must be strictly monotone."""
    values = torch.as_tensor(logsnrs, dtype=torch.float64).flatten()
    if values.numel() == 0:
        raise ValueError("an explicit logsnr grid needs at least one value")
    if not torch.isfinite(values).all():
        raise ValueError("explicit logsnr grid values must be finite (the clean end is added for you)")
    if values.numel() > 1 and values[0] > values[-1]:
        values = values.flip(0)
    if values.numel() > 1 and not (values[1:] > values[:-1]).all():
        raise ValueError(f"explicit logsnr grid must be strictly monotone, got {values.tolist()}")
    return torch.cat([values, torch.tensor([math.inf], dtype=torch.float64)])


def step_grid(schedule: Schedule, steps: int | None = None, kind: str = "uniform_t", *,
              rho: float = 7.0, logsnr_grid: Sequence[float] | Tensor | None = None) -> Tensor:
    """The logsnr grid for ``steps`` sampling steps (see module docstring).

    ``kind`` may be a grid kind or a name in ``NAMED_GRIDS``; ``logsnr_grid`` overrides both
    (then ``steps``, if given, must equal its length)."""
    if logsnr_grid is None and kind in NAMED_GRIDS:
        logsnr_grid = NAMED_GRIDS[kind]()
    if logsnr_grid is not None:
        grid = explicit_grid(logsnr_grid)
        if steps is not None and steps != grid.numel() - 1:
            raise ValueError(f"steps={steps} but the explicit grid has {grid.numel() - 1} points")
        return grid
    if steps is None or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if kind == "uniform_t":
        t = 1.0 - torch.arange(steps, dtype=torch.float64) / steps
        finite = schedule.logsnr(t)
    elif kind == "uniform_logsnr":
        finite = torch.linspace(schedule.logsnr_min, schedule.logsnr_max, steps, dtype=torch.float64)
    elif kind == "karras":
        s_max = math.exp(-0.5 * schedule.logsnr_min)
        s_min = math.exp(-0.5 * schedule.logsnr_max)
        ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64) if steps > 1 else torch.zeros(1, dtype=torch.float64)
        sigma = (s_max ** (1 / rho) + ramp * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
        finite = -2.0 * torch.log(sigma)
    else:
        raise ValueError(f"unknown grid {kind!r}; choose one of {grid_names()}")
    return torch.cat([finite.to(torch.float64), torch.tensor([math.inf], dtype=torch.float64)])
