"""Closed-form E[x0 | x_t] for data whose every value is drawn independently from a
Gaussian or a two-component Gaussian mixture (used to check samplers and likelihoods)."""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def _coefs(logsnr: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    shape = (-1,) + (1,) * (x.ndim - 1)
    alpha = torch.sigmoid(logsnr.to(x.dtype)).sqrt().reshape(shape)
    sigma = torch.sigmoid(-logsnr.to(x.dtype)).sqrt().reshape(shape)
    return alpha, sigma


class GaussianMixture:
    """x0 ~ sum_k w_k N(m_k, s_k^2), i.i.d. per value."""

    def __init__(self, weights: list[float], means: list[float], stds: list[float]) -> None:
        self.w = torch.tensor(weights, dtype=torch.float64)
        self.m = torch.tensor(means, dtype=torch.float64)
        self.s = torch.tensor(stds, dtype=torch.float64)

    @property
    def mean(self) -> float:
        return float((self.w * self.m).sum())

    @property
    def var(self) -> float:
        return float((self.w * (self.s**2 + self.m**2)).sum() - self.mean**2)

    def cdf(self, x: float) -> float:
        """P(x0 < x)."""
        return float((self.w * 0.5 * torch.erfc((self.m - x) / (self.s * math.sqrt(2)))).sum())

    def statistics_miss(self, x: Tensor) -> float:
        """Largest miss of samples ``x`` on the weight below 0, the mean and the standard deviation."""
        return max(abs(float((x < 0).double().mean()) - self.cdf(0.0)), abs(float(x.mean()) - self.mean),
                   abs(float(x.std()) - math.sqrt(self.var)))

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        k = torch.multinomial(self.w, math.prod(shape), replacement=True, generator=generator).reshape(shape)
        z = torch.randn(shape, generator=generator, dtype=torch.float64)
        return self.m[k] + self.s[k] * z

    def nll(self, x: Tensor) -> Tensor:
        """-log p(x) per value (nats)."""
        comp = torch.distributions.Normal(self.m, self.s).log_prob(x.unsqueeze(-1)) + self.w.log()
        return -torch.logsumexp(comp, dim=-1)

    def denoise(self, x_t: Tensor, logsnr: Tensor) -> Tensor:
        """Exact E[x0 | x_t] (x_t in VP scale, logsnr of shape (B,))."""
        xd = x_t.double()
        alpha, sigma = _coefs(logsnr.double(), xd)
        xe = xd.unsqueeze(-1)
        a, s2 = alpha.unsqueeze(-1), (sigma**2).unsqueeze(-1)
        var = a**2 * self.s**2 + s2  # marginal variance of x_t under component k
        log_resp = self.w.log() - 0.5 * torch.log(2 * math.pi * var) - 0.5 * (xe - a * self.m) ** 2 / var
        resp = torch.softmax(log_resp, dim=-1)
        post_mean = self.m + a * self.s**2 / var * (xe - a * self.m)
        return (resp * post_mean).sum(-1).to(x_t.dtype)


def gaussian(mean: float, std: float) -> GaussianMixture:
    return GaussianMixture([1.0], [mean], [std])
