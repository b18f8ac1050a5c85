"""Network output parameterisations and every conversion between them, in one place.

Convention: ``x_t = alpha * x_0 + sigma * eps`` with ``alpha^2 + sigma^2 = 1`` and
``v = alpha * eps - sigma * x_0`` (Salimans & Ho 2022). A network predicts one of
``eps``, ``x0`` or ``v``; everything downstream consumes ``x0_hat = E[x_0 | x_t]``.

``alpha`` and ``sigma`` broadcast against ``x_t``; use ``expand_like`` to turn per-example
``(B,)`` coefficients into ``(B, 1, 1)``.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import torch

from .schedules import alpha_sigma_from_logsnr

Tensor = torch.Tensor
Parameterisation = Literal["eps", "x0", "v"]
PARAMETERISATIONS: tuple[str, ...] = ("eps", "x0", "v")


def check_parameterisation(name: str) -> str:
    if name not in PARAMETERISATIONS:
        raise ValueError(f"unknown parameterisation {name!r}; choose one of {list(PARAMETERISATIONS)}")
    return name


def expand_like(coef: Tensor, x: Tensor) -> Tensor:
    """Reshape per-example coefficients ``(B,)`` to ``(B, 1, ..., 1)`` matching ``x``'s rank."""
    coef = torch.as_tensor(coef, device=x.device)
    if coef.ndim == 0:
        return coef.to(x.dtype)
    return coef.to(x.dtype).reshape(coef.shape + (1,) * (x.ndim - coef.ndim))


def target(parameterisation: str, x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The regression target of a parameterisation for clean ``x0`` and noise ``eps``."""
    check_parameterisation(parameterisation)
    if parameterisation == "eps":
        return eps
    if parameterisation == "x0":
        return x0
    return alpha * eps - sigma * x0


def to_x0_eps(parameterisation: str, out: Tensor, x_t: Tensor, alpha: Tensor,
              sigma: Tensor) -> tuple[Tensor, Tensor]:
    """Convert a network output into ``(x0_hat, eps_hat)`` given ``x_t``.

    Division by ``alpha`` (eps) or ``sigma`` (x0) is exact but amplifies errors at the extreme
    noise levels; that is why ``v`` is the recommended default."""
    check_parameterisation(parameterisation)
    if parameterisation == "eps":
        return (x_t - sigma * out) / alpha, out
    if parameterisation == "x0":
        return out, (x_t - alpha * out) / sigma
    return alpha * x_t - sigma * out, sigma * x_t + alpha * out


def from_x0(parameterisation: str, x0_hat: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The network output that corresponds to a given ``x0_hat`` at ``x_t`` (inverse of
    ``to_x0_eps``); used to build distillation targets in the student's parameterisation."""
    check_parameterisation(parameterisation)
    if parameterisation == "x0":
        return x0_hat
    eps_hat = (x_t - alpha * x0_hat) / sigma
    if parameterisation == "eps":
        return eps_hat
    return alpha * eps_hat - sigma * x0_hat


def eps_mse_factor(parameterisation: str, logsnr: Tensor) -> Tensor:
    """Factor ``f`` with ``eps-MSE = f * MSE in the parameterisation's own space``.

    From ``x0 - x0_hat = -(sigma/alpha)(eps - eps_hat)`` and
    ``v - v_hat = (eps - eps_hat) / alpha``: x0-MSE = eps-MSE * exp(-logsnr) and
    v-MSE = eps-MSE / alpha^2, hence f = 1 (eps), exp(logsnr) (x0), alpha^2 = sigmoid(logsnr) (v).
    """
    check_parameterisation(parameterisation)
    if parameterisation == "eps":
        return torch.ones_like(logsnr)
    if parameterisation == "x0":
        return torch.exp(logsnr)
    return torch.sigmoid(logsnr)


class Denoiser:
    """Turns a network of any parameterisation into ``x0_hat = f(x_t, logsnr, **cond)``.

    Args:
        net: callable ``net(x_t, logsnr, **cond) -> output`` with ``x_t`` of shape (B, C, T)
            and ``logsnr`` of shape (B,); the output has the shape of ``x_t``.
        parameterisation: what ``net`` predicts: ``eps``, ``x0`` or ``v``.
        clip_x0: if given, ``x0_hat`` is clamped to ``[-clip_x0, clip_x0]`` (audio lives in
            [-1, 1]; clamping helps eps-prediction at very low logsnr).

    This is a plain callable (not an ``nn.Module``): it holds a reference to ``net``.
    """

    def __init__(self, net: Callable[..., Tensor], parameterisation: str = "v",
                 clip_x0: float | None = None) -> None:
        self.net = net
        self.parameterisation = check_parameterisation(parameterisation)
        self.clip_x0 = clip_x0

    def predict(self, x_t: Tensor, logsnr: Tensor, **cond: Any) -> tuple[Tensor, Tensor]:
        """``(x0_hat, eps_hat)`` for a batch; ``logsnr`` is (B,) or a scalar."""
        logsnr = torch.as_tensor(logsnr, device=x_t.device, dtype=x_t.dtype)
        if logsnr.ndim == 0:
            logsnr = logsnr.expand(x_t.shape[0])
        alpha, sigma = alpha_sigma_from_logsnr(logsnr)
        a, s = expand_like(alpha, x_t), expand_like(sigma, x_t)
        out = self.net(x_t, logsnr, **cond)
        x0_hat, eps_hat = to_x0_eps(self.parameterisation, out, x_t, a, s)
        if self.clip_x0 is not None:
            x0_hat = x0_hat.clamp(-self.clip_x0, self.clip_x0)
            eps_hat = (x_t - a * x0_hat) / s
        return x0_hat, eps_hat

    def __call__(self, x_t: Tensor, logsnr: Tensor, **cond: Any) -> Tensor:
        return self.predict(x_t, logsnr, **cond)[0]
