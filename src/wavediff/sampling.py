"""Sampling a wavediff model: how a checkpoint is sampled is decided here, once.

A model (``load_model``: a ``.ckpt`` or an exported folder, read through ``checkpoint_io``
without executing anything) is one of three *kinds*, read from its recipe's ``distill.method``:

* ``plain``: a diffusion model; any sampler of ``SAMPLERS`` on any grid at any step count,
  classifier-free guidance for class-conditional models (``sample.guidance`` by default);
* ``progressive``: a progressive-distillation student; DDIM on the ``uniform_t`` grid (at its
  trained ``K`` steps exactly the distilled grid), guidance distilled in;
* ``consistency``: a consistency model; multistep consistency sampling on
  ``consistency_sigmas(steps)`` or explicit noise levels, guidance distilled in.

Three functions carry the decisions, and everything that samples calls them (``wavediff
sample``, the evaluation, the vocoder, ``DiffusionModule.generate`` and the validation samples
of training and distillation):

* ``plan_sampling``: the sampler, step count and grid, from the caller's options and the
  recipe's ``sample`` section (the recipe's grid goes with the recipe's sampler; a named grid
  fixes its own step count; a grid left open is the sampler's default on the schedule);
* ``bind_denoiser`` / ``bind_condition``: a network's condition (mel, class label, guidance)
  bound once for all steps; the distillation trainers bind their teachers with it too;
* ``sample_x0`` / ``sample_model``: the diffusion's ``x_0`` for a plan, or the decoded audio.

Models are ``DiffusionModule`` s (``train/module.py``), used through ``recipe``, ``schedule``,
``conditioning``, ``net``, ``ema.model``, ``x0_clip``, ``data_transform`` and ``device``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
from torch import Tensor

from .checkpoint_io import load_checkpoint
from .diffusion import SAMPLERS, Denoiser, SelfConditioning, classifier_free_guidance, default_grid, sample
from .diffusion import nfe as count_nfe
from .diffusion.distillation import consistency_fn, consistency_sample, consistency_sigmas, sigma_range
from .diffusion.grids import grid_names, named_grid_steps

if TYPE_CHECKING:
    from .train.module import DiffusionModule

__all__ = ["DenoiseFn", "PROGRESSIVE_GRID", "SamplingPlan", "bind_condition", "bind_denoiser", "consistency_range",
           "distilled_info", "load_model", "model_kind", "plan_sampling", "sample_model", "sample_x0"]

DenoiseFn = Callable[[Tensor, Tensor], Tensor]  # (x_t (B, C, T) VP scale, logsnr (B,)) -> x0_hat
# progressive students walk this grid: halving a uniform_t grid gives the uniform_t grid of
# half the steps, so every round's student samples it at its own step count
PROGRESSIVE_GRID = "uniform_t"


def model_kind(distill_method: str) -> str:
    """``plain``, ``progressive`` or ``consistency`` for a recipe's ``distill.method``."""
    if distill_method == "none":
        return "plain"
    if distill_method == "progressive":
        return "progressive"
    if distill_method.startswith("consistency"):
        return "consistency"
    raise ValueError(f"unknown distillation method {distill_method!r}")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DiffusionModule:
    """A checkpoint (``.ckpt``) or exported model folder, loaded for sampling on ``device``
    (EMA weights in ``module.ema.model``); nothing in the file is executed. Its kind is
    ``model_kind(module.recipe.distill.method)``."""
    # the module class lives in train/, whose generate() samples through this file
    from .train.module import load_module

    return load_module(path, map_location=device)


def distilled_info(path: str | Path) -> dict[str, Any] | None:
    """``checkpoint["wavediff"]["distilled"]`` of a checkpoint or exported model (None for a
    plain model); read without executing anything from the file."""
    return load_checkpoint(path).get("wavediff", {}).get("distilled")


# ---------------------------------------------------------------------------------------------
# the condition, bound once
# ---------------------------------------------------------------------------------------------
def pins_components(net: Any) -> bool:
    """Whether ``net`` is sampled with one prior component per clip (the spectral denoiser's
    ``pin_components``): class conditioning then binds a drawn component with each label."""
    return bool(getattr(getattr(net, "config", None), "pin_components", False))


def bind_condition(net: Any, conditioning: str, *, class_label: Tensor | None = None,
                   mel: Tensor | None = None, prior_component: Tensor | None = None,
                   generator: torch.Generator | None = None) -> dict[str, Any]:
    """The keyword arguments that condition ``net`` (``net(x_t, logsnr, **kwargs)``).

    ``conditioning`` (the recipe's ``model.conditioning``): ``none`` -> ``{}``; ``class`` ->
    ``{"class_label": class_label}`` (B,); ``mel`` -> ``{"cond": net.condition(mel=mel)}``, the mel
    (B, n_mels, F) upsampled once for all calls. A condition the model does not take, or
    one it needs and did not get, raises ``ValueError``. A class model that pins prior
    components (:func:`pins_components`) also gets ``prior_component`` (B,): the one given,
    else one drawn from each label's mixture weights with ``generator``."""
    if prior_component is not None and not (conditioning == "class" and pins_components(net)):
        raise ValueError("prior_component is for class models that pin their prior's components "
                         "(pin_components); drop it")
    if conditioning == "mel":
        if mel is None:
            raise ValueError("this model is mel-conditioned: pass mel=(B, n_mels, frames)")
        if class_label is not None:
            raise ValueError("this model is mel-conditioned, not class-conditioned: drop class_label")
        return {"cond": net.condition(mel=mel)}
    if conditioning == "class":
        if class_label is None:
            raise ValueError("this model is class-conditioned: pass class_label=(B,)")
        if mel is not None:
            raise ValueError("this model is class-conditioned, not mel-conditioned: drop mel")
        if not pins_components(net):
            return {"class_label": class_label}
        if prior_component is None:
            prior_component = net.draw_component(class_label, generator=generator)
        return {"class_label": class_label, "prior_component": prior_component.to(class_label.device)}
    if class_label is not None or mel is not None:
        raise ValueError("this model is unconditional: drop class_label and mel")
    return {}


def bind_denoiser(net: Any, parameterisation: str, conditioning: str, *, class_label: Tensor | None = None,
                  mel: Tensor | None = None, guidance: float = 1.0, clip_x0: float | None = None,
                  x0_bound: float | None = None, self_condition: bool = True,
                  prior_component: Tensor | None = None, generator: torch.Generator | None = None) -> DenoiseFn:
    """``(x_t, logsnr) -> x0_hat`` of ``net`` (which predicts ``parameterisation``) with its
    condition bound (``bind_condition``).

    ``guidance`` != 1 applies classifier-free guidance with the network's null class (class
    models only; others have no unconditional branch to guide with), its ``x0`` clamped to
    ``x0_bound`` where given (``DataTransform.x0_bound``: the range audio in [-1, 1] encodes
    to). ``clip_x0`` clamps each branch's ``x0_hat`` (``DiffusionModule.x0_clip``).

    A self-conditioned network (``net.self_conditioning``) gets the (guided) ``x0_hat`` of the
    previous call as ``self_cond`` (:class:`~wavediff.diffusion.SelfConditioning`): bind once
    per sampling run. ``self_condition=False`` gives it none (zeros) every call: distilled
    students, trained without one.

    ``prior_component`` and ``generator``: as for :func:`bind_condition`; the unconditional
    branch of guidance keeps the mixture (component ``-1``)."""
    cond = bind_condition(net, conditioning, class_label=class_label, mel=mel, prior_component=prior_component,
                          generator=generator)
    if self_condition and getattr(net, "self_conditioning", False):
        state = SelfConditioning(net, x0_bound)
        inner = _bind(state, net, parameterisation, conditioning, cond, guidance, clip_x0, x0_bound)

        def remembering(x: Tensor, logsnr: Tensor) -> Tensor:
            x0 = inner(x, logsnr)
            state.remember(x0)
            return x0

        return remembering
    return _bind(net, net, parameterisation, conditioning, cond, guidance, clip_x0, x0_bound)


def _bind(call: Any, net: Any, parameterisation: str, conditioning: str, cond: dict[str, Any], guidance: float,
          clip_x0: float | None, x0_bound: float | None) -> DenoiseFn:
    """``bind_denoiser`` on ``call`` (``net`` or a wrapper of it), with ``net``'s bound condition."""
    den = Denoiser(call, parameterisation, clip_x0=clip_x0)
    if conditioning == "class" and guidance != 1.0:
        labels = cond["class_label"]
        uncond = {"class_label": torch.full_like(labels, net.null_class)}
        if "prior_component" in cond:
            uncond["prior_component"] = torch.full_like(cond["prior_component"], -1)
        return classifier_free_guidance(den, guidance, cond, uncond, clip=x0_bound)
    return lambda x, logsnr: den(x, logsnr, **cond)


# ---------------------------------------------------------------------------------------------
# the plan: sampler, steps and grid
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplingPlan:
    """How a model is sampled, as ``plan_sampling`` decided it.

    ``method`` is a sampler of ``SAMPLERS`` (``ddim`` for progressive students) or
    ``consistency``; ``steps`` the steps walked (grid intervals, or consistency levels); ``grid``
    the grid by name with the default resolved, or ``None`` when ``logsnr_grid`` gives its
    finite logsnr values (noisiest first); ``sigmas`` the decreasing noise levels of a
    consistency model; ``guidance`` the scale of a class-conditional plain model (else None)."""

    kind: str
    method: str
    steps: int
    grid: str | None = None
    logsnr_grid: tuple[float, ...] | None = None
    sigmas: tuple[float, ...] | None = None
    guidance: float | None = None

    @property
    def nfe(self) -> int:
        """Network evaluations per clip: a guided model evaluates its conditional and its
        unconditional branch at every step; students have the guidance distilled in."""
        if self.kind != "plain":
            return self.steps
        guided = self.guidance is not None and self.guidance not in (0.0, 1.0)
        return count_nfe(self.method, self.steps) * (2 if guided else 1)

    def grid_options(self) -> dict[str, Any]:
        """``steps`` / ``grid`` / ``logsnr_grid`` for ``diffusion.sample`` (a named grid and
        explicit values carry their own step count)."""
        if self.logsnr_grid is not None:
            return {"steps": None, "logsnr_grid": list(self.logsnr_grid)}
        return {"steps": None if named_grid_steps(self.grid) is not None else self.steps, "grid": self.grid}


def consistency_range(module: DiffusionModule) -> tuple[float, float]:
    """``(sigma_min, sigma_max)`` of a consistency model: the recipe's, inside its schedule's range."""
    d = module.recipe.distill
    return sigma_range(module.schedule, d.sigma_min, d.sigma_max)


def plan_sampling(module: DiffusionModule, *, steps: int | None = None, method: str | None = None,
                  grid: str | None = None, logsnr_grid: Sequence[float] | Tensor | None = None,
                  sigmas: Sequence[float] | None = None, guidance: float | None = None,
                  tuned_grids: Mapping[str, Sequence[float]] | None = None) -> SamplingPlan:
    """The one place the sampler, step count and grid of a model are chosen.

    Plain models: ``method`` (default ``sample.method``); the grid is ``logsnr_grid`` (explicit
    values), else ``grid``, else the recipe's ``sample.grid`` where it applies (the recipe's
    sampler; a named grid at its own step count: ``SampleConfig.grid_for``), else the
    sampler's default on the schedule; ``steps`` defaults to ``sample.steps``, and a named
    grid (``diffwave6``) fixes its own. ``tuned_grids`` (the vocoder's ``"method:steps"`` ->
    logsnr values from ``wavediff tune-schedule``) are used for an open grid at their key,
    and asked for by ``grid="tuned"``. ``guidance`` (default ``sample.guidance``) applies to
    class-conditional models only.

    Students sample as distilled, ``steps`` defaulting to their own (``sample.steps``);
    consistency models take explicit ``sigmas`` instead. Options a student has no use for
    (``method``, ``grid``, ``logsnr_grid``, ``guidance``) raise ``ValueError``."""
    kind = model_kind(module.recipe.distill.method)
    if kind != "plain":
        if method is not None or grid is not None or logsnr_grid is not None or guidance is not None:
            raise ValueError("a distilled student samples with its own method and grid (and guidance distilled "
                             "in); drop --method/--grid/--guidance")
        return _plan_student(module, kind, steps, sigmas)
    if sigmas is not None:
        raise ValueError("sigmas are the noise levels of a consistency model; this is a plain diffusion model")
    return _plan_plain(module, steps, method, grid, logsnr_grid, guidance, tuned_grids)


def _plan_student(module: DiffusionModule, kind: str, steps: int | None,
                  sigmas: Sequence[float] | None) -> SamplingPlan:
    d, s = module.recipe.distill, module.recipe.sample
    if kind == "progressive":
        if sigmas is not None:
            raise ValueError("sigmas are the noise levels of a consistency model; a progressive student "
                             f"walks its {PROGRESSIVE_GRID} grid")
        return SamplingPlan(kind, "ddim", steps or s.steps, grid=PROGRESSIVE_GRID)
    if sigmas is None:
        sigma_min, sigma_max = consistency_range(module)
        sigmas = consistency_sigmas(steps or s.steps, sigma_min, sigma_max, d.rho)
    levels = tuple(float(v) for v in sigmas)
    if steps is not None and steps != len(levels):
        raise ValueError(f"steps={steps} but {len(levels)} noise levels were given")
    return SamplingPlan(kind, "consistency", len(levels), sigmas=levels)


def _plan_plain(module: DiffusionModule, steps: int | None, method: str | None, grid: str | None,
                logsnr_grid: Sequence[float] | Tensor | None, guidance: float | None,
                tuned_grids: Mapping[str, Sequence[float]] | None) -> SamplingPlan:
    s = module.recipe.sample
    asked, method = method, method or s.method
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {list(SAMPLERS)}")
    scale = (s.guidance if guidance is None else float(guidance)) if module.conditioning == "class" else None
    tuned = tuned_grids if tuned_grids is not None else {}
    if grid is None and logsnr_grid is None and f"{method}:{steps}" not in tuned:
        grid = s.grid_for(asked, steps)  # the recipe's grid goes with the recipe's sampler
    fixed = named_grid_steps(grid) if logsnr_grid is None else None
    if steps is None and logsnr_grid is None and fixed is None:
        steps = s.steps
    if logsnr_grid is None and tuned_grids is not None:
        key = f"{method}:{steps}"
        if grid == "tuned" and key not in tuned:
            raise ValueError(f"no tuned grid for {key} in this checkpoint; run `wavediff tune-schedule` "
                             f"(tuned grids present: {sorted(tuned) or 'none'})")
        if grid == "tuned" or (grid is None and key in tuned):
            grid, logsnr_grid = None, tuned[key]
    if logsnr_grid is not None:
        values = tuple(float(v) for v in logsnr_grid)
        if steps is not None and steps != len(values):
            raise ValueError(f"steps={steps} but the explicit grid has {len(values)} points")
        return SamplingPlan("plain", method, len(values), logsnr_grid=values, guidance=scale)
    if grid is not None and grid not in grid_names():
        raise ValueError(f"unknown grid {grid!r}; choose one of {grid_names()}")
    if fixed is not None:
        if steps not in (None, fixed):
            raise ValueError(f"--grid {grid} has {fixed} steps: drop --steps or pass --steps {fixed}")
        steps = fixed
    return SamplingPlan("plain", method, steps, grid=grid or default_grid(method, module.schedule), guidance=scale)


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
@torch.inference_mode()
def sample_x0(module: DiffusionModule, plan: SamplingPlan, shape: Sequence[int], *, net: Any = None,
              class_label: Tensor | None = None, mel: Tensor | None = None,
              generator: torch.Generator | None = None, noise: Tensor | None = None) -> Tensor:
    """The diffusion's clean signal ``x_0`` (``shape`` (B, 1, T), float32, not yet decoded to
    audio) of ``module`` sampled as ``plan`` says.

    Args:
        net: the network (default the EMA weights, ``module.ema.model``); a wrapper must
            offer ``condition`` and ``null_class`` like the network.
        class_label: (B,) labels of a class-conditional model; ``mel`` (B, n_mels, T / hop) of
            a vocoder.
        generator: source of the starting noise (unless given) and of stochastic steps.
        noise: standard normal starting noise of ``shape``: the start at the first grid point
            (VP scale) of diffusion models and students, ``sigmas[0] * noise`` of consistency
            models. The samples land on its device (default: the module's).
    """
    net = module.ema.model if net is None else net
    param = module.recipe.diffusion.parameterisation
    device = noise.device if noise is not None else module.device
    if plan.kind == "consistency":
        sigma_min, _ = consistency_range(module)
        cond = bind_condition(net, module.conditioning, class_label=class_label, mel=mel, generator=generator)
        f = consistency_fn(net, param, sigma_min, module.recipe.distill.sigma_data, cond)
        start = None if noise is None else noise * plan.sigmas[0]
        return consistency_sample(f, shape, plan.sigmas, generator, sigma_min=sigma_min, x_init=start, device=device)
    fn = bind_denoiser(net, param, module.conditioning, class_label=class_label, mel=mel,
                       guidance=1.0 if plan.guidance is None else plan.guidance, clip_x0=module.x0_clip(param),
                       x0_bound=module.data_transform.x0_bound, self_condition=plan.kind == "plain",
                       generator=generator)
    return sample(fn, shape, module.schedule, method=plan.method, generator=generator, x_init=noise, device=device,
                  **plan.grid_options())


@torch.inference_mode()
def sample_model(module: DiffusionModule, num: int, length: int, plan: SamplingPlan | None = None, *,
                 steps: int | None = None, method: str | None = None, grid: str | None = None,
                 logsnr_grid: Sequence[float] | Tensor | None = None, sigmas: Sequence[float] | None = None,
                 guidance: float | None = None, class_label: Tensor | None = None, mel: Tensor | None = None,
                 generator: torch.Generator | None = None, noise: Tensor | None = None,
                 ema: bool = True) -> Tensor:
    """``num`` clips of ``length`` samples of audio (num, 1, length), float32, decoded from
    the diffusion's ``x_0`` (``module.data_transform``), sampled the way the model is meant
    to be sampled.

    ``plan``: from ``plan_sampling``; without one, the options (``steps``, ``method``,
    ``grid``, ``logsnr_grid``, ``sigmas``, ``guidance``) make it. ``class_label``, ``mel``,
    ``generator`` and ``noise`` as for ``sample_x0`` (with ``mel`` (num, n_mels, F) the length
    is ``F * hop``); ``ema``: the EMA weights (default) or the raw ones."""
    if plan is None:
        plan = plan_sampling(module, steps=steps, method=method, grid=grid, logsnr_grid=logsnr_grid,
                             sigmas=sigmas, guidance=guidance)
    elif any(v is not None for v in (steps, method, grid, logsnr_grid, sigmas, guidance)):
        raise ValueError("give a sampling plan or the options that make one (steps, method, grid, ...), not both")
    x0 = sample_x0(module, plan, (num, 1, length), net=module.ema.model if ema else module.net,
                   class_label=class_label, mel=mel, generator=generator, noise=noise)
    return module.data_transform.decode(x0)
