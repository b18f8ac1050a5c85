"""Few-step distillation maths: progressive distillation and consistency models.

Pure functions on tensors and callables (no ``nn.Module``, no I/O). Conventions as in the
rest of ``wavediff.diffusion``: ``x_t = alpha x_0 + sigma eps`` (variance preserving),
``logsnr = log(alpha^2 / sigma^2)``; the EDM / variance-exploding view of the same process
works on ``x_tilde = x_t / alpha`` with noise level ``sigma_edm = exp(-logsnr / 2)``, so
``x_tilde = x_0 + sigma_edm * eps``. Audio tensors are ``(B, C, T)``; per-example noise
levels are ``(B,)`` tensors (a Python float broadcasts).

Progressive distillation (Salimans & Ho 2022)
--------------------------------------------
A teacher sampled with deterministic DDIM on an ``N``-step logsnr grid is distilled into a
student that takes ``N / 2`` steps on every other point of that grid. At a student position
``t`` (teacher points ``t -> t' -> t''``) the student's regression target is the ``x_0`` for
which ONE DDIM step from ``(z_t, t)`` lands exactly where TWO teacher DDIM steps land:

    x0_tilde = (z_t'' - (sigma_t'' / sigma_t) z_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t).

When ``t''`` is the clean end (``logsnr = +inf``: ``alpha = 1``, ``sigma = 0``) this reduces to
the teacher's final ``x0_hat`` (``progressive_target``). Halving a ``uniform_t`` grid of ``N``
steps gives exactly the ``uniform_t`` grid of ``N / 2`` steps (``t_i = 1 - i / (N/2)``, the
last finite point ``t = 2 / N``), so a student samples with the plain ``sample(..., steps=N/2,
method="ddim")``.

Consistency models (Song et al. 2023; Song & Dhariwal 2023)
-----------------------------------------------------------
A consistency function maps any point of a probability-flow ODE trajectory, in the EDM view,
to the trajectory's end at ``sigma_min``. It is parameterised so that the boundary condition
``f(x, sigma_min) = x`` holds exactly:

    f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(x, sigma),
    c_skip = sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2),
    c_out  = (sigma - sigma_min) sigma_data / sqrt(sigma_data^2 + sigma^2).

With ``sigma_data = 1`` and ``sigma_min -> 0`` these are the coefficients of the
v-parameterisation (``x0_hat = x_tilde / (1 + s^2) - s / sqrt(1 + s^2) v_hat``), so ``F = -v_hat``
of a diffusion network makes the consistency function start out as that network's denoiser
(``v_as_consistency_output``); ``consistency_fn`` builds that function from a network.

Noise levels: ``karras_sigmas`` (rho spacing, ascending), the improved-training curriculum
``ict_num_scales`` (the number of levels doubles from ``s0`` to ``s1`` over training),
``scale_index_probs`` (lognormal over the discretisation, or uniform), the weighting
``1 / (sigma_{i+1} - sigma_i)`` (``consistency_loss_weight``) and the pseudo-Huber distance
(``pseudo_huber``). ``pf_ode_step`` is one Euler or Heun step of a teacher's probability-flow
ODE (consistency distillation); ``consistency_sample`` is the one-step / multistep sampler.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

from .parameterisation import expand_like, target, to_x0_eps
from .schedules import Schedule, alpha_sigma_from_logsnr

Tensor = torch.Tensor
DenoiseFn = Callable[[Tensor, Tensor], Tensor]      # (x_t VP scale, logsnr (B,)) -> x0_hat
EDMDenoiseFn = Callable[[Tensor, Tensor], Tensor]   # (x_tilde, sigma_edm (B,)) -> x0_hat
ConsistencyFn = Callable[[Tensor, Tensor], Tensor]  # (x_tilde, sigma_edm (B,)) -> x at sigma_min

ODE_SOLVERS: tuple[str, ...] = ("heun", "euler")
SCALE_SAMPLINGS: tuple[str, ...] = ("lognormal", "uniform")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _per_example(value: Tensor | float, x: Tensor) -> Tensor:
    """A noise level (scalar or (B,)) as a float64 (B,) tensor on ``x``'s device."""
    v = torch.as_tensor(value, dtype=torch.float64, device=x.device)
    if v.ndim == 0:
        v = v.expand(x.shape[0])
    if v.shape != (x.shape[0],):
        raise ValueError(f"noise level must be a scalar or of shape ({x.shape[0]},), got {tuple(v.shape)}")
    return v


def _vp_coefs(logsnr: Tensor | float, x: Tensor) -> tuple[Tensor, Tensor]:
    """(alpha, sigma) in float64 for a (B,) logsnr, broadcast against ``x``, then cast to its dtype.
    ``logsnr = +inf`` gives exactly (1, 0)."""
    alpha, sigma = alpha_sigma_from_logsnr(_per_example(logsnr, x))
    return expand_like(alpha, x), expand_like(sigma, x)


def sigma_from_logsnr(logsnr: Tensor | float) -> Tensor:
    """EDM noise level ``sigma_edm = exp(-logsnr / 2)`` (``+inf -> 0``)."""
    return torch.exp(-0.5 * torch.as_tensor(logsnr, dtype=torch.float64))


def logsnr_from_sigma(sigma: Tensor | float) -> Tensor:
    """Inverse of ``sigma_from_logsnr``: ``logsnr = -2 log sigma_edm`` (``0 -> +inf``)."""
    return -2.0 * torch.log(torch.as_tensor(sigma, dtype=torch.float64))


def edm_denoiser(denoise_fn: DenoiseFn) -> EDMDenoiseFn:
    """Wrap a VP denoiser ``(x_t, logsnr) -> x0_hat`` as ``(x_tilde, sigma_edm) -> x0_hat``:
    ``x_t = alpha x_tilde`` with ``alpha = 1 / sqrt(1 + sigma_edm^2)``, ``logsnr = -2 log sigma_edm``."""

    def fn(x: Tensor, sigma: Tensor | float) -> Tensor:
        s = _per_example(sigma, x)
        alpha = expand_like(torch.rsqrt(1.0 + s * s), x)
        return denoise_fn(x * alpha, logsnr_from_sigma(s).to(x.dtype))

    return fn


# --------------------------------------------------------------------------------------------
# progressive distillation
# --------------------------------------------------------------------------------------------
def ddim_step(x0_hat: Tensor, x_t: Tensor, logsnr_t: Tensor | float, logsnr_s: Tensor | float) -> Tensor:
    """One deterministic DDIM step (eta = 0) from ``x_t`` at ``logsnr_t`` to ``logsnr_s``.

    ``x_s = alpha_s x0_hat + sigma_s eps_hat`` with ``eps_hat = (x_t - alpha_t x0_hat) / sigma_t``;
    ``logsnr_s = +inf`` returns ``x0_hat``. Shapes: ``x0_hat``, ``x_t`` (B, C, T); noise
    levels scalars or (B,). Coefficients are computed in float64."""
    a_t, s_t = _vp_coefs(logsnr_t, x_t)
    a_s, s_s = _vp_coefs(logsnr_s, x_t)
    eps = (x_t - a_t * x0_hat) / s_t
    return a_s * x0_hat + s_s * eps


def x0_for_ddim_endpoint(z_s: Tensor, x_t: Tensor, logsnr_t: Tensor | float, logsnr_s: Tensor | float) -> Tensor:
    """The ``x0`` for which one DDIM step from ``(x_t, logsnr_t)`` lands exactly on ``z_s`` at
    ``logsnr_s`` (> ``logsnr_t``):
    ``x0 = (z_s - (sigma_s / sigma_t) x_t) / (alpha_s - (sigma_s / sigma_t) alpha_t)``.
    At the clean end (``logsnr_s = +inf``) this is ``z_s`` itself."""
    a_t, s_t = _vp_coefs(logsnr_t, x_t)
    a_s, s_s = _vp_coefs(logsnr_s, x_t)
    ratio = s_s / s_t
    return (z_s - ratio * x_t) / (a_s - ratio * a_t)


def progressive_target(denoise_fn: DenoiseFn, x_t: Tensor, logsnr_t: Tensor | float,
                       logsnr_mid: Tensor | float, logsnr_next: Tensor | float) -> Tensor:
    """The student's ``x0`` target at ``(x_t, logsnr_t)``: two teacher DDIM steps
    ``logsnr_t -> logsnr_mid -> logsnr_next`` condensed into one.

    Args:
        denoise_fn: the teacher ``(x_t, logsnr (B,)) -> x0_hat`` (conditioning and guidance
            bound); called twice, with ``logsnr`` cast to ``x_t``'s dtype.
        x_t: (B, C, T) noisy input in VP scale.
        logsnr_t, logsnr_mid, logsnr_next: increasing noise levels, scalars or (B,);
            ``logsnr_next`` may be ``+inf`` (the last student step), then the target is the
            teacher's final ``x0_hat`` at ``logsnr_mid``.

    Returns:
        ``x0_tilde`` (B, C, T): one student DDIM step with ``x0_hat = x0_tilde`` reproduces
        the teacher's ``z_next`` exactly (up to rounding).
    """
    l_t, l_mid, l_next = (_per_example(v, x_t) for v in (logsnr_t, logsnr_mid, logsnr_next))
    if not (torch.all(l_mid > l_t) and torch.all(l_next > l_mid)):
        raise ValueError("progressive_target needs logsnr_t < logsnr_mid < logsnr_next")
    x0_a = denoise_fn(x_t, l_t.to(x_t.dtype))
    z_mid = ddim_step(x0_a, x_t, l_t, l_mid)
    x0_b = denoise_fn(z_mid, l_mid.to(x_t.dtype))
    z_next = ddim_step(x0_b, z_mid, l_mid, l_next)
    # at the clean end (alpha, sigma) = (1, 0): the closed form returns z_next = x0_b exactly
    return x0_for_ddim_endpoint(z_next, x_t, l_t, l_next)


def progressive_rounds(teacher_steps: int, target_steps: int) -> list[int]:
    """Student step counts of the rounds ``N -> N/2 -> ... -> target``: e.g. (64, 4) ->
    [32, 16, 8, 4]. ``teacher_steps`` must be ``target_steps * 2**r`` with ``r >= 1``."""
    if target_steps < 1 or teacher_steps <= target_steps:
        raise ValueError(f"need teacher_steps > target_steps >= 1, got {teacher_steps} and {target_steps}")
    rounds, k = [], teacher_steps
    while k > target_steps:
        if k % 2:
            raise ValueError(f"teacher_steps={teacher_steps} is not target_steps={target_steps} times a power of two")
        k //= 2
        rounds.append(k)
    if k != target_steps:
        raise ValueError(f"teacher_steps={teacher_steps} is not target_steps={target_steps} times a power of two")
    return rounds


def progressive_positions(teacher_grid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For a teacher grid of ``N + 1`` logsnr values (ascending, last ``+inf``), the ``N / 2``
    student positions ``(logsnr_t, logsnr_mid, logsnr_next)``, each a float64 tensor (N/2,).

    This is the one way a grid is halved: ``logsnr_t`` (every other teacher point) is the
    student's grid, its finite points, and ``logsnr_next[-1]`` its clean end."""
    g = torch.as_tensor(teacher_grid, dtype=torch.float64)
    if (g.numel() - 1) % 2 or g.numel() < 3:
        raise ValueError(f"the teacher grid needs an even number of steps, got {g.numel() - 1}")
    return g[0:-1:2].clone(), g[1::2].clone(), g[2::2].clone()


# --------------------------------------------------------------------------------------------
# consistency models
# --------------------------------------------------------------------------------------------
def consistency_coefficients(sigma: Tensor | float, sigma_min: float = 0.002,
                             sigma_data: float = 0.5) -> tuple[Tensor, Tensor]:
    """``(c_skip, c_out)`` of the boundary-condition parameterisation (float64, shape of sigma):
    ``c_skip = sd^2 / ((s - s_min)^2 + sd^2)``, ``c_out = (s - s_min) sd / sqrt(sd^2 + s^2)``.
    ``c_skip(s_min) = 1``, ``c_out(s_min) = 0``; as ``s -> inf``: ``c_skip -> 0``, ``c_out -> sd``."""
    s = torch.as_tensor(sigma, dtype=torch.float64)
    sd2 = sigma_data * sigma_data
    c_skip = sd2 / ((s - sigma_min) ** 2 + sd2)
    c_out = (s - sigma_min) * sigma_data / torch.sqrt(sd2 + s * s)
    return c_skip, c_out


def consistency_function(F: Callable[[Tensor, Tensor], Tensor], x: Tensor, sigma: Tensor | float,
                         sigma_min: float = 0.002, sigma_data: float = 0.5) -> Tensor:
    """``f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(x, sigma)`` in the EDM view.

    ``F(x_tilde (B, C, T), sigma (B,) in x's dtype) -> (B, C, T)``; ``f(x, sigma_min) == x``
    exactly whatever ``F`` returns (as long as it is finite)."""
    s = _per_example(sigma, x)
    c_skip, c_out = consistency_coefficients(s, sigma_min, sigma_data)
    return expand_like(c_skip, x) * x + expand_like(c_out, x) * F(x, s.to(x.dtype))


def v_as_consistency_output(parameterisation: str, out: Tensor, x_t: Tensor, alpha: Tensor,
                            sigma: Tensor) -> Tensor:
    """``F = -v_hat`` for a network output ``out`` in ``parameterisation`` at VP input ``x_t``.

    With ``sigma_data = 1`` and ``sigma_min = 0``, ``c_skip x_tilde + c_out F`` is then exactly the
    network's own ``x0_hat``; with ``sigma_min > 0`` it differs by ``O(sigma_min)`` but meets the
    boundary condition. ``alpha``, ``sigma`` broadcast against ``x_t`` (VP coefficients)."""
    x0_hat, eps_hat = to_x0_eps(parameterisation, out, x_t, alpha, sigma)
    return -target("v", x0_hat, eps_hat, alpha, sigma)


def consistency_fn(net: Callable[..., Tensor], parameterisation: str, sigma_min: float, sigma_data: float,
                   cond: dict[str, Any] | None = None) -> ConsistencyFn:
    """The consistency function ``f(x_tilde, sigma) = c_skip x_tilde + c_out F(x_tilde, sigma)`` of a
    diffusion network, in the EDM view (``x_tilde = x_t / alpha``, ``sigma = exp(-logsnr / 2)``).

    ``F = -v_hat``: the network sees ``x_t = x_tilde / sqrt(1 + sigma^2)`` at
    ``logsnr = -2 log sigma`` (as ``net(x_t, logsnr, **cond)``) and its output (in
    ``parameterisation``) is converted to ``v``. With ``sigma_data = 1`` the function starts
    out as the network's own denoiser (up to the ``sigma_min`` shift). Shapes: ``x_tilde``
    (B, C, T), ``sigma`` (B,)."""
    cond = cond or {}

    def F(x: Tensor, sigma: Tensor) -> Tensor:
        s64 = sigma.double()
        alpha = torch.rsqrt(1.0 + s64 * s64)
        a, s = expand_like(alpha, x), expand_like(s64 * alpha, x)
        x_t = a * x
        out = net(x_t, logsnr_from_sigma(s64).to(x.dtype), **cond)
        return v_as_consistency_output(parameterisation, out, x_t, a, s)

    return lambda x, sigma: consistency_function(F, x, sigma, sigma_min, sigma_data)


def karras_sigmas(num: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """``num`` noise levels, ascending, ``sigma_i = (a + i/(num-1) (b - a))^rho`` with
    ``a = sigma_min^(1/rho)``, ``b = sigma_max^(1/rho)`` (both ends included); float64 (num,)."""
    if num < 2:
        raise ValueError(f"need at least 2 noise levels, got {num}")
    if not 0.0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    a, b = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    ramp = torch.linspace(0.0, 1.0, num, dtype=torch.float64)
    sig = (a + ramp * (b - a)) ** rho
    sig[0], sig[-1] = sigma_min, sigma_max
    return sig


def ict_num_scales(step: int, total_steps: int, s0: int = 10, s1: int = 1280) -> int:
    """Number of noise levels ``N(k)`` of the improved consistency-training curriculum
    (Song & Dhariwal 2023): ``min(s0 * 2^floor(k / K'), s1) + 1`` with
    ``K' = floor(K / (log2(floor(s1 / s0)) + 1))``; ``k`` the training step, ``K`` the total."""
    if s0 < 1 or s1 < s0:
        raise ValueError(f"need 1 <= s0 <= s1, got {s0}, {s1}")
    k_prime = max(1, math.floor(total_steps / (math.log2(math.floor(s1 / s0)) + 1)))
    return int(min(s0 * 2 ** (step // k_prime), s1)) + 1


def scale_index_probs(sigmas: Tensor, method: str = "lognormal", p_mean: float = -1.1,
                      p_std: float = 2.0) -> Tensor:
    """Probabilities of the ``N - 1`` adjacent pairs ``(sigma_i, sigma_{i+1})`` of an ascending
    grid of ``N`` levels: ``uniform``, or ``lognormal`` (the mass of ``ln sigma ~ N(p_mean, p_std^2)``
    between ``sigma_i`` and ``sigma_{i+1}``, renormalised; Song & Dhariwal 2023). float64 (N-1,)."""
    s = torch.as_tensor(sigmas, dtype=torch.float64)
    if method == "uniform":
        return torch.full((s.numel() - 1,), 1.0 / (s.numel() - 1), dtype=torch.float64)
    if method != "lognormal":
        raise ValueError(f"unknown noise-level sampling {method!r}; choose one of {list(SCALE_SAMPLINGS)}")
    cdf = torch.special.erf((torch.log(s) - p_mean) / (math.sqrt(2.0) * p_std))
    mass = (cdf[1:] - cdf[:-1]).clamp(min=0.0)
    if float(mass.sum()) <= 0.0:
        raise ValueError("the lognormal density has no mass on this sigma grid")
    return mass / mass.sum()


def sample_scale_indices(batch: int, probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``batch`` pair indices ``i`` (int64 (batch,), on the generator's device) from ``probs``."""
    device = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(device), batch, replacement=True, generator=generator)


def consistency_loss_weight(sigma_lo: Tensor, sigma_hi: Tensor) -> Tensor:
    """The improved weighting ``lambda(sigma_i) = 1 / (sigma_{i+1} - sigma_i)``."""
    return 1.0 / (torch.as_tensor(sigma_hi) - torch.as_tensor(sigma_lo))


def pseudo_huber(x: Tensor, y: Tensor, c: float = 0.00054) -> Tensor:
    """Pseudo-Huber distance per example in per-sample units, (B,).

    Song & Dhariwal (2023) use ``sqrt(||x - y||^2 + c_d^2) - c_d`` with ``c_d = 0.00054 sqrt(d)`` on
    the full ``d``-dimensional example. For audio ``d = C * T`` (channels x samples) grows with
    the crop length, so here that quantity is divided by ``sqrt(d)``:
    ``sqrt(mean((x - y)^2) + c^2) - c`` with ``c = 0.00054``. It has the same minimiser and
    the same L2-to-L1 transition (at an RMS error of ``c`` per sample) and does not change
    scale with the segment length."""
    diff = x - y
    if diff.dtype in (torch.float16, torch.bfloat16):
        diff = diff.float()
    mse = diff.pow(2).flatten(1).mean(1)
    return torch.sqrt(mse + c * c) - c


def pf_ode_step(denoise_edm: EDMDenoiseFn, x: Tensor, sigma_from: Tensor | float, sigma_to: Tensor | float,
                solver: str = "heun") -> Tensor:
    """One step of the probability-flow ODE ``dx/dsigma = (x - D(x, sigma)) / sigma`` in the
    EDM view, from ``sigma_from`` to ``sigma_to`` (both > 0, per example (B,) or scalars).

    ``euler`` uses one evaluation of ``denoise_edm``; ``heun`` (Karras et al. 2022) adds a
    second one at ``sigma_to`` and averages the slopes (local error O(h^3))."""
    if solver not in ODE_SOLVERS:
        raise ValueError(f"unknown ODE solver {solver!r}; choose one of {list(ODE_SOLVERS)}")
    s0, s1 = _per_example(sigma_from, x), _per_example(sigma_to, x)
    if torch.any(s0 <= 0) or torch.any(s1 <= 0):
        raise ValueError("pf_ode_step needs sigma > 0 at both ends")
    h = expand_like(s1 - s0, x)
    d0 = (x - denoise_edm(x, s0.to(x.dtype))) / expand_like(s0, x)
    x_next = x + h * d0
    if solver == "euler":
        return x_next
    d1 = (x_next - denoise_edm(x_next, s1.to(x.dtype))) / expand_like(s1, x)
    return x + h * 0.5 * (d0 + d1)


def consistency_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> list[float]:
    """Default noise levels of a ``steps``-step consistency sampler: the first ``steps`` points
    of a descending Karras ramp of ``steps + 1`` levels from ``sigma_max`` to ``sigma_min``
    (1 step: ``[sigma_max]``)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return karras_sigmas(steps + 1, sigma_min, sigma_max, rho).flip(0)[:steps].tolist()


def consistency_sample(
    f: ConsistencyFn,
    shape: Sequence[int],
    sigmas: Sequence[float],
    generator: torch.Generator | None = None,
    *,
    sigma_min: float = 0.002,
    x_init: Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """One-step / multistep consistency sampling (Song et al. 2023, Algorithm 1).

    ``x = f(sigmas[0] * z, sigmas[0])``; then for each later level ``s``:
    ``x = f(x + sqrt(s^2 - sigma_min^2) z', s)`` with fresh noise ``z'``.

    Args:
        f: consistency function ``(x_tilde (B, C, T), sigma (B,)) -> x`` (EDM view, conditioning
            bound).
        shape: (B, C, T) of the output.
        sigmas: decreasing noise levels, ``len(sigmas)`` network evaluations.
        generator: source of the initial and the injected noise.
        sigma_min: the consistency function's boundary level.
        x_init: the starting point at ``sigmas[0]`` in the EDM scale (instead of
            ``sigmas[0] * z``).

    Returns:
        Samples of ``shape`` and ``dtype`` (in the data scale, at ``sigma_min``).
    """
    sig = [float(s) for s in sigmas]
    if not sig:
        raise ValueError("consistency_sample needs at least one noise level")
    if any(b >= a for a, b in zip(sig[:-1], sig[1:])) or sig[-1] <= sigma_min:
        raise ValueError(f"sigmas must decrease and stay above sigma_min={sigma_min}, got {sig}")
    gen_device = generator.device if generator is not None else None
    if x_init is not None:
        if tuple(x_init.shape) != tuple(shape):
            raise ValueError(f"x_init has shape {tuple(x_init.shape)}, expected {tuple(shape)}")
        device = x_init.device if device is None else torch.device(device)
        x = x_init.to(device=device, dtype=dtype)
    else:
        device = torch.device(device) if device is not None else torch.device("cpu")
        x = sig[0] * torch.randn(tuple(shape), generator=generator, device=gen_device or device, dtype=dtype).to(device)

    def level(s: float) -> Tensor:
        return torch.full((shape[0],), s, device=device, dtype=dtype)

    x = f(x, level(sig[0]))
    for s in sig[1:]:
        z = torch.randn(tuple(shape), generator=generator, device=gen_device or device, dtype=dtype).to(device)
        x = f(x + math.sqrt(s * s - sigma_min * sigma_min) * z, level(s))
    return x.to(dtype)


def sigma_range(schedule: Schedule, sigma_min: float | None = None, sigma_max: float | None = None,
                default: tuple[float, float] = (0.002, 80.0)) -> tuple[float, float]:
    """Consistency-model noise range inside a schedule's range: ``None`` entries default to
    ``default`` clipped to ``[exp(-logsnr_max/2), exp(-logsnr_min/2)]`` (a network trained on
    the schedule has never seen noise levels outside it)."""
    lo = math.exp(-0.5 * schedule.logsnr_max)
    hi = math.exp(-0.5 * schedule.logsnr_min)
    s_min = float(sigma_min) if sigma_min is not None else min(max(default[0], lo), hi)
    s_max = float(sigma_max) if sigma_max is not None else max(min(default[1], hi), lo)
    if not 0.0 < s_min < s_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {s_min}, {s_max}")
    return s_min, s_max
