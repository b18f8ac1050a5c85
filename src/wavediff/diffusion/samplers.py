"""Samplers: all of them consume the same ``denoise_fn(x_t, logsnr) -> x0_hat`` and a step
grid chosen at sampling time (``grids.step_grid``).

``x_t`` is always handed to ``denoise_fn`` in the variance-preserving scale
(``x_t = alpha x_0 + sigma eps``) with ``logsnr`` of shape (B,). Samplers that think in the
EDM / variance-exploding view work on ``x_tilde = x_t / alpha`` with
``sigma_edm = exp(-logsnr / 2)`` and convert at the network boundary: it is one process.

Methods:

* ``ddim`` (eta = 0 deterministic; eta = 1 is ancestral): Song et al. 2021.
* ``ddpm``: ancestral sampling from the exact Gaussian posterior ``q(x_s | x_t, x0_hat)``.
* ``euler`` / ``heun``: the probability-flow ODE ``dx_tilde/dsigma = (x_tilde - D)/sigma``
  (Karras et al. 2022). Heun adds a second evaluation on every step but the last.
* ``sde``: the reverse SDE in sigma, Euler-Maruyama:
  ``x' = x + (1 - sigma'^2/sigma^2)(D - x) + sqrt(sigma^2 - sigma'^2) z``.
* ``dpmpp_2m``: DPM-Solver++(2M) (Lu et al. 2022), multistep second order in data prediction.

Every method's final step (to logsnr = +inf) returns ``x0_hat`` without added noise.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from .grids import step_grid
from .schedules import Schedule

Tensor = torch.Tensor
DenoiseFn = Callable[[Tensor, Tensor], Tensor]
StepCallback = Callable[[int, Tensor, Tensor], None]

SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "euler", "heun", "sde", "dpmpp_2m")
# Default grids, measured on a two-Gaussian mixture with its exact denoiser at 8, 12 and 16
# steps (benchmarks/sampling_grids.py: the grid with the smallest summed error). The Karras
# grid spends most steps at sigma > 9 on logsnr -15..15, where nothing is decided yet.
DEFAULT_GRID: dict[str, str] = {method: "uniform_t" for method in SAMPLERS}
DEFAULT_GRID["sde"] = "uniform_logsnr"
_SCHEDULE_GRIDS: dict[str, dict[str, str]] = {
    "cosine": DEFAULT_GRID,
    "linear_beta": {**{m: "uniform_t" for m in SAMPLERS}, "ddim": "karras", "euler": "karras",
                    "dpmpp_2m": "uniform_logsnr"},
    "edm": {**{m: "uniform_t" for m in SAMPLERS}, "dpmpp_2m": "uniform_logsnr"},
}


def default_grid(method: str, schedule: Schedule | str | None = None) -> str:
    """The grid a sampler uses when none is named, on ``schedule`` (a Schedule or its name;
    ``None`` or an unmeasured schedule: ``DEFAULT_GRID``, measured on ``cosine``)."""
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {list(SAMPLERS)}")
    name = schedule.name if isinstance(schedule, Schedule) else schedule
    return _SCHEDULE_GRIDS.get(name or "cosine", DEFAULT_GRID)[method]


def nfe(method: str, steps: int) -> int:
    """Network evaluations of a ``steps``-step run of ``method``."""
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {list(SAMPLERS)}")
    return 2 * steps - 1 if method == "heun" else steps


class _Noise:
    """Standard normal draws from an optional generator, moved to the sampling device."""

    def __init__(self, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> None:
        self.generator, self.device, self.dtype = generator, device, dtype

    def __call__(self, shape: Sequence[int]) -> Tensor:
        gen_device = self.generator.device if self.generator is not None else self.device
        return torch.randn(tuple(shape), generator=self.generator, device=gen_device,
                           dtype=self.dtype).to(self.device)


def _vp(logsnr: float) -> tuple[float, float]:
    """(alpha, sigma) for a scalar logsnr (``+inf`` -> (1, 0))."""
    if math.isinf(logsnr):
        return 1.0, 0.0
    return math.sqrt(1.0 / (1.0 + math.exp(-logsnr))), math.sqrt(1.0 / (1.0 + math.exp(logsnr)))


def _sigma_edm(logsnr: float) -> float:
    return 0.0 if math.isinf(logsnr) else math.exp(-0.5 * logsnr)


class _Evaluator:
    """Calls ``denoise_fn`` with a (B,) logsnr tensor, in VP or in the sigma (VE) view."""

    def __init__(self, denoise_fn: DenoiseFn, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        self.fn, self.batch, self.device, self.dtype = denoise_fn, batch, device, dtype

    def vp(self, x: Tensor, logsnr: float) -> Tensor:
        l = torch.full((self.batch,), logsnr, device=self.device, dtype=self.dtype)
        return self.fn(x, l)

    def ve(self, x_tilde: Tensor, logsnr: float) -> Tensor:
        alpha, _ = _vp(logsnr)
        return self.vp(x_tilde * alpha, logsnr)


def _ddim(ev: _Evaluator, x: Tensor, grid: list[float], eta: float, noise: _Noise,
          callback: StepCallback | None) -> Tensor:
    for i in range(len(grid) - 1):
        ls, lt = grid[i], grid[i + 1]
        a_s, s_s = _vp(ls)
        x0 = ev.vp(x, ls)
        if callback is not None:
            callback(i, x, x0)
        if math.isinf(lt):
            return x0
        eps = (x - a_s * x0) / s_s
        a_t, s_t = _vp(lt)
        # posterior std of q(x_t | x_s, x0): sigma_t^2 (1 - SNR_s / SNR_t)
        c = eta * s_t * math.sqrt(-math.expm1(ls - lt))
        x = a_t * x0 + math.sqrt(max(s_t**2 - c**2, 0.0)) * eps
        if c > 0:
            x = x + c * noise(x.shape)
    return x


def _euler_heun(ev: _Evaluator, x: Tensor, grid: list[float], heun: bool,
                callback: StepCallback | None) -> Tensor:
    x = x / _vp(grid[0])[0]
    for i in range(len(grid) - 1):
        s, s_next = _sigma_edm(grid[i]), _sigma_edm(grid[i + 1])
        denoised = ev.ve(x, grid[i])
        if callback is not None:
            callback(i, x * _vp(grid[i])[0], denoised)
        d = (x - denoised) / s
        x_next = x + (s_next - s) * d
        if heun and s_next > 0:
            d2 = (x_next - ev.ve(x_next, grid[i + 1])) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d2)
        x = x_next
    return x


def _sde(ev: _Evaluator, x: Tensor, grid: list[float], noise: _Noise,
         callback: StepCallback | None) -> Tensor:
    x = x / _vp(grid[0])[0]
    for i in range(len(grid) - 1):
        s, s_next = _sigma_edm(grid[i]), _sigma_edm(grid[i + 1])
        denoised = ev.ve(x, grid[i])
        if callback is not None:
            callback(i, x * _vp(grid[i])[0], denoised)
        if s_next == 0.0:
            return denoised
        var = s * s - s_next * s_next
        x = x + (var / (s * s)) * (denoised - x) + math.sqrt(var) * noise(x.shape)
    return x


def _dpmpp_2m(ev: _Evaluator, x: Tensor, grid: list[float], callback: StepCallback | None) -> Tensor:
    x = x / _vp(grid[0])[0]
    old_denoised: Tensor | None = None
    h_last = 0.0
    for i in range(len(grid) - 1):
        s, s_next = _sigma_edm(grid[i]), _sigma_edm(grid[i + 1])
        denoised = ev.ve(x, grid[i])
        if callback is not None:
            callback(i, x * _vp(grid[i])[0], denoised)
        if s_next == 0.0:
            return denoised
        h = 0.5 * (grid[i + 1] - grid[i])  # step in lambda = log(alpha/sigma) = logsnr/2
        if old_denoised is None:
            d = denoised
        else:
            r = h_last / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (s_next / s) * x - math.expm1(-h) * d
        old_denoised, h_last = denoised, h
    return x


def sample(
    denoise_fn: DenoiseFn,
    shape: Sequence[int],
    schedule: Schedule,
    steps: int | None = None,
    method: str = "ddim",
    *,
    grid: str | None = None,
    logsnr_grid: Sequence[float] | Tensor | None = None,
    eta: float = 0.0,
    rho: float = 7.0,
    generator: torch.Generator | None = None,
    x_init: Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    callback: StepCallback | None = None,
) -> Tensor:
    """Draw samples of ``shape`` (e.g. (n, 1, length)) with any step count.

    Args:
        denoise_fn: ``(x_t, logsnr) -> x0_hat``; ``x_t`` in VP scale, ``logsnr`` of shape (B,).
            Bind conditioning (mel, class, guidance) before passing it in.
        schedule: supplies the logsnr range of the grid.
        steps: number of grid intervals (network evaluations for first-order methods;
            ``nfe(method, steps)`` gives the exact count).
        method: one of ``SAMPLERS``.
        grid: ``uniform_t``, ``uniform_logsnr``, ``karras`` or a named grid; defaults per
            method and schedule (``default_grid``). ``logsnr_grid`` gives explicit logsnr values instead.
        eta: DDIM noise (0 deterministic, 1 ancestral); only for ``ddim``.
        generator: source of the initial noise and of per-step noise (stochastic methods).
        x_init: starting point at the first grid logsnr (VP scale) instead of fresh noise,
            e.g. the output of ``encode``.
        callback: called as ``callback(step_index, x_t, x0_hat)`` after each evaluation
            (progress bars, trajectories).

    Returns:
        A tensor of ``shape`` and ``dtype`` on ``device``: the samples at logsnr = +inf.
    """
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {list(SAMPLERS)}")
    if eta and method != "ddim":
        raise ValueError("eta is a ddim option; ddpm is eta = 1, the ODE samplers have no eta")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    grid_values = step_grid(schedule, steps, grid or default_grid(method, schedule), rho=rho,
                            logsnr_grid=logsnr_grid).tolist()
    if x_init is not None:
        if tuple(x_init.shape) != tuple(shape):
            raise ValueError(f"x_init has shape {tuple(x_init.shape)}, expected {tuple(shape)}")
        device = x_init.device if device is None else torch.device(device)
        x = x_init.to(device=device, dtype=dtype)
    else:
        device = torch.device(device) if device is not None else torch.device("cpu")
        x = _Noise(generator, device, dtype)(shape)
    noise = _Noise(generator, device, dtype)
    ev = _Evaluator(denoise_fn, int(shape[0]), device, dtype)
    if method in ("ddim", "ddpm"):
        return _ddim(ev, x, grid_values, 1.0 if method == "ddpm" else eta, noise, callback)
    if method in ("euler", "heun"):
        return _euler_heun(ev, x, grid_values, method == "heun", callback)
    if method == "sde":
        return _sde(ev, x, grid_values, noise, callback)
    return _dpmpp_2m(ev, x, grid_values, callback)


def encode(
    denoise_fn: DenoiseFn,
    x0: Tensor,
    schedule: Schedule,
    steps: int | None = None,
    method: str = "heun",
    *,
    grid: str = "karras",
    logsnr_grid: Sequence[float] | Tensor | None = None,
    rho: float = 7.0,
) -> Tensor:
    """Run the probability-flow ODE from data to noise (DDIM inversion).

    Integrates ``dx_tilde/dsigma = (x_tilde - D)/sigma`` upwards along the same grid that
    ``sample`` walks down, starting from ``x0`` placed at the grid's smallest sigma. Decode
    with ``sample(..., method=same, grid=same, steps=same, x_init=encode(...))``.

    Args:
        method: ``heun`` (second order) or ``euler`` (``ddim`` is accepted as an alias of
            ``euler``: deterministic DDIM is Euler in sigma).
        grid: use a grid whose finest point is nearly clean (``karras`` or
            ``uniform_logsnr``); with ``uniform_t`` the finest point is at ``t = 1/steps``
            and the inversion is crude.

    Returns:
        ``x_T`` in VP scale at the grid's first (noisiest) logsnr, shape of ``x0``.
    """
    if method not in ("heun", "euler", "ddim"):
        raise ValueError(f"encode supports 'heun', 'euler' and 'ddim', got {method!r}")
    values = step_grid(schedule, steps, grid, rho=rho, logsnr_grid=logsnr_grid).tolist()[:-1]
    ev = _Evaluator(denoise_fn, x0.shape[0], x0.device, x0.dtype)
    x = x0.clone()
    for i in range(len(values) - 1, 0, -1):
        s, s_next = _sigma_edm(values[i]), _sigma_edm(values[i - 1])
        d = (x - ev.ve(x, values[i])) / s
        x_next = x + (s_next - s) * d
        if method == "heun":
            d2 = (x_next - ev.ve(x_next, values[i - 1])) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d2)
        x = x_next
    return x * _vp(values[0])[0]
