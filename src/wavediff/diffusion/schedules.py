"""Noise schedules: maps between time ``t`` and ``logsnr``.

Convention (docs/DESIGN.md): ``t`` in [0, 1], ``t = 0`` is clean data and ``t = 1`` is (almost) pure
noise. The forward process is ``x_t = alpha(t) * x_0 + sigma(t) * eps`` with
``alpha^2 + sigma^2 = 1`` (variance preserving) and ``logsnr(t) = log(alpha^2 / sigma^2)``,
strictly decreasing in ``t``.

Every schedule is built from a *raw* monotone map ``u -> logsnr`` on ``u`` in [0, 1] and its
inverse. Clipping to a finite range ``[logsnr_min, logsnr_max]`` is done by mapping ``t``
affinely onto the part of ``u`` whose logsnr lies inside that range, so the clipped schedule
stays smooth and exactly invertible (no flat pieces). An optional ``shift`` (in nats) is added
afterwards: the shifted schedule covers ``[logsnr_min + shift, logsnr_max + shift]``; for
signals longer than the length a schedule was tuned for, ``shift_for_length`` gives
``2 log(base / length)`` (negative: more noise at every t).

All maps work elementwise on float tensors of any shape; they compute in float64 and return
the input's dtype.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Sequence

import torch

Tensor = torch.Tensor


def shift_for_length(base_length: float, length: float) -> float:
    """Logsnr shift (nats) for a signal of ``length`` samples under a schedule tuned for
    ``base_length`` samples: ``2 * log(base_length / length)``."""
    if base_length <= 0 or length <= 0:
        raise ValueError(f"lengths must be positive, got base={base_length}, length={length}")
    return 2.0 * math.log(base_length / length)


def alpha_sigma_from_logsnr(logsnr: Tensor) -> tuple[Tensor, Tensor]:
    """VP coefficients for a logsnr tensor: ``alpha = sqrt(sigmoid(l))``,
    ``sigma = sqrt(sigmoid(-l))``. ``logsnr = +inf`` gives (1, 0)."""
    return torch.sigmoid(logsnr).sqrt(), torch.sigmoid(-logsnr).sqrt()


class Schedule(ABC):
    """A continuous-time noise schedule ``t -> logsnr`` with exact inverse.

    Args:
        logsnr_min: logsnr at ``t = 1`` before the shift (the clip at the noisy end).
        logsnr_max: logsnr at ``t = 0`` before the shift (the clip at the clean end).
        shift: nats added to logsnr everywhere (see ``shift_for_length``).

    When the raw map does not reach a bound (e.g. DiffWave's betas stop at logsnr ~ -1), the
    schedule's own end point is used and ``logsnr_min``/``logsnr_max`` report the real range.
    """

    name: str = "schedule"

    def __init__(self, logsnr_min: float, logsnr_max: float, shift: float = 0.0) -> None:
        if not logsnr_min < logsnr_max:
            raise ValueError(f"need logsnr_min < logsnr_max, got {logsnr_min} >= {logsnr_max}")
        if not math.isfinite(logsnr_min) or not math.isfinite(logsnr_max):
            raise ValueError("logsnr_min and logsnr_max must be finite")
        self._clip_min = float(logsnr_min)
        self._clip_max = float(logsnr_max)
        self.shift = float(shift)
        bounds = self._raw_u(torch.tensor([self._clip_max, self._clip_min], dtype=torch.float64))
        self._u0 = float(bounds[0].clamp(0.0, 1.0))
        self._u1 = float(bounds[1].clamp(0.0, 1.0))
        if not self._u0 < self._u1:
            raise ValueError(
                f"{self.name}: the range [{logsnr_min}, {logsnr_max}] does not overlap the "
                "schedule's own logsnr range"
            )

    # -- raw map, to be provided by each schedule (float64 in, float64 out) ----------------
    @abstractmethod
    def _raw_logsnr(self, u: Tensor) -> Tensor:
        """Strictly decreasing map u in [0, 1] -> logsnr (may be +inf at u = 0)."""

    @abstractmethod
    def _raw_u(self, logsnr: Tensor) -> Tensor:
        """Inverse of ``_raw_logsnr`` (values outside [0, 1] allowed before clamping)."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """Schedule-specific constructor arguments (for ``config``)."""

    # -- public maps --------------------------------------------------------------------
    def logsnr(self, t: Tensor | float) -> Tensor:
        """logsnr(t) for ``t`` in [0, 1] (any shape); strictly decreasing."""
        t = torch.as_tensor(t)
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        u = self._u0 + t.to(torch.float64) * (self._u1 - self._u0)
        return (self._raw_logsnr(u) + self.shift).to(dtype)

    def t_from_logsnr(self, logsnr: Tensor | float) -> Tensor:
        """Inverse of ``logsnr``; values outside the schedule's range are clamped to [0, 1]."""
        logsnr = torch.as_tensor(logsnr)
        dtype = logsnr.dtype if logsnr.is_floating_point() else torch.get_default_dtype()
        u = self._raw_u(logsnr.to(torch.float64) - self.shift)
        t = (u - self._u0) / (self._u1 - self._u0)
        return t.clamp(0.0, 1.0).to(dtype)

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """``(alpha(t), sigma(t))`` with ``alpha^2 + sigma^2 = 1``."""
        return alpha_sigma_from_logsnr(self.logsnr(t))

    def dlogsnr_dt(self, t: Tensor | float) -> Tensor:
        """Derivative d logsnr / dt (negative), by automatic differentiation of ``logsnr``."""
        t = torch.as_tensor(t)
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        with torch.enable_grad():
            t64 = t.detach().to(torch.float64).requires_grad_(True)
            u = self._u0 + t64 * (self._u1 - self._u0)
            (grad,) = torch.autograd.grad(self._raw_logsnr(u).sum(), t64)
        return grad.to(dtype)

    @property
    def logsnr_min(self) -> float:
        """logsnr at t = 1 (shift included)."""
        return float(self.logsnr(torch.tensor(1.0, dtype=torch.float64)))

    @property
    def logsnr_max(self) -> float:
        """logsnr at t = 0 (shift included)."""
        return float(self.logsnr(torch.tensor(0.0, dtype=torch.float64)))

    def config(self) -> dict[str, Any]:
        """A plain dict that ``schedule_from_config`` turns back into this schedule."""
        return {"name": self.name, "logsnr_min": self._clip_min, "logsnr_max": self._clip_max,
                "shift": self.shift, **self._params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class CosineSchedule(Schedule):
    """Cosine schedule (Nichol & Dhariwal 2021) in continuous time:
    ``logsnr = -2 log tan(pi u / 2)``, clipped to [logsnr_min, logsnr_max]."""

    name = "cosine"

    def __init__(self, logsnr_min: float = -15.0, logsnr_max: float = 15.0,
                 shift: float = 0.0) -> None:
        super().__init__(logsnr_min, logsnr_max, shift)

    def _raw_logsnr(self, u: Tensor) -> Tensor:
        return -2.0 * torch.log(torch.tan(0.5 * math.pi * u))

    def _raw_u(self, logsnr: Tensor) -> Tensor:
        return torch.atan(torch.exp(-0.5 * logsnr)) * (2.0 / math.pi)

    def _params(self) -> dict[str, Any]:
        return {}


class LinearBetaSchedule(Schedule):
    """DDPM/DiffWave discrete betas turned into a continuous, invertible schedule.

    With ``N`` betas, ``log alpha_bar`` at ``u = n / N`` is ``C_n = sum_{i<=n} log(1 - beta_i)``
    (``C_0 = 0``); between grid points ``C`` is interpolated linearly, so it is strictly
    decreasing and the discrete ``alpha_bar_n`` are reproduced exactly at ``u = n / N``.
    ``logsnr = C - log(1 - exp(C))`` (``alpha^2 = alpha_bar``). DiffWave's training betas
    ``linspace(1e-4, 0.05, 50)`` end at logsnr ~ -0.95, so ``t = 1`` is not pure noise there:
    that is DiffWave's own choice, kept for fidelity.
    """

    name = "linear_beta"

    def __init__(self, beta_start: float = 1e-4, beta_end: float = 0.05, num_betas: int = 50,
                 logsnr_min: float = -20.0, logsnr_max: float = 20.0, shift: float = 0.0) -> None:
        if not (0.0 < beta_start < 1.0 and 0.0 < beta_end < 1.0) or num_betas < 1:
            raise ValueError("betas must lie in (0, 1) and num_betas >= 1")
        self.beta_start, self.beta_end, self.num_betas = float(beta_start), float(beta_end), int(num_betas)
        betas = torch.linspace(beta_start, beta_end, num_betas, dtype=torch.float64)
        self._cum = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(torch.log1p(-betas), 0)])
        super().__init__(logsnr_min, logsnr_max, shift)

    def _raw_logsnr(self, u: Tensor) -> Tensor:
        n = self.num_betas
        pos = u.clamp(0.0, 1.0) * n
        idx = pos.detach().floor().clamp(max=n - 1).long()
        frac = pos - idx.to(pos.dtype)
        cum = self._cum.to(u.device)
        c = cum[idx] + frac * (cum[idx + 1] - cum[idx])
        return c - torch.log(-torch.expm1(c))

    def _raw_u(self, logsnr: Tensor) -> Tensor:
        c = torch.nn.functional.logsigmoid(logsnr)  # log alpha_bar
        cum = self._cum.to(logsnr.device)
        desc = -cum  # increasing copy for searchsorted
        idx = torch.searchsorted(desc, (-c).contiguous()).clamp(1, self.num_betas) - 1
        frac = (c - cum[idx]) / (cum[idx + 1] - cum[idx])
        return (idx.to(c.dtype) + frac) / self.num_betas

    def _params(self) -> dict[str, Any]:
        return {"beta_start": self.beta_start, "beta_end": self.beta_end, "num_betas": self.num_betas}


class EDMSchedule(Schedule):
    """Karras et al. (2022) sigma ramp: ``sigma_edm(u) = (a + u (b - a))^rho`` with
    ``a = sigma_min^(1/rho)``, ``b = sigma_max^(1/rho)``, and ``logsnr = -2 log sigma_edm``.

    ``sigma_edm = sigma / alpha`` is the noise std of ``x_t / alpha`` (the VE view of the same
    process). Uniform ``t`` reproduces the EDM sampling grid.
    """

    name = "edm"

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                 shift: float = 0.0) -> None:
        if not 0.0 < sigma_min < sigma_max or rho <= 0:
            raise ValueError("need 0 < sigma_min < sigma_max and rho > 0")
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)
        self._a = self.sigma_min ** (1.0 / self.rho)
        self._b = self.sigma_max ** (1.0 / self.rho)
        super().__init__(-2.0 * math.log(self.sigma_max), -2.0 * math.log(self.sigma_min), shift)

    def _raw_logsnr(self, u: Tensor) -> Tensor:
        return -2.0 * self.rho * torch.log(self._a + u * (self._b - self._a))

    def _raw_u(self, logsnr: Tensor) -> Tensor:
        return (torch.exp(-logsnr / (2.0 * self.rho)) - self._a) / (self._b - self._a)

    def _params(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "rho": self.rho}

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        del cfg["logsnr_min"], cfg["logsnr_max"]  # derived from sigma_min / sigma_max
        return cfg


SCHEDULES: dict[str, type[Schedule]] = {
    "cosine": CosineSchedule,
    "linear_beta": LinearBetaSchedule,
    "edm": EDMSchedule,
}


def get_schedule(name: str | Schedule = "cosine", **kwargs: Any) -> Schedule:
    """Build a schedule by name (``cosine``, ``linear_beta``, ``edm``) with keyword overrides,
    e.g. ``get_schedule("cosine", logsnr_min=-12, shift=shift_for_length(16000, 64000))``.
    A ``Schedule`` instance is returned unchanged."""
    if isinstance(name, Schedule):
        if kwargs:
            raise ValueError("keyword overrides need a schedule name, not an instance")
        return name
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}") from None
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for schedule {name!r}: {err}") from None


def schedule_from_config(config: dict[str, Any]) -> Schedule:
    """Inverse of ``Schedule.config()``."""
    config = dict(config)
    if "name" not in config:
        raise ValueError(f"schedule config needs a 'name' key, got {sorted(config)}")
    return get_schedule(config.pop("name"), **config)


def logsnr_from_betas(betas: Sequence[float] | Tensor) -> Tensor:
    """logsnr of the cumulative ``alpha_bar_n = prod_{i<=n} (1 - beta_i)`` for discrete betas,
    in the order given (clean to noisy). Used to place DDPM-style step grids in continuous time."""
    betas = torch.as_tensor(betas, dtype=torch.float64)
    c = torch.cumsum(torch.log1p(-betas), 0)
    return c - torch.log(-torch.expm1(c))
