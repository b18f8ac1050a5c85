"""``wavediff distill``: few-step students from a trained teacher.

Methods (``recipe.distill.method``):

* ``progressive`` (Salimans & Ho 2022): rounds ``N -> N/2 -> ... -> target`` steps on the
  teacher's ``uniform_t`` DDIM grid. Each round is a stage with its own folder; its student
  starts from the teacher's EMA weights and the next round's teacher is this round's EMA
  student. Guidance of a class-conditional teacher is distilled in during the first round:
  the student is conditional-only and samples with ``sample(..., steps=K, method="ddim")``.
* ``consistency_distillation`` (Song et al. 2023): a consistency function
  ``f = c_skip x + c_out F`` whose target is ``f_target(x_hat_i, sigma_i)``, ``x_hat_i`` one
  Heun (or Euler) probability-flow step of the teacher from ``sigma_{i+1}``.
* ``consistency_training`` (Song & Dhariwal 2023): the same without a teacher, the pair
  sharing one noise draw (``x_sigma = x0 + sigma z``), with the doubling curriculum of noise
  levels. A teacher checkpoint, when given, only supplies the network and its initial weights.

Students are ``DiffusionModule`` checkpoints (``load_module`` loads them; the EMA student is
``module.ema.model``) that record ``checkpoint["wavediff"]["distilled"]``:
``{"method": "progressive", "steps": K, "logsnr_grid": [...K finite values]}`` or
``{"method": "consistency_...", "steps": S, "sigmas": [...], "sigma_min": ..., ...}``; their
stored recipe has ``distill.method`` set and ``sample.steps`` / ``sample.method`` for the
student. ``sample_student`` samples any of them the right way.

Output folder layout::

    OUT/recipe.yaml, OUT/split.json          the resolved recipe and the corpus split
    OUT/distill.json                          stages, checkpoints and last validation metrics
    OUT/round_K/checkpoints/last.ckpt         progressive: the K-step student (from 2K steps)
    OUT/round_K/samples/, OUT/round_K/logs/   audio at each validation, metrics
    OUT/checkpoints/last.ckpt                 consistency: the student (samples/, logs/ beside)
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import lightning as L
import torch
from torch import nn

from ..diffusion import Denoiser, classifier_free_guidance, sample, step_grid
from ..diffusion.distillation import (
    consistency_function,
    consistency_loss_weight,
    consistency_sample,
    consistency_sigmas,
    edm_denoiser,
    ict_num_scales,
    karras_sigmas,
    logsnr_from_sigma,
    pf_ode_step,
    progressive_positions,
    progressive_rounds,
    progressive_target,
    pseudo_huber,
    sample_scale_indices,
    scale_index_probs,
    sigma_range,
    v_as_consistency_output,
)
from ..checkpoint_io import load_checkpoint
from ..diffusion.parameterisation import eps_mse_factor, expand_like, from_x0
from ..diffusion.schedules import alpha_sigma_from_logsnr, schedule_from_config
from ..diffusion.weighting import weighting_from_config
from .callbacks import AtomicCheckpointIO, SampleWriter, Throughput, step_checkpoint
from .config import Recipe, RecipeError, recipe_from_dict, write_text_atomic
from .module import DiffusionModule, load_module
from .run import WaveDataModule, _logger, build_data, build_module, resolve_mel
from .run_folder import check_fresh_or_resumed, run_folder_lock

Tensor = torch.Tensor
DenoiseFn = Callable[[Tensor, Tensor], Tensor]
CONSISTENCY_METHODS = ("consistency_distillation", "consistency_training")


# ============================================================================================
# conditioning, consistency wrapper, multi-resolution STFT
# ============================================================================================
def bind_denoiser(net: nn.Module, parameterisation: str, conditioning: str, *, class_label: Tensor | None = None,
                  mel: Tensor | None = None, guidance: float = 1.0, clip_x0: float | None = None) -> DenoiseFn:
    """``(x_t, logsnr) -> x0_hat`` of ``net`` with its conditioning bound.

    ``conditioning``: ``none``, ``class`` (``class_label`` (B,); ``guidance`` != 1 applies
    classifier-free guidance with the network's null class) or ``mel`` (``mel`` (B, n_mels, F),
    upsampled once for all calls); ``clip_x0`` clamps ``x0_hat`` (``DiffusionModule.x0_clip``)."""
    den = Denoiser(net, parameterisation, clip_x0=clip_x0)
    if conditioning == "mel":
        if mel is None:
            raise ValueError("this model is mel-conditioned: pass mel=(B, n_mels, frames)")
        cond = net.condition(mel=mel)
        return lambda x, l: den(x, l, cond=cond)
    if conditioning == "class":
        if class_label is None:
            raise ValueError("this model is class-conditioned: pass class_label=(B,)")
        if guidance == 1.0:
            return lambda x, l: den(x, l, class_label=class_label)
        null = torch.full_like(class_label, net.null_class)
        return classifier_free_guidance(den, guidance, {"class_label": class_label}, {"class_label": null})
    return den


def consistency_fn(net: Callable[..., Tensor], parameterisation: str, sigma_min: float, sigma_data: float,
                   cond: dict[str, Any] | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    """The consistency function ``f(x_tilde, sigma) = c_skip x_tilde + c_out F(x_tilde, sigma)`` of a
    diffusion network, in the EDM view (``x_tilde = x_t / alpha``, ``sigma = exp(-logsnr / 2)``).

    ``F = -v_hat``: the network sees ``x_t = x_tilde / sqrt(1 + sigma^2)`` at
    ``logsnr = -2 log sigma`` and its output (in ``parameterisation``) is converted to ``v``.
    With ``sigma_data = 1`` the function starts out as the network's own denoiser (up to the
    ``sigma_min`` shift). Shapes: ``x_tilde`` (B, C, T), ``sigma`` (B,)."""
    cond = cond or {}

    def F(x: Tensor, sigma: Tensor) -> Tensor:
        s64 = sigma.double()
        alpha = torch.rsqrt(1.0 + s64 * s64)
        a, s = expand_like(alpha, x), expand_like(s64 * alpha, x)
        x_t = a * x
        out = net(x_t, logsnr_from_sigma(s64).to(x.dtype), **cond)
        return v_as_consistency_output(parameterisation, out, x_t, a, s)

    return lambda x, sigma: consistency_function(F, x, sigma, sigma_min, sigma_data)


MRSTFT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))


def mrstft_loss(estimate: Tensor, reference: Tensor,
                resolutions: Sequence[tuple[int, int]] = MRSTFT_RESOLUTIONS, floor: float = 1e-5) -> Tensor:
    """Differentiable multi-resolution STFT distance per example, (B,).

    For each ``(n_fft, hop)`` (Hann window of ``n_fft``, zero padding at the edges so short
    crops work): spectral convergence ``||S_ref - S_est||_F / ||S_ref||_F`` plus the mean
    absolute log-magnitude difference; magnitudes are floored at ``floor`` (smooth: the
    square root of power + floor^2). The resolutions are averaged. Audio (B, C, T)."""
    b = estimate.shape[0]
    x = estimate.reshape(b, -1).float()
    y = reference.reshape(b, -1).float()
    total = x.new_zeros(b)
    for n_fft, hop in resolutions:
        window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)

        def mag(sig: Tensor) -> Tensor:
            spec = torch.stft(sig, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
            return torch.sqrt(spec.real.square() + spec.imag.square() + floor * floor)

        mx, my = mag(x), mag(y)
        sc = torch.linalg.vector_norm((my - mx).flatten(1), dim=1) / torch.linalg.vector_norm(my.flatten(1), dim=1)
        log_mag = (torch.log(my) - torch.log(mx)).abs().flatten(1).mean(1)
        total = total + sc + log_mag
    return total / len(resolutions)


def _resolve_mrstft() -> Callable[[Tensor, Tensor], Tensor]:
    """``wavediff.audio.metrics.mrstft_distance`` when it exists and is a differentiable per-example
    distance ``(estimate, reference) -> (B,)``; otherwise ``mrstft_loss`` above."""
    shared = getattr(importlib.import_module("wavediff.audio.metrics"), "mrstft_distance", None)
    if shared is None:
        return mrstft_loss
    try:
        probe = torch.randn(2, 1, 4096, requires_grad=True)
        value = shared(probe, torch.randn(2, 1, 4096))
        if isinstance(value, Tensor) and value.shape == (2,) and value.requires_grad:
            return shared
    except Exception:  # noqa: BLE001 - any mismatch means: use the local one
        pass
    return mrstft_loss


# ============================================================================================
# LightningModules
# ============================================================================================
class _StudentModule(DiffusionModule):
    """Common part of the distillation modules: a frozen teacher (kept out of the state dict:
    it is reloaded from ``teacher_path``), a student initialised from the teacher's EMA
    weights, the per-stage random streams and the validation comparison with the teacher.

    Extra args (beside ``DiffusionModule``'s): ``teacher_path`` (a wavediff checkpoint or
    None), ``teacher_guidance`` (guidance scale of the teacher's class-conditional target),
    ``stage`` (index of the stage, salts the random streams)."""

    def __init__(self, recipe: dict[str, Any], model_config: dict[str, Any], sample_rate: int,
                 mel_config: dict[str, Any] | None = None, labels: list[str] | None = None,
                 split: dict[str, list[str]] | None = None, teacher_path: str | None = None,
                 teacher_guidance: float = 1.0, stage: int = 0) -> None:
        super().__init__(recipe, model_config, sample_rate, mel_config, labels, split)
        self._aux: dict[str, nn.Module] = {}
        self.stage = int(stage)
        self.teacher_guidance = float(teacher_guidance)
        self.teacher_parameterisation: str | None = None
        self.last_comparison: dict[str, float] = {}
        if teacher_path is not None:
            teacher = load_module(teacher_path)
            if teacher.net.config.to_dict() != self.net.config.to_dict():
                raise RecipeError(f"teacher {teacher_path} has another network configuration than the student")
            net = teacher.ema.model.requires_grad_(False).eval()
            self._aux["teacher"] = net
            self.teacher_parameterisation = teacher.recipe.diffusion.parameterisation
            if self.recipe.distill.init_from_teacher:
                state = net.state_dict()
                self.net.load_state_dict(state)
                self.ema.model.load_state_dict(state)
                self.ema.num_updates.zero_()

    # -- the teacher lives outside the module tree but follows its device / dtype moves -----
    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> "_StudentModule":
        super()._apply(fn, recurse)
        for module in getattr(self, "_aux", {}).values():
            module._apply(fn, recurse)
        return self

    @property
    def teacher_net(self) -> nn.Module | None:
        return self._aux.get("teacher")

    def _step_generator(self) -> torch.Generator:
        """Noise of a step depends only on (seed, stage, step, rank): resumed stages match."""
        world, rank = 1, 0
        if self._trainer is not None:
            world, rank = max(self.trainer.world_size, 1), self.trainer.global_rank
        seed = ((self.recipe.seed * 1_000_003 + 7_919 * (self.stage + 1)) * 1_000_033
                + self.global_step * world + rank)
        return torch.Generator(device=self.device).manual_seed(int(seed) % (2**63))

    def teacher_fn(self, batch: dict[str, Any]) -> DenoiseFn:
        """The teacher's ``(x_t, logsnr) -> x0_hat`` for a batch (guided for class models)."""
        if self.teacher_net is None:
            raise RuntimeError("this stage has no teacher")
        return bind_denoiser(self.teacher_net, self.teacher_parameterisation, self.conditioning,
                             class_label=batch.get("label"), mel=batch.get("mel"), guidance=self.teacher_guidance,
                             clip_x0=self.x0_clip(self.teacher_parameterisation))

    def _student_cond(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Student conditioning: conditional-only (no label dropout: guidance is distilled in)."""
        return self._cond(batch)

    # -- checkpoints -----------------------------------------------------------------------
    def distilled_info(self) -> dict[str, Any]:
        raise NotImplementedError

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["wavediff"]["distilled"] = self.distilled_info()

    # -- validation comparison with the teacher --------------------------------------------
    def _validation_cases(self) -> list[tuple[dict[str, Any], tuple[int, int, int], Tensor | None]]:
        """``(conditioning, shape, real audio or None)`` of the clips used for comparisons."""
        n = self.recipe.distill.val_clips
        if self.conditioning == "mel":
            cases = []
            for i, batch in enumerate(self.trainer.val_dataloaders):
                if i >= n:
                    break
                mel, audio = batch["mel"].to(self.device), batch["audio"].to(self.device)
                cases.append(({"mel": mel}, (1, 1, mel.shape[-1] * self.net.hop), audio))
            return cases
        length = self.recipe.data.segment_samples
        cond: dict[str, Any] = {}
        if self.conditioning == "class":
            cond["label"] = torch.arange(n, device=self.device) % len(self.labels)
        return [(cond, (n, 1, length), None)]

    def _compare(self) -> dict[str, float]:
        raise NotImplementedError

    def _log_comparison(self) -> None:
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            metrics = self._compare()
        if was_training:
            self.train()
        self.last_comparison = metrics
        for name, value in metrics.items():
            self.log(name, value, rank_zero_only=True)
        if metrics:
            print("  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


def _rms(a: Tensor, b: Tensor) -> float:
    return float((a.float() - b.float()).pow(2).mean().sqrt())


class ProgressiveDistillModule(_StudentModule):
    """One round of progressive distillation: a ``student_steps``-step student of a teacher
    sampled with ``2 * student_steps`` DDIM steps on the ``uniform_t`` grid.

    Training: per example a student position ``i`` (uniform over the ``K`` grid points), noise
    ``x_t = alpha x0 + sigma eps`` there, the teacher's two-step target ``x0_tilde``
    (``progressive_target``) converted to the student's parameterisation, and the loss
    ``mean_b lambda(logsnr_b) * eps-MSE_b`` with ``lambda = distill.weighting`` (``snr_trunc``)."""

    def __init__(self, recipe: dict[str, Any], model_config: dict[str, Any], sample_rate: int,
                 mel_config: dict[str, Any] | None = None, labels: list[str] | None = None,
                 split: dict[str, list[str]] | None = None, teacher_path: str | None = None,
                 teacher_guidance: float = 1.0, stage: int = 0, student_steps: int = 1) -> None:
        super().__init__(recipe, model_config, sample_rate, mel_config, labels, split, teacher_path,
                         teacher_guidance, stage)
        self.student_steps = int(student_steps)
        self.teacher_grid = step_grid(self.schedule, 2 * self.student_steps, "uniform_t")
        self.student_grid = self.teacher_grid[::2].clone()
        self._positions = progressive_positions(self.teacher_grid)  # float64, CPU
        self.distill_weighting = weighting_from_config(self.recipe.distill.weighting)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:
        gen = self._step_generator()
        x0 = self.data_transform.encode(batch["audio"])
        b = x0.shape[0]
        idx = torch.randint(self.student_steps, (b,), generator=gen, device=gen.device).cpu()
        l_t, l_mid, l_next = (p[idx].to(x0.device) for p in self._positions)
        noise = torch.randn(x0.shape, generator=gen, device=gen.device, dtype=x0.dtype).to(x0.device)
        alpha, sigma = alpha_sigma_from_logsnr(l_t)
        a, s = expand_like(alpha, x0), expand_like(sigma, x0)
        x_t = a * x0 + s * noise
        with torch.no_grad():
            x0_tilde = progressive_target(self.teacher_fn(batch), x_t, l_t, l_mid, l_next)
        param = self.recipe.diffusion.parameterisation
        logsnr = l_t.to(x0.dtype)
        out = self._train_net()(x_t, logsnr, **self._student_cond(batch))
        tgt = from_x0(param, x0_tilde, x_t, a, s)
        native = (out.float() - tgt.float()).pow(2).flatten(1).mean(1)
        eps_mse = eps_mse_factor(param, logsnr.float()) * native
        loss = (self.distill_weighting(logsnr.float(), self.schedule).to(eps_mse.dtype) * eps_mse).mean()
        finite = torch.isfinite(loss.detach()).float()
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        if not bool(finite):
            return self._non_finite(loss)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=b)
        return loss

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()  # val/eps_mse per logsnr bin (EMA student)
        self._log_comparison()

    def _compare(self) -> dict[str, float]:
        """Student K-step vs teacher 2K-step DDIM from the same noise (``val/ref_rms``), the
        teacher at K steps for comparison, and mel L1 to the real audio for vocoders."""
        if self.teacher_net is None:
            return {}
        k = self.student_steps
        ref_steps = self.recipe.distill.reference_steps or 2 * k
        gen = torch.Generator(device=self.device).manual_seed(1234)
        param = self.recipe.diffusion.parameterisation
        sums: dict[str, list[float]] = {}
        for cond, shape, real in self._validation_cases():
            z = torch.randn(shape, generator=gen, device=self.device)
            teacher = bind_denoiser(self.teacher_net, self.teacher_parameterisation, self.conditioning,
                                    class_label=cond.get("label"), mel=cond.get("mel"), guidance=self.teacher_guidance,
                                    clip_x0=self.x0_clip(self.teacher_parameterisation))
            student = bind_denoiser(self.ema.model, param, self.conditioning, class_label=cond.get("label"),
                                    mel=cond.get("mel"), clip_x0=self.x0_clip(param))
            run = lambda fn, steps: sample(fn, shape, self.schedule, steps, "ddim", grid="uniform_t",  # noqa: E731
                                           x_init=z, device=self.device)
            decode = self.data_transform.decode
            ref, stu, tea = decode(run(teacher, ref_steps)), decode(run(student, k)), decode(run(teacher, k))
            sums.setdefault(f"val/ref_rms/student_{k}", []).append(_rms(stu, ref))
            sums.setdefault(f"val/ref_rms/teacher_{k}", []).append(_rms(tea, ref))
            if real is not None and real.shape[-1] >= self.mel_config.min_samples:
                from ..audio.metrics import mel_l1

                sums.setdefault(f"val/mel_l1/student_{k}", []).append(float(mel_l1(stu, real, self.mel_config)[0]))
                sums.setdefault(f"val/mel_l1/teacher_{k}", []).append(float(mel_l1(tea, real, self.mel_config)[0]))
        return {name: sum(v) / len(v) for name, v in sums.items()}

    def distilled_info(self) -> dict[str, Any]:
        return {"method": "progressive", "steps": self.student_steps, "grid": "uniform_t",
                "teacher_steps": 2 * self.student_steps,
                "logsnr_grid": [float(v) for v in self.student_grid[:-1].tolist()]}


class ConsistencyModule(_StudentModule):
    """Consistency distillation (with a teacher) or consistency training (from scratch).

    Per example: a pair index ``i`` on the Karras grid of ``N`` levels (``distill.num_scales``
    for distillation; the curriculum ``N(k)`` for training), drawn by ``distill.noise_sampling``;
    ``x_{i+1} = x0 + sigma_{i+1} z``; ``x_i`` from one teacher ODE step (distillation) or
    ``x0 + sigma_i z`` (training); loss ``lambda_i * d(f(x_{i+1}, sigma_{i+1}), f_target(x_i, sigma_i))``.
    The target network is an EMA of the student (``target: ema``, decay ``target_ema``, kept in
    the checkpoint outside the state dict) or the student itself without gradient."""

    def __init__(self, recipe: dict[str, Any], model_config: dict[str, Any], sample_rate: int,
                 mel_config: dict[str, Any] | None = None, labels: list[str] | None = None,
                 split: dict[str, list[str]] | None = None, teacher_path: str | None = None,
                 teacher_guidance: float = 1.0, stage: int = 0) -> None:
        super().__init__(recipe, model_config, sample_rate, mel_config, labels, split, teacher_path,
                         teacher_guidance, stage)
        d = self.recipe.distill
        if d.method not in CONSISTENCY_METHODS:
            raise RecipeError(f"ConsistencyModule needs distill.method in {list(CONSISTENCY_METHODS)}, got {d.method!r}")
        if d.method == "consistency_distillation" and self.teacher_net is None:
            raise RecipeError("consistency_distillation needs a teacher checkpoint")
        self.sigma_min, self.sigma_max = sigma_range(self.schedule, d.sigma_min, d.sigma_max)
        self.target_kind = d.target if d.target != "auto" else (
            "ema" if d.method == "consistency_distillation" else "stopgrad")
        if self.target_kind == "ema":
            self._aux["target"] = copy.deepcopy(self.net).requires_grad_(False).eval()
        self._distance_mrstft: Callable[[Tensor, Tensor], Tensor] | None = None
        self._val_gap: list[float] = []

    # -- the consistency function ----------------------------------------------------------
    def f(self, net: Callable[..., Tensor], cond: dict[str, Any] | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        d = self.recipe.distill
        return consistency_fn(net, self.recipe.diffusion.parameterisation, self.sigma_min, d.sigma_data, cond)

    def sigmas_at(self, step: int) -> Tensor:
        """The Karras grid (ascending, float64) used at training step ``step``."""
        d = self.recipe.distill
        n = d.num_scales if d.method == "consistency_distillation" else ict_num_scales(
            step, self.recipe.trainer.max_steps, d.scales_start, d.scales_end)
        return karras_sigmas(n, self.sigma_min, self.sigma_max, d.rho)

    def _distance(self, online: Tensor, target: Tensor) -> Tensor:
        d = self.recipe.distill
        if d.loss == "l2":
            return (online.float() - target.float()).pow(2).flatten(1).mean(1)
        out = pseudo_huber(online, target, d.huber_c) if d.loss in ("pseudo_huber", "both") else None
        if d.loss in ("mrstft", "both"):
            if self._distance_mrstft is None:
                self._distance_mrstft = _resolve_mrstft()
            spectral = self._distance_mrstft(online, target)
            out = spectral if out is None else out + d.mrstft_weight * spectral
        return out

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:
        d = self.recipe.distill
        gen = self._step_generator()
        x0 = self.data_transform.encode(batch["audio"])
        b = x0.shape[0]
        sig = self.sigmas_at(self.global_step)
        probs = scale_index_probs(sig, d.noise_sampling, d.p_mean, d.p_std)
        idx = sample_scale_indices(b, probs, gen).cpu()
        s_lo, s_hi = sig[idx].to(x0.device), sig[idx + 1].to(x0.device)
        z = torch.randn(x0.shape, generator=gen, device=gen.device, dtype=x0.dtype).to(x0.device)
        x_hi = x0 + expand_like(s_hi, x0) * z
        cond = self._student_cond(batch)
        with torch.no_grad():
            if d.method == "consistency_distillation":
                x_lo = pf_ode_step(edm_denoiser(self.teacher_fn(batch)), x_hi, s_hi, s_lo, d.solver)
            else:
                x_lo = x0 + expand_like(s_lo, x0) * z
            target_net = self._aux["target"] if self.target_kind == "ema" else self.net
            target = self.f(target_net, cond)(x_lo, s_lo)
        online = self.f(self._train_net(), cond)(x_hi, s_hi)
        dist = self._distance(online, target)
        weight = consistency_loss_weight(s_lo, s_hi) if d.loss_weighting == "inverse_delta" else torch.ones_like(s_lo)
        loss = (weight.to(dist.dtype) * dist).mean()
        finite = torch.isfinite(loss.detach()).float()
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        if not bool(finite):
            return self._non_finite(loss)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/num_scales", float(sig.numel()), batch_size=b)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=b)
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)  # the student's EMA is updated there
        if self.target_kind == "ema" and not self._step_was_skipped:
            with torch.no_grad():
                mu = self.recipe.distill.target_ema
                target = list(self._aux["target"].parameters())
                torch._foreach_lerp_(target, [p.detach() for p in self.net.parameters()], 1.0 - mu)

    # -- validation: consistency gap on held-out clips + comparison with the teacher ------------
    def on_validation_epoch_start(self) -> None:
        self._val_gap = []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """RMS gap ``f(x0 + sigma_{i+1} z, sigma_{i+1}) - f(x0 + sigma_i z, sigma_i)`` of the EMA
        student at 8 fixed pairs of a ``num_scales`` grid, noise fixed by the clip index."""
        d = self.recipe.distill
        x0 = self.data_transform.encode(batch["audio"])
        sig = karras_sigmas(d.num_scales, self.sigma_min, self.sigma_max, d.rho)
        pairs = torch.linspace(0, sig.numel() - 2, 8).round().long()
        gen = torch.Generator(device=self.device).manual_seed(20_000 + batch_idx)
        f = self.f(self.ema.model, self._cond(batch))
        for i in pairs.tolist():
            z = torch.randn(x0.shape, generator=gen, device=self.device, dtype=x0.dtype)
            lo = torch.full((x0.shape[0],), float(sig[i]), dtype=torch.float64, device=self.device)
            hi = torch.full((x0.shape[0],), float(sig[i + 1]), dtype=torch.float64, device=self.device)
            a = f(x0 + expand_like(hi, x0) * z, hi)
            b = f(x0 + expand_like(lo, x0) * z, lo)
            self._val_gap.append(_rms(a, b))

    def on_validation_epoch_end(self) -> None:
        if self._val_gap:
            self.log("val/consistency_gap", sum(self._val_gap) / len(self._val_gap), prog_bar=True, sync_dist=False)
        self._log_comparison()

    def _compare(self) -> dict[str, float]:
        """Student k-step samples (k in ``distill.sample_steps``) vs the teacher's Heun ODE
        solution from the same starting noise (``reference_steps``, default 32 levels), the
        teacher's own k-step DDIM on the same levels, and mel L1 to real audio for vocoders."""
        d = self.recipe.distill
        gen = torch.Generator(device=self.device).manual_seed(1234)
        sums: dict[str, list[float]] = {}
        ref_levels = karras_sigmas(d.reference_steps or 32, self.sigma_min, self.sigma_max, d.rho)
        alpha_max = 1.0 / math.sqrt(1.0 + self.sigma_max**2)
        for cond, shape, real in self._validation_cases():
            z = torch.randn(shape, generator=gen, device=self.device)
            student_cond = self._cond({"label": cond.get("label"), "mel": cond.get("mel")})
            f = self.f(self.ema.model, student_cond)
            teacher = None
            if self.teacher_net is not None:
                teacher = bind_denoiser(self.teacher_net, self.teacher_parameterisation, self.conditioning,
                                        class_label=cond.get("label"), mel=cond.get("mel"),
                                        guidance=self.teacher_guidance,
                                        clip_x0=self.x0_clip(self.teacher_parameterisation))
                ref = sample(teacher, shape, self.schedule, None, "heun", logsnr_grid=logsnr_from_sigma(ref_levels),
                             x_init=alpha_max * self.sigma_max * z, device=self.device)
                ref = self.data_transform.decode(ref)
            for k in d.sample_steps:
                levels = consistency_sigmas(k, self.sigma_min, self.sigma_max, d.rho)
                stu = consistency_sample(f, shape, levels, torch.Generator(device=self.device).manual_seed(k),
                                         sigma_min=self.sigma_min, x_init=self.sigma_max * z, device=self.device)
                outs = {"student": stu}
                if teacher is not None:
                    outs["teacher"] = sample(teacher, shape, self.schedule, None, "ddim",
                                             logsnr_grid=logsnr_from_sigma(torch.tensor(levels, dtype=torch.float64)),
                                             x_init=alpha_max * self.sigma_max * z, device=self.device)
                for who, x0 in outs.items():
                    audio = self.data_transform.decode(x0)
                    if teacher is not None:
                        sums.setdefault(f"val/ref_rms/{who}_{k}", []).append(_rms(audio, ref))
                    if real is not None and real.shape[-1] >= self.mel_config.min_samples:
                        from ..audio.metrics import mel_l1

                        sums.setdefault(f"val/mel_l1/{who}_{k}", []).append(
                            float(mel_l1(audio, real, self.mel_config)[0]))
        return {name: sum(v) / len(v) for name, v in sums.items()}

    # -- sampling and checkpoints ----------------------------------------------------------
    @torch.inference_mode()
    def generate(self, num: int, length: int, *, steps: int | None = None, method: str | None = None,
                 class_label: Tensor | None = None, guidance: float | None = None, mel: Tensor | None = None,
                 generator: torch.Generator | None = None, ema: bool = True, **sample_kwargs: Any) -> Tensor:
        """Consistency sampling (see ``sample_student``); ``method``/``guidance`` are ignored and
        only ``sigmas`` / ``x_init`` are accepted as extra options."""
        unknown = set(sample_kwargs) - {"sigmas", "x_init"}
        if unknown:
            raise ValueError(f"consistency sampling does not take {sorted(unknown)}")
        return sample_student(self, num, length, steps, class_label=class_label, mel=mel, generator=generator,
                              ema=ema, **sample_kwargs)

    def distilled_info(self) -> dict[str, Any]:
        d = self.recipe.distill
        steps = self.recipe.sample.steps
        return {"method": d.method, "steps": steps,
                "sigmas": consistency_sigmas(steps, self.sigma_min, self.sigma_max, d.rho),
                "sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "sigma_data": d.sigma_data, "rho": d.rho,
                "parameterisation": self.recipe.diffusion.parameterisation}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if "target" in self._aux:
            checkpoint["distill_state"] = {"target": {k: v.detach().cpu().clone()
                                                      for k, v in self._aux["target"].state_dict().items()}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("distill_state", {}).get("target")
        if state is not None and "target" in self._aux:
            self._aux["target"].load_state_dict(state)


# ============================================================================================
# sampling a student
# ============================================================================================
@torch.inference_mode()
def sample_student(module: DiffusionModule, num: int, length: int, steps: int | None = None, *,
                   class_label: Tensor | None = None, mel: Tensor | None = None,
                   generator: torch.Generator | None = None, sigmas: Sequence[float] | None = None,
                   x_init: Tensor | None = None, ema: bool = True) -> Tensor:
    """Sample a distilled student (or a plain model) the way it was trained to be sampled.

    Args:
        module: from ``load_module`` (or a distillation module); what kind of student it is
            comes from its recipe (``distill.method``).
        num, length: number of clips and samples per clip; with ``mel`` (num, n_mels, F)
            the length must be ``F * hop``.
        steps: network evaluations (default: the student's own, ``recipe.sample.steps``).
            Progressive students use DDIM on the ``uniform_t`` grid (for their trained
            ``K`` this is exactly the distilled grid); consistency students use multistep
            consistency sampling on ``consistency_sigmas(steps)`` or the explicit ``sigmas``.
        class_label: (num,) labels of a class-conditional model (the student is
            conditional-only; plain models apply their recipe's guidance).
        x_init: starting noise (VP scale at the first grid point for progressive students;
            EDM scale ``sigma_max * z`` for consistency students).

    Returns:
        (num, 1, length) float32 audio on the module's device.
    """
    recipe = module.recipe
    method = recipe.distill.method
    device = module.device
    if method == "none":
        kwargs = {"x_init": x_init} if x_init is not None else {}
        return module.generate(num, length, steps=steps, class_label=class_label, mel=mel, generator=generator,
                               ema=ema, **kwargs)
    net = module.ema.model if ema else module.net
    param = recipe.diffusion.parameterisation
    shape = (num, 1, length)
    if method == "progressive":
        fn = bind_denoiser(net, param, recipe.model.conditioning, class_label=class_label, mel=mel,
                           clip_x0=module.x0_clip(param))
        x0 = sample(fn, shape, module.schedule, steps or recipe.sample.steps, "ddim", grid="uniform_t",
                    generator=generator, x_init=x_init, device=device)
        return module.data_transform.decode(x0)
    d = recipe.distill
    sigma_min, sigma_max = sigma_range(module.schedule, d.sigma_min, d.sigma_max)
    cond: dict[str, Any] = {}
    if recipe.model.conditioning == "mel":
        if mel is None:
            raise ValueError("this model is mel-conditioned: pass mel=(B, n_mels, frames)")
        cond["cond"] = net.condition(mel=mel)
    elif recipe.model.conditioning == "class":
        if class_label is None:
            raise ValueError("this model is class-conditioned: pass class_label=(B,)")
        cond["class_label"] = class_label
    f = consistency_fn(net, param, sigma_min, d.sigma_data, cond)
    levels = list(sigmas) if sigmas is not None else consistency_sigmas(steps or recipe.sample.steps, sigma_min,
                                                                        sigma_max, d.rho)
    x0 = consistency_sample(f, shape, levels, generator, sigma_min=sigma_min, x_init=x_init, device=device)
    return module.data_transform.decode(x0)


def distilled_info(path: str | Path) -> dict[str, Any] | None:
    """``checkpoint["wavediff"]["distilled"]`` of a checkpoint or exported model (None for a
    plain model); read without executing anything from the file."""
    ckpt = load_checkpoint(path)
    return ckpt.get("wavediff", {}).get("distilled")


# ============================================================================================
# the run
# ============================================================================================
def student_recipe(recipe: Recipe, teacher: DiffusionModule | None) -> Recipe:
    """The recipe stored with the students: ``recipe`` with the teacher's ``model``,
    ``diffusion`` and ``mel`` sections, the consistency noise range resolved, and a
    conditional-only ``sample`` section (guidance 1: it is distilled in)."""
    values = recipe.to_dict()
    if teacher is not None:
        t = teacher.recipe.to_dict()
        values["model"], values["diffusion"], values["mel"] = t["model"], t["diffusion"], t["mel"]
    d = values["distill"]
    if d["method"] in CONSISTENCY_METHODS:
        schedule = schedule_from_config(values["diffusion"]["schedule"])
        d["sigma_min"], d["sigma_max"] = sigma_range(schedule, d["sigma_min"], d["sigma_max"])
        values["sample"].update(steps=d["sample_steps"][0], method="ddim", grid=None)
    values["sample"]["guidance"] = 1.0
    return recipe_from_dict(values)


def _stage_recipe(base: Recipe, steps: int) -> Recipe:
    values = base.to_dict()
    values["sample"].update(steps=steps, method="ddim", grid="uniform_t", guidance=1.0)
    return recipe_from_dict(values)


def _teacher_guidance(recipe: Recipe, teacher: DiffusionModule | None) -> float:
    """Guidance of the first stage's teacher target: ``distill.guidance`` or the teacher's
    recipe; 1 when the teacher is itself a (conditional-only) distilled student."""
    if teacher is None or teacher.recipe.model.conditioning != "class":
        return 1.0
    if teacher.recipe.distill.method != "none":
        return 1.0
    g = recipe.distill.guidance
    return float(teacher.recipe.sample.guidance if g is None else g)


def _fit_stage(module: DiffusionModule, recipe: Recipe, data: Any, stage_dir: Path, resume: Path | None,
               progress: bool, extra_callbacks: list[L.Callback] | None, data_seed: int) -> Path:
    """Run one stage with Lightning (same trainer set-up as ``wavediff train``); returns the
    stage's ``checkpoints/last.ckpt``, always written at the final step."""
    t = recipe.trainer
    ckpt = step_checkpoint(stage_dir / "checkpoints", t.checkpoint_every)
    callbacks: list[L.Callback] = [ckpt, Throughput(), SampleWriter(stage_dir / "samples",
                                                                    num=min(4, recipe.data.valid_clips))]
    callbacks += list(extra_callbacks or [])
    if progress:
        callbacks.append(L.pytorch.callbacks.TQDMProgressBar(refresh_rate=max(1, min(t.log_every, 10))))
    trainer = L.Trainer(
        max_steps=t.max_steps, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        strategy=t.strategy, precision=t.precision, val_check_interval=t.val_every, check_val_every_n_epoch=None,
        log_every_n_steps=t.log_every, gradient_clip_val=recipe.optim.grad_clip or None, callbacks=callbacks,
        logger=_logger(stage_dir), default_root_dir=stage_dir, use_distributed_sampler=False,
        deterministic=t.deterministic, plugins=[AtomicCheckpointIO()], enable_progress_bar=progress,
        num_sanity_val_steps=0, enable_model_summary=False)
    values = recipe.to_dict()
    values["seed"] = data_seed
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended.*")
        warnings.filterwarnings("ignore", message=".*fault-tolerant.*")
        # the frozen teacher (and EMA target) inside the student module are in eval mode on purpose
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        trainer.fit(module, datamodule=WaveDataModule(recipe_from_dict(values), data),
                    ckpt_path=str(resume) if resume else None)
    last = stage_dir / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(last, weights_only=False)  # the final step, whatever checkpoint_every was
    return last


def _resume_stage(resume: Path, method: str) -> dict[str, Any]:
    ckpt = load_checkpoint(resume, "--resume checkpoint")  # never executes anything in the file
    if ckpt.get("exported"):
        raise RecipeError(f"--resume {resume} is an exported model (weights only); resume from the run's .ckpt")
    info = ckpt.get("wavediff", {}).get("distilled")
    if not info:
        raise RecipeError(f"{resume} is not a distillation checkpoint (no 'distilled' record)")
    if info["method"] != method:
        raise RecipeError(f"{resume} is a {info['method']} checkpoint but distill.method is {method!r}")
    return info


def distill(recipe: Recipe, teacher_ckpt: str | Path | None, out: str | Path, resume: str | Path | None = None,
            progress: bool = True, extra_callbacks: list[L.Callback] | None = None) -> Path:
    """Distil ``teacher_ckpt`` into a few-step student as ``recipe.distill`` says.

    Args:
        recipe: a distillation recipe (``distill.method`` set; ``trainer.max_steps`` per stage).
        teacher_ckpt: a wavediff checkpoint (``wavediff train`` or an earlier distillation);
            optional for ``consistency_training`` (then the network comes from the recipe).
        out: run folder (layout in the module docstring).
        resume: a checkpoint of this run (any stage, mid-stage or finished); earlier stages
            are taken as done (their ``last.ckpt`` in ``out`` is the next teacher), the stage
            resumes exactly, later stages follow.

    Returns:
        Path of the final student's ``last.ckpt``.
    """
    d = recipe.distill
    if d.method == "none":
        raise RecipeError("distill.method is 'none': set it to progressive, consistency_distillation "
                          "or consistency_training (e.g. distill.method=progressive)")
    out = Path(out)
    resume = Path(resume) if resume is not None else None
    check_fresh_or_resumed(out, resume)
    resume_info = _resume_stage(resume, d.method) if resume is not None else None
    with run_folder_lock(out):
        return _distill_locked(recipe, teacher_ckpt, out, resume, resume_info, progress, extra_callbacks)


def _distill_locked(recipe: Recipe, teacher_ckpt: str | Path | None, out: Path, resume: Path | None,
                    resume_info: dict[str, Any] | None, progress: bool,
                    extra_callbacks: list[L.Callback] | None) -> Path:
    d = recipe.distill
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    teacher: DiffusionModule | None = None
    if teacher_ckpt is not None:
        teacher_ckpt = Path(teacher_ckpt).resolve()
        teacher = load_module(teacher_ckpt)
    elif d.method != "consistency_training":
        raise RecipeError(f"distill.method={d.method} needs a teacher checkpoint (--teacher)")
    base = student_recipe(recipe, teacher)
    if teacher is not None:
        mel = teacher.mel_config
        if teacher.sample_rate != base.data.sample_rate:
            raise RecipeError(f"the teacher works at {teacher.sample_rate} Hz but data.sample_rate is "
                              f"{base.data.sample_rate} Hz; make them equal")
    else:
        mel = resolve_mel(base)
    data = build_data(base, mel)
    if teacher is not None and teacher.labels is not None and data.labels != list(teacher.labels):
        raise RecipeError(f"the corpus labels {data.labels} differ from the teacher's {teacher.labels}")
    if teacher is not None:
        model_config = teacher.net.config.to_dict()
    else:  # the network a ``wavediff train`` run of this recipe would build
        model_config = build_module(base, base.data.sample_rate, mel, data.labels, data.split).net.config.to_dict()
    base.save(out / "recipe.yaml")
    write_text_atomic(out / "split.json", json.dumps(data.split, indent=1))
    common = dict(model_config=model_config, sample_rate=base.data.sample_rate,
                  mel_config=mel.to_dict() if mel else None, labels=data.labels, split=data.split)
    guidance = _teacher_guidance(recipe, teacher)
    summary: dict[str, Any] = {"method": d.method, "teacher": str(teacher_ckpt) if teacher_ckpt else None,
                               "stages": []}
    start = time.perf_counter()
    last: Path | None = None

    if d.method == "progressive":
        rounds = progressive_rounds(d.teacher_steps, d.target_steps)
        if resume_info is not None and resume_info["steps"] not in rounds:
            raise RecipeError(f"{resume} is a {resume_info['steps']}-step student; this run has rounds {rounds}")
        teacher_path: Path = teacher_ckpt
        for stage, k in enumerate(rounds):
            stage_dir = out / f"round_{k}"
            stage_resume = None
            if resume_info is not None:
                if k > resume_info["steps"]:  # finished earlier: its student teaches the next round
                    teacher_path = stage_dir / "checkpoints" / "last.ckpt"
                    if not teacher_path.is_file():
                        raise FileNotFoundError(f"resuming at round {resume_info['steps']} needs {teacher_path}")
                    summary["stages"].append({"steps": k, "checkpoint": str(teacher_path), "metrics": {},
                                              "resumed_past": True})
                    continue
                if k == resume_info["steps"]:
                    stage_resume = resume
            stage_recipe = _stage_recipe(base, k)
            module = ProgressiveDistillModule(stage_recipe.to_dict(), teacher_path=str(teacher_path),
                                              teacher_guidance=guidance if stage == 0 else 1.0, stage=stage,
                                              student_steps=k, **common)
            print(f"progressive distillation: round {stage + 1}/{len(rounds)}, {2 * k} -> {k} steps")
            last = _fit_stage(module, stage_recipe, data, stage_dir, stage_resume, progress, extra_callbacks,
                              data_seed=recipe.seed + stage)
            summary["stages"].append({"steps": k, "checkpoint": str(last), "metrics": module.last_comparison})
            write_text_atomic(out / "distill.json", json.dumps(summary, indent=1))
            teacher_path = last
    else:
        module = ConsistencyModule(base.to_dict(), teacher_path=str(teacher_ckpt) if teacher_ckpt else None,
                                   teacher_guidance=guidance, stage=0, **common)
        last = _fit_stage(module, base, data, out, resume, progress, extra_callbacks, data_seed=recipe.seed)
        summary["stages"].append({"steps": base.sample.steps, "checkpoint": str(last),
                                  "metrics": module.last_comparison})
        write_text_atomic(out / "distill.json", json.dumps(summary, indent=1))
    assert last is not None
    summary["final"] = str(last)
    write_text_atomic(out / "distill.json", json.dumps(summary, indent=1))
    print(f"distillation finished ({d.method}) in {time.perf_counter() - start:.1f} s; student: {last}")
    return last
