"""The training objective: one function for every schedule, parameterisation and weighting.

``loss = mean_b lambda(logsnr_b) * ||eps_b - eps_hat_b||^2 / D`` with ``t_b`` from the chosen
time sampler. The MSE is computed in the network's own parameterisation and converted with
``eps_mse_factor`` (exact, and better conditioned than converting predictions to eps first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from .parameterisation import check_parameterisation, eps_mse_factor, expand_like, target
from .schedules import Schedule, alpha_sigma_from_logsnr
from .time_sampling import sample_time
from .weighting import Weighting, get_weighting

Tensor = torch.Tensor


@dataclass
class DiffusionLoss:
    """Result of ``diffusion_loss``.

    Attributes:
        loss: scalar, the batch mean of ``per_example`` (what to backpropagate).
        per_example: (B,) weighted loss of each example.
        eps_mse: (B,) unweighted eps-MSE per example (detached; for diagnostics).
        logsnr: (B,) noise level of each example.
        t: (B,) time of each example.
    """

    loss: Tensor
    per_example: Tensor
    eps_mse: Tensor
    logsnr: Tensor
    t: Tensor


def diffusion_loss(
    net: Callable[..., Tensor],
    x0: Tensor,
    schedule: Schedule,
    *,
    parameterisation: str = "v",
    weighting: str | Weighting | Callable[..., Tensor] = "eps",
    time_sampling: str = "uniform",
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    cond: dict[str, Any] | None = None,
    time_sampling_options: dict[str, Any] | None = None,
) -> DiffusionLoss:
    """Weighted denoising loss of ``net`` on clean audio ``x0`` of shape (B, C, T).

    ``net(x_t, logsnr, **cond)`` returns its prediction in ``parameterisation``; ``t`` and
    ``noise`` may be given to make the loss deterministic (otherwise drawn with ``generator``).
    """
    check_parameterisation(parameterisation)
    weight = get_weighting(weighting)
    batch = x0.shape[0]
    if t is None:
        t = sample_time(batch, time_sampling, schedule=schedule, generator=generator,
                        device=x0.device, **(time_sampling_options or {}))
    t = t.to(device=x0.device, dtype=torch.float32)
    if noise is None:
        gen_device = generator.device if generator is not None else x0.device
        noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
    logsnr = schedule.logsnr(t).to(torch.float32)
    alpha, sigma = alpha_sigma_from_logsnr(logsnr)
    a, s = expand_like(alpha, x0), expand_like(sigma, x0)
    x_t = a * x0 + s * noise
    out = net(x_t, logsnr, **(cond or {}))
    tgt = target(parameterisation, x0, noise, a, s)
    native_mse = (out.float() - tgt.float()).pow(2).flatten(1).mean(1)
    eps_mse = eps_mse_factor(parameterisation, logsnr) * native_mse
    lam = weight(logsnr, schedule).to(eps_mse.dtype)
    per_example = lam * eps_mse
    return DiffusionLoss(per_example.mean(), per_example, eps_mse.detach(), logsnr, t)


def logsnr_bin_edges(schedule: Schedule, num_bins: int = 8) -> Tensor:
    """``num_bins + 1`` edges spaced evenly over the schedule's logsnr range (ascending)."""
    return torch.linspace(schedule.logsnr_min, schedule.logsnr_max, num_bins + 1)


def bin_by_logsnr(logsnr: Tensor, values: Tensor, edges: Tensor) -> tuple[Tensor, Tensor]:
    """Sum ``values`` (B,) into logsnr bins; returns ``(sums, counts)`` of shape (num_bins,),
    so they can be accumulated over many batches before dividing. Values outside the edges
    go into the end bins."""
    edges = edges.to(logsnr.device)
    num_bins = edges.numel() - 1
    idx = (torch.bucketize(logsnr.detach().float(), edges.float(), right=True) - 1).clamp(0, num_bins - 1)
    sums = torch.zeros(num_bins, device=logsnr.device, dtype=torch.float64).index_add_(0, idx, values.detach().double())
    counts = torch.zeros(num_bins, device=logsnr.device, dtype=torch.float64).index_add_(
        0, idx, torch.ones_like(values, dtype=torch.float64))
    return sums, counts


def bin_labels(edges: Tensor) -> list[str]:
    """Readable names of the bins, e.g. ``logsnr[-15.0,-11.2)``."""
    e = edges.tolist()
    return [f"logsnr[{lo:.1f},{hi:.1f})" for lo, hi in zip(e[:-1], e[1:])]
