"""Continuous-time diffusion maths for waveforms: pure functions, no I/O, no nn.Modules.

Conventions (see docs/DESIGN.md): ``t`` in [0, 1] with ``t = 0`` clean; ``x_t = alpha x_0 + sigma eps``
(variance preserving); the noise level is ``logsnr = log(alpha^2 / sigma^2)``; every sampler
consumes ``x0_hat = E[x_0 | x_t]``.
"""

from .grids import DIFFWAVE_FAST_BETAS, GRID_KINDS, NAMED_GRIDS, explicit_grid, step_grid
from .guidance import classifier_free_guidance
from .likelihood import vdm_bound
from .objective import DiffusionLoss, bin_by_logsnr, bin_labels, diffusion_loss, logsnr_bin_edges
from .parameterisation import (
    PARAMETERISATIONS,
    Denoiser,
    eps_mse_factor,
    expand_like,
    from_x0,
    target,
    to_x0_eps,
)
from .samplers import DEFAULT_GRID, SAMPLERS, default_grid, encode, nfe, sample
from .schedules import (
    SCHEDULES,
    CosineSchedule,
    EDMSchedule,
    LinearBetaSchedule,
    Schedule,
    alpha_sigma_from_logsnr,
    get_schedule,
    logsnr_from_betas,
    schedule_from_config,
    shift_for_length,
)
from .self_conditioning import SelfConditioning, self_conditioned_training
from .time_sampling import TIME_SAMPLERS, sample_time
from .weighting import WEIGHTINGS, Weighting, get_weighting, weighting_from_config

__all__ = [
    "CosineSchedule", "DEFAULT_GRID", "default_grid", "DIFFWAVE_FAST_BETAS", "Denoiser", "DiffusionLoss",
    "EDMSchedule", "GRID_KINDS", "LinearBetaSchedule", "NAMED_GRIDS", "PARAMETERISATIONS",
    "SAMPLERS", "SCHEDULES", "Schedule", "SelfConditioning", "TIME_SAMPLERS", "WEIGHTINGS", "Weighting",
    "alpha_sigma_from_logsnr", "bin_by_logsnr", "bin_labels", "classifier_free_guidance",
    "diffusion_loss", "encode", "eps_mse_factor", "expand_like", "explicit_grid", "from_x0",
    "get_schedule", "get_weighting", "logsnr_bin_edges", "logsnr_from_betas", "nfe", "sample",
    "sample_time", "schedule_from_config", "self_conditioned_training", "shift_for_length", "step_grid",
    "target",
    "to_x0_eps", "vdm_bound", "weighting_from_config",
]
