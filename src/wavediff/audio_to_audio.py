"""Audio-to-audio: variations of a sound (``wavediff sample CKPT --from input.wav --strength S``).

The input's ``x_0`` (the recipe's ``DataTransform`` of the audio) is taken to the noise level
of ``t = strength`` and sampled back to clean audio with the model, so ``strength`` says how
much of the input survives: near 0 the input comes back, at 1 the result is a fresh sample
(the input's trace at ``t = 1`` is ``alpha(1)``, 5.5e-4 for a cosine schedule ending at
logsnr -15). Two ways to reach the intermediate level:

* ``mode="noise"`` (SDEdit, Meng et al. 2022): ``x_t = alpha x_0 + sigma eps`` with fresh noise,
  so every seed gives another variation; any sampler;
* ``mode="encode"``: the probability-flow ODE run from the input up to that level (DDIM
  inversion), then down again with the same deterministic sampler: without a change of class
  or guidance this reconstructs the input; with a class (encoded with the null class, decoded
  with the target class and guidance) it moves the sound towards that class while keeping
  what the ODE maps to the same noise.

Sampling runs on the model's grid for ``steps`` steps squeezed into ``t in [0, strength]``
(each grid point's ``t`` multiplied by ``strength``), so ``max(1, ceil(steps * strength))``
network evaluations per clip for first-order samplers (twice that for Heun).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch

from .diffusion import encode, sample
from .diffusion.grids import named_grid_steps, step_grid
from .diffusion.samplers import DEFAULT_GRID
from .diffusion.schedules import alpha_sigma_from_logsnr
from .sampling import bind_denoiser, pins_components

__all__ = ["MODES", "ODE_METHODS", "audio_to_audio", "sampler_settings", "strength_grid"]

MODES: tuple[str, ...] = ("noise", "encode")
# samplers whose steps the ODE encoder inverts
ODE_METHODS: tuple[str, ...] = ("ddim", "euler", "heun")


def strength_grid(schedule: Any, strength: float, steps: int | None, grid: str) -> list[float]:
    """Finite logsnr points (noisiest first) of the ``grid`` for ``steps`` steps with every
    point's ``t`` multiplied by ``strength``; ``ceil(steps * strength)`` points (at least one).
    A named grid (``diffwave6``) keeps its own points, squeezed the same way."""
    fixed = named_grid_steps(grid)
    count = fixed if fixed is not None else max(1, math.ceil(steps * strength))
    full = step_grid(schedule, count if fixed is None else None, grid)[:-1]
    t = schedule.t_from_logsnr(full.to(torch.float64)) * strength
    return schedule.logsnr(t).tolist()


def sampler_settings(module: Any, mode: str, method: str | None = None, grid: str | None = None,
                     steps: int | None = None) -> tuple[str, str, int]:
    """``(method, grid, steps)`` that :func:`audio_to_audio` uses for these options: the
    recipe's where not given; for ``mode="encode"`` an ODE method (``heun`` when the recipe's
    sampler is not one) and the ``karras`` grid by default."""
    s = module.recipe.sample
    method = method or (s.method if mode == "noise" or s.method in ODE_METHODS else "heun")
    if mode == "encode" and method not in ODE_METHODS:
        raise ValueError(f"mode 'encode' inverts a deterministic sampler: choose --method from {ODE_METHODS}, "
                         f"not {method!r}")
    grid = grid or s.grid_for(method, steps) or (DEFAULT_GRID[method] if mode == "noise" else "karras")
    return method, grid, steps or s.steps


def audio_to_audio(module: Any, audio: torch.Tensor, strength: float, *, steps: int | None = None,
                   method: str | None = None, grid: str | None = None, mode: str = "noise",
                   class_label: torch.Tensor | None = None, guidance: float | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Variations of ``audio`` (B, 1, T) in [-1, 1] at the model's rate -> (B, 1, T).

    Args:
        module: a loaded ``DiffusionModule`` (unconditional or class-conditional; not a
            vocoder, not a distilled student).
        strength: in [0, 1]: the noise level ``t`` the input is taken to (0 returns it).
        steps, method, grid: the sampler as for ``generate`` (defaults: the recipe's; with
            ``mode="encode"`` the method must be one of ``ODE_METHODS`` and the default grid
            is ``karras``, whose finest point is nearly clean, as the encoder needs).
        mode: ``"noise"`` or ``"encode"`` (see the module docstring).
        class_label: (B,) target classes of a class-conditional model; ``guidance`` its scale
            (default: the recipe's).
        generator: the noise of ``mode="noise"`` and of stochastic samplers.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1] (0 keeps the input, 1 is a fresh sample), got {strength}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if module.conditioning == "mel":
        raise ValueError("this checkpoint is a vocoder (mel-conditioned): its audio-to-audio is copy-synthesis, "
                         "`wavediff vocode CKPT input.wav`")
    if module.recipe.distill.method != "none":
        raise ValueError("audio-to-audio needs a plain diffusion model, not a distilled student; "
                         "pass the teacher's checkpoint")
    if module.conditioning == "class" and class_label is None:
        raise ValueError("this model is class-conditional: give the target class of each clip (--class)")
    if audio.ndim != 3 or audio.shape[1] != 1:
        raise ValueError(f"audio must be (batch, 1, samples), got shape {tuple(audio.shape)}")
    s = module.recipe.sample
    method, grid, steps = sampler_settings(module, mode, method, grid, steps)
    audio = audio.to(module.device, torch.float32)
    if strength == 0.0:
        return audio.clone()

    param = module.recipe.diffusion.parameterisation
    bind = partial(bind_denoiser, module.ema.model, param, module.conditioning, clip_x0=module.x0_clip(param))
    if class_label is not None:
        fn = bind(class_label=class_label, guidance=s.guidance if guidance is None else guidance, generator=generator)
        # what the encoder follows: the null class (with the whole mixture of a pinning prior)
        unpinned = torch.full_like(class_label, -1) if pins_components(module.ema.model) else None
        unconditional = bind(class_label=torch.full_like(class_label, module.net.null_class), prior_component=unpinned)
    else:
        fn = unconditional = bind()
    points = strength_grid(module.schedule, strength, steps, grid)
    x0 = module.data_transform.encode(audio)
    with torch.inference_mode():
        if mode == "noise":
            alpha, sigma = alpha_sigma_from_logsnr(torch.tensor(points[0], dtype=torch.float64))
            eps = torch.randn(x0.shape, generator=generator, device=generator.device if generator else x0.device)
            x_start = float(alpha) * x0 + float(sigma) * eps.to(x0.device)
        else:
            x_start = encode(unconditional, x0, module.schedule, method="euler" if method == "ddim" else method,
                             logsnr_grid=points)
        out = sample(fn, tuple(x0.shape), module.schedule, method=method, logsnr_grid=points, x_init=x_start,
                     generator=generator, device=x0.device)
    return module.data_transform.decode(out).clamp(-1.0, 1.0)
