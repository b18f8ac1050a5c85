"""What the distillation modules share: a frozen teacher, a student initialised from it, the
per-stage random streams, the ``distilled`` record in the checkpoint and the validation
comparison with the teacher. The methods are in ``progressive.py`` and ``consistency.py``."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..sampling import DenoiseFn, bind_denoiser, model_kind
from .config import RecipeError
from .module import DiffusionModule, load_module

Tensor = torch.Tensor


def rms_distance(a: Tensor, b: Tensor) -> float:
    """Root mean square of ``a - b`` over all elements (float32)."""
    return float((a.float() - b.float()).pow(2).mean().sqrt())


class StudentModule(DiffusionModule):
    """Base of the distillation modules: a frozen teacher (kept out of the state dict: it is
    reloaded from ``teacher_path``), a student initialised from the teacher's EMA weights,
    the per-stage random streams and the validation comparison with the teacher.

    Extra args (beside ``DiffusionModule``'s): ``teacher_path`` (a wavediff checkpoint or
    None), ``teacher_guidance`` (guidance scale of the teacher's class-conditional target),
    ``stage`` (index of the stage, salts the random streams). Subclasses give
    ``distilled_info`` (the checkpoint's ``distilled`` record) and ``_compare`` (validation
    metrics against the teacher)."""

    def __init__(self, recipe: dict[str, Any], model_config: dict[str, Any], sample_rate: int,
                 mel_config: dict[str, Any] | None = None, labels: list[str] | None = None,
                 split: dict[str, list[str]] | None = None, teacher_path: str | None = None,
                 teacher_guidance: float = 1.0, stage: int = 0) -> None:
        super().__init__(recipe, model_config, sample_rate, mel_config, labels, split)
        self._aux: dict[str, nn.Module] = {}
        self.stage = int(stage)
        self.teacher_guidance = float(teacher_guidance)
        self.teacher_parameterisation: str | None = None
        self.teacher_self_conditions = False
        self.last_comparison: dict[str, float] = {}
        if teacher_path is not None:
            teacher = load_module(teacher_path)
            if teacher.net.config.to_dict() != self.net.config.to_dict():
                raise RecipeError(f"teacher {teacher_path} has another network configuration than the student")
            net = teacher.ema.model.requires_grad_(False).eval()
            self._aux["teacher"] = net
            self.teacher_parameterisation = teacher.recipe.diffusion.parameterisation
            # a plain teacher was trained to read its earlier estimates; a student teacher (a
            # later progressive round) was not
            self.teacher_self_conditions = model_kind(teacher.recipe.distill.method) == "plain"
            if self.recipe.distill.init_from_teacher:
                state = net.state_dict()
                self.net.load_state_dict(state)
                self.ema.model.load_state_dict(state)
                self.ema.num_updates.zero_()

    # -- the teacher lives outside the module tree but follows its device / dtype moves -----
    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> "StudentModule":
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

    def bind(self, net: nn.Module, parameterisation: str, batch: dict[str, Any], guidance: float = 1.0) -> DenoiseFn:
        """``net``'s ``(x_t, logsnr) -> x0_hat`` with the condition this model takes from
        ``batch`` (its ``label`` or ``mel``) bound, clamped as ``x0_clip`` says. A
        self-conditioned plain teacher hands its estimates on between the calls of one
        binding; students (and a teacher that is an earlier round's student) are trained
        without (zeros) and get none."""
        cond = self._cond(batch)
        return bind_denoiser(net, parameterisation, self.conditioning, class_label=cond.get("class_label"),
                             mel=cond.get("mel"), prior_component=cond.get("prior_component"), guidance=guidance, clip_x0=self.x0_clip(parameterisation),
                             x0_bound=self.data_transform.x0_bound,
                             self_condition=net is self.teacher_net and self.teacher_self_conditions)

    def teacher_fn(self, batch: dict[str, Any]) -> DenoiseFn:
        """The teacher's ``(x_t, logsnr) -> x0_hat`` for a batch (guided for class models)."""
        if self.teacher_net is None:
            raise RuntimeError("this stage has no teacher")
        return self.bind(self.teacher_net, self.teacher_parameterisation, batch, self.teacher_guidance)

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
        """``(conditioning, shape, real audio or None)`` of the clips used for comparisons;
        the conditioning is a batch-like dict (``label`` or ``mel``)."""
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

    def _mel_l1(self, audio: Tensor, real: Tensor | None) -> float | None:
        """Log-mel L1 of a vocoded clip to the real one (None without one long enough)."""
        if real is None or real.shape[-1] < self.mel_config.min_samples:
            return None
        from ..audio.metrics import mel_l1

        return float(mel_l1(audio, real, self.mel_config)[0])

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
