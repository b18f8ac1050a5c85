"""The continuous-time variational bound of Kingma et al. (2021), in bits per sample.

For data ``x`` with ``D`` values (channels x samples):

``-log p(x) <= L_prior + L_recon + L_diffusion`` with

* ``L_prior = KL(q(z_1 | x) || N(0, I))`` at ``logsnr_min`` (closed form);
* ``L_recon = E_q[-log p(x | z_0)]`` at ``logsnr_max`` with the Gaussian decoder
  ``p(x | z_0) = N(z_0 / alpha_0, sigma_0^2 / alpha_0^2)``: for continuous data this is the
  closed form ``D/2 (log(2 pi) - logsnr_max + 1)``; with ``bin_width`` the decoder is
  discretised to bins of that width (e.g. ``2 / 2**16`` for 16-bit audio) and the term is a
  Monte-Carlo average of ``-log P(bin)``;
* ``L_diffusion = 1/2 E_t[-dlogsnr/dt ||eps - eps_hat||^2] = 1/2 int ||eps - eps_hat||^2 dlogsnr``.

The diffusion term is estimated by Monte-Carlo over ``t`` with importance sampling
proportional to ``|dlogsnr/dt|`` (stratified uniform logsnr), which removes the schedule's
speed from the estimator and lowers its variance. A fixed ``generator`` makes the estimate
reproducible. Without ``bin_width`` the numbers are continuous densities (they may be
negative and are not comparable to discrete-data likelihoods).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .parameterisation import expand_like
from .schedules import Schedule, alpha_sigma_from_logsnr

Tensor = torch.Tensor
LN2 = math.log(2.0)


def vdm_bound(
    denoise_fn: Callable[..., Tensor],
    x0: Tensor,
    schedule: Schedule,
    *,
    num_t: int = 64,
    generator: torch.Generator | None = None,
    bin_width: float | None = None,
    cond: dict[str, Any] | None = None,
) -> dict[str, Tensor]:
    """Variational bound of each example of ``x0`` (B, C, T), in bits per sample.

    ``denoise_fn(x_t, logsnr, **cond) -> x0_hat``. Returns a dict of (B,) tensors:
    ``total``, ``prior``, ``recon``, ``diffusion``.
    """
    if num_t < 1:
        raise ValueError("num_t must be >= 1")
    batch, dims = x0.shape[0], x0[0].numel()
    gen_device = generator.device if generator is not None else x0.device

    def randn(shape: tuple[int, ...]) -> Tensor:
        return torch.randn(shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)

    l_min, l_max = schedule.logsnr_min, schedule.logsnr_max
    # prior: KL(N(alpha_1 x, sigma_1^2) || N(0, 1)) per value
    a1_sq, s1_sq = 1 / (1 + math.exp(-l_min)), 1 / (1 + math.exp(l_min))
    prior = 0.5 * (s1_sq + a1_sq * x0.double().pow(2) - 1.0 - math.log(s1_sq)).flatten(1).sum(1)

    # diffusion: 0.5 * (l_max - l_min) * E_{l ~ U}[||eps - eps_hat||^2], stratified per example
    offsets = torch.rand((batch,), generator=generator, device=gen_device, dtype=torch.float64).to(x0.device)
    diffusion = torch.zeros(batch, dtype=torch.float64, device=x0.device)
    for j in range(num_t):
        u = (offsets + j) / num_t
        logsnr = (l_min + u * (l_max - l_min)).to(x0.dtype)
        alpha, sigma = alpha_sigma_from_logsnr(logsnr)
        a, s = expand_like(alpha, x0), expand_like(sigma, x0)
        eps = randn(tuple(x0.shape))
        x_t = a * x0 + s * eps
        x0_hat = denoise_fn(x_t, logsnr, **(cond or {}))
        eps_hat = (x_t - a * x0_hat) / s
        diffusion += (eps - eps_hat).double().pow(2).flatten(1).sum(1)
    diffusion *= 0.5 * (l_max - l_min) / num_t

    if bin_width is None:
        recon = torch.full((batch,), 0.5 * dims * (math.log(2 * math.pi) - l_max + 1.0),
                           dtype=torch.float64, device=x0.device)
    else:
        # decoder mean z_0/alpha_0 = x + s eps with s = exp(-l_max/2); P(bin around x)
        s0 = math.exp(-0.5 * l_max)
        half = 0.5 * bin_width / s0
        normal = torch.distributions.Normal(0.0, 1.0)
        eps = randn(tuple(x0.shape)).double()
        prob = normal.cdf(half - eps) - normal.cdf(-half - eps)
        recon = -prob.clamp_min(1e-300).log().flatten(1).sum(1)

    to_bits = 1.0 / (dims * LN2)
    parts = {"prior": prior * to_bits, "recon": recon * to_bits, "diffusion": diffusion * to_bits}
    parts["total"] = parts["prior"] + parts["recon"] + parts["diffusion"]
    return parts
