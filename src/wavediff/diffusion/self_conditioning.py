"""Self-conditioning (Chen et al., 2022, "Analog Bits"): a network that also reads an earlier
estimate of ``x_0`` as ``net(x_t, logsnr, self_cond=x0_estimate, **cond)``.

In training, half the examples get the network's own estimate from a first pass without
gradients, the rest a silent one (zeros), so the network learns both to make a first estimate
and to refine one. In sampling, each evaluation gets the (guided) estimate of the one before;
the first gets zeros. Why: a choice made early in sampling (a note's pitch) is handed on, so
later steps need not make it again from a noisier ``x_t``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from .parameterisation import expand_like, to_x0_eps
from .schedules import alpha_sigma_from_logsnr

__all__ = ["SelfConditioning", "self_conditioned_training"]

#: share of training examples that get the network's own estimate (the rest get zeros)
SELF_CONDITION_RATE = 0.5


def self_conditioned_training(net: Callable[..., Tensor], parameterisation: str,
                              generator: torch.Generator | None = None,
                              rate: float = SELF_CONDITION_RATE) -> Callable[..., Tensor]:
    """``net`` as the training loss calls it, ``(x_t, logsnr, **cond) -> output``: a first pass
    without gradients makes ``x0_hat``; a ``rate`` share of the examples (drawn with
    ``generator``) get it as ``self_cond``, the others zeros; the second pass is returned.
    A network that does not read one (no true ``self_conditioning`` attribute) is returned
    as it is, so every training loop can call this on whatever network it trains."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"the self-conditioning rate must lie in [0, 1], got {rate}")
    if not getattr(net, "self_conditioning", False):
        return net

    def forward(x_t: Tensor, logsnr: Tensor, **cond: Any) -> Tensor:
        with torch.no_grad():
            alpha, sigma = alpha_sigma_from_logsnr(logsnr)
            first = net(x_t, logsnr, **cond)
            x0_hat, _ = to_x0_eps(parameterisation, first.float(), x_t.float(), expand_like(alpha, x_t),
                                  expand_like(sigma, x_t))
            device = generator.device if generator is not None else x_t.device
            keep = (torch.rand(x_t.shape[0], generator=generator, device=device) < rate).to(x_t.device)
            estimate = x0_hat * expand_like(keep.to(x0_hat.dtype), x0_hat)
        return net(x_t, logsnr, self_cond=estimate.to(x_t.dtype), **cond)

    return forward


class SelfConditioning:
    """The sampling side: ``net`` called with the last estimate handed to :meth:`remember`
    as ``self_cond`` (none before the first), clamped to ``[-bound, bound]`` where given
    (guidance extrapolates past the range the data can take). One object per sampling run;
    a batch twice the estimate's (both guidance branches in one call) gets it twice."""

    def __init__(self, net: Callable[..., Tensor], bound: float | None = None) -> None:
        self.net, self.bound = net, bound
        self.estimate: Tensor | None = None

    def __call__(self, x_t: Tensor, logsnr: Tensor, **cond: Any) -> Tensor:
        estimate = self.estimate
        if estimate is not None and estimate.shape[0] != x_t.shape[0]:
            if x_t.shape[0] % estimate.shape[0]:
                raise ValueError(f"a batch of {x_t.shape[0]} cannot take estimates of a batch of {estimate.shape[0]}")
            estimate = estimate.repeat(x_t.shape[0] // estimate.shape[0], *([1] * (estimate.dim() - 1)))
        return self.net(x_t, logsnr, self_cond=estimate, **cond)

    def remember(self, x0_hat: Tensor) -> None:
        """Hand ``x0_hat`` (the last evaluation's, guided) to the next evaluation."""
        self.estimate = x0_hat if self.bound is None else x0_hat.clamp(-self.bound, self.bound)
