"""Consistency models as a LightningModule: consistency distillation from a teacher (Song et
al. 2023) or consistency training from scratch (Song & Dhariwal 2023)."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch

from ..audio.metrics import mrstft_distance
from ..diffusion import sample
from ..diffusion.distillation import (
    consistency_fn,
    consistency_loss_weight,
    consistency_sample,
    consistency_sigmas,
    edm_denoiser,
    ict_num_scales,
    karras_sigmas,
    logsnr_from_sigma,
    pf_ode_step,
    pseudo_huber,
    sample_scale_indices,
    scale_index_probs,
)
from ..diffusion.parameterisation import expand_like
from ..sampling import consistency_range
from .config import DistillConfig, RecipeError
from .student import StudentModule, rms_distance

Tensor = torch.Tensor
CONSISTENCY_METHODS = ("consistency_distillation", "consistency_training")


def consistency_distance(online: Tensor, target: Tensor, distill: DistillConfig) -> Tensor:
    """The per-example distance ``d(online, target)`` (B,) of ``distill.loss``: ``l2`` (mean
    square), ``pseudo_huber`` (constant ``huber_c``), ``mrstft`` (the multi-resolution STFT
    distance of ``audio.metrics``, differentiable) or ``both`` (pseudo-Huber plus
    ``mrstft_weight`` times the STFT distance). Audio (B, C, T)."""
    if distill.loss == "l2":
        return (online.float() - target.float()).pow(2).flatten(1).mean(1)
    out = pseudo_huber(online, target, distill.huber_c) if distill.loss in ("pseudo_huber", "both") else None
    if distill.loss in ("mrstft", "both"):
        spectral = mrstft_distance(online, target)
        out = spectral if out is None else out + distill.mrstft_weight * spectral
    return out


class ConsistencyModule(StudentModule):
    """Consistency distillation (with a teacher) or consistency training (from scratch).

    Per example: a pair index ``i`` on the Karras grid of ``N`` levels (``distill.num_scales``
    for distillation; the curriculum ``N(k)`` for training), drawn by ``distill.noise_sampling``;
    ``x_{i+1} = x0 + sigma_{i+1} z``; ``x_i`` from one teacher ODE step (distillation) or
    ``x0 + sigma_i z`` (training); loss ``lambda_i * d(f(x_{i+1}, sigma_{i+1}), f_target(x_i, sigma_i))``.
    The target network is an EMA of the student (``target: ema``, decay ``target_ema``, kept in
    the checkpoint outside the state dict) or the student itself without gradient. The
    model samples (``generate``) with multistep consistency sampling (``wavediff.sampling``)."""

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
        self.sigma_min, self.sigma_max = consistency_range(self)
        self.target_kind = d.target if d.target != "auto" else (
            "ema" if d.method == "consistency_distillation" else "stopgrad")
        if self.target_kind == "ema":
            self._aux["target"] = copy.deepcopy(self.net).requires_grad_(False).eval()
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
        dist = consistency_distance(online, target, d)
        weight = consistency_loss_weight(s_lo, s_hi) if d.loss_weighting == "inverse_delta" else torch.ones_like(s_lo)
        loss = self._finish_step((weight.to(dist.dtype) * dist).mean(), b)
        if loss is not None:
            self.log("train/num_scales", float(sig.numel()), batch_size=b)
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
            self._val_gap.append(rms_distance(a, b))

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
            f = self.f(self.ema.model, self._cond(cond))
            teacher = None
            if self.teacher_net is not None:
                teacher = self.teacher_fn(cond)
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
                        sums.setdefault(f"val/ref_rms/{who}_{k}", []).append(rms_distance(audio, ref))
                    distance = self._mel_l1(audio, real)
                    if distance is not None:
                        sums.setdefault(f"val/mel_l1/{who}_{k}", []).append(distance)
        return {name: sum(v) / len(v) for name, v in sums.items()}

    # -- checkpoints -------------------------------------------------------------------------
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
