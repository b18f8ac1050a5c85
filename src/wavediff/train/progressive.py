"""One round of progressive distillation (Salimans & Ho 2022) as a LightningModule: a
``K``-step student of a teacher sampled with ``2K`` DDIM steps on the ``uniform_t`` grid."""

from __future__ import annotations

from typing import Any

import torch

from ..diffusion import sample, step_grid
from ..diffusion.distillation import progressive_positions, progressive_target
from ..diffusion.parameterisation import eps_mse_factor, expand_like, from_x0
from ..diffusion.schedules import alpha_sigma_from_logsnr
from ..diffusion.weighting import weighting_from_config
from ..sampling import PROGRESSIVE_GRID
from .student import StudentModule, rms_distance

Tensor = torch.Tensor


class ProgressiveDistillModule(StudentModule):
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
        # the student's grid is every other teacher point: the positions' logsnr_t
        self._positions = progressive_positions(step_grid(self.schedule, 2 * self.student_steps, PROGRESSIVE_GRID))
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
        return self._finish_step(loss, b)

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
        sums: dict[str, list[float]] = {}
        for cond, shape, real in self._validation_cases():
            z = torch.randn(shape, generator=gen, device=self.device)
            teacher = self.teacher_fn(cond)
            student = self.bind(self.ema.model, self.recipe.diffusion.parameterisation, cond)

            def run(fn: Any, steps: int) -> Tensor:
                x0 = sample(fn, shape, self.schedule, steps, "ddim", grid=PROGRESSIVE_GRID, x_init=z, device=self.device)
                return self.data_transform.decode(x0)

            ref, stu, tea = run(teacher, ref_steps), run(student, k), run(teacher, k)
            sums.setdefault(f"val/ref_rms/student_{k}", []).append(rms_distance(stu, ref))
            sums.setdefault(f"val/ref_rms/teacher_{k}", []).append(rms_distance(tea, ref))
            for who, audio in (("student", stu), ("teacher", tea)):
                distance = self._mel_l1(audio, real)
                if distance is not None:
                    sums.setdefault(f"val/mel_l1/{who}_{k}", []).append(distance)
        return {name: sum(v) / len(v) for name, v in sums.items()}

    def distilled_info(self) -> dict[str, Any]:
        student_grid = self._positions[0]
        return {"method": "progressive", "steps": self.student_steps, "grid": PROGRESSIVE_GRID,
                "teacher_steps": 2 * self.student_steps,
                "logsnr_grid": [float(v) for v in student_grid.tolist()]}
