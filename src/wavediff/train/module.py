"""The diffusion LightningModule: trains a denoiser with the core objective, keeps an EMA of
its weights, validates per noise level, and writes checkpoints that carry everything
needed to sample, vocode or evaluate (model config, schedule, parameterisation, MelConfig,
recipe, labels, data split)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ..audio.data_transform import DataTransform
from ..checkpoint_io import CheckpointError, load_checkpoint
from ..audio.mel import LogMel
from ..audio.mel_config import MelConfig
from ..diffusion import (
    Denoiser,
    bin_by_logsnr,
    bin_labels,
    diffusion_loss,
    logsnr_bin_edges,
    schedule_from_config,
    self_conditioned_training,
    weighting_from_config,
)
from ..diffusion.parameterisation import eps_mse_factor, expand_like, target
from ..diffusion.schedules import alpha_sigma_from_logsnr
from ..nn import build_network
from ..sampling import pins_components, sample_model
from .config import Recipe, recipe_from_dict
from .ema import EMA

NUM_LOGSNR_BINS = 8


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss and the recipe says to stop."""


class DiffusionModule(L.LightningModule):
    """Continuous-time diffusion training of a ``wavediff.nn`` denoiser (DiffWave or spectral).

    Args:
        recipe: the run's recipe as a dict (``Recipe.to_dict()``).
        model_config: ``DenoiserConfig.to_dict()`` of the network.
        sample_rate: Hz of the training audio.
        mel_config: ``MelConfig.to_dict()`` for vocoders, else None.
        labels: class names (index = label) for class-conditional models, else None.
        split: ``{"train": [...ids], "valid": [...], "test": [...]}`` of the corpus.

    Batches are dicts with ``audio`` (B, 1, T) and, as configured, ``mel`` and ``label``.
    """

    def __init__(self, recipe: dict[str, Any], model_config: dict[str, Any], sample_rate: int,
                 mel_config: dict[str, Any] | None = None, labels: list[str] | None = None,
                 split: dict[str, list[str]] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.recipe: Recipe = recipe_from_dict(recipe)
        self.net = build_network(model_config)
        self.ema = EMA(self.net, self.recipe.optim.ema_decay)
        self.schedule = schedule_from_config(self.recipe.diffusion.schedule)
        self.weighting = weighting_from_config(self.recipe.diffusion.weighting)
        # audio <-> the diffusion's x_0 (scale, pre-emphasis): encode every batch, decode every sample
        self.data_transform = DataTransform.from_config(self.recipe.diffusion)
        self.sample_rate = sample_rate
        self.mel_config = MelConfig.from_dict(mel_config) if mel_config is not None else None
        self.labels = labels
        self.register_buffer("bin_edges", logsnr_bin_edges(self.schedule, NUM_LOGSNR_BINS), persistent=False)
        self._compiled: list[Any] = []  # kept out of the module tree so state_dict keys stay plain
        self._val_sums = torch.zeros(NUM_LOGSNR_BINS, dtype=torch.float64)
        self._val_counts = torch.zeros(NUM_LOGSNR_BINS, dtype=torch.float64)
        self.skipped_steps = 0
        self._step_was_skipped = False
        self.tuned_grids: dict[str, list[float]] = {}  # "method:steps" -> logsnr grid (tune-schedule)

    # -- conditioning ---------------------------------------------------------------------
    @property
    def conditioning(self) -> str:
        return self.recipe.model.conditioning

    def _cond(self, batch: dict[str, Any], generator: torch.Generator | None = None,
              drop: float = 0.0) -> dict[str, Any]:
        cond: dict[str, Any] = {}
        if self.conditioning == "mel":
            cond["mel"] = batch["mel"]
        elif self.conditioning == "class":
            labels = batch["label"]
            if drop > 0:
                u = torch.rand(labels.shape, generator=generator, device=generator.device if generator else labels.device)
                labels = torch.where(u.to(labels.device) < drop, torch.full_like(labels, self.net.null_class), labels)
            cond["class_label"] = labels
            if pins_components(self.net):
                cond["prior_component"] = self._prior_component(batch, labels, generator)
        return cond

    def _prior_component(self, batch: dict[str, Any], labels: torch.Tensor,
                         generator: torch.Generator | None) -> torch.Tensor:
        """Each example's prior component (``pin_components``): the one its clean segment belongs
        to, or, for a batch without audio, one drawn from its class's weights; a dropped label
        (the null class) keeps the mixture (``-1``)."""
        if "audio" in batch:
            component = self.net.corpus_component(self.data_transform.encode(batch["audio"]), labels)
        else:
            component = self.net.draw_component(labels, generator=generator)
        return torch.where(labels == self.net.null_class, torch.full_like(component, -1), component.to(labels.device))

    def _step_generator(self) -> torch.Generator:
        """Noise and times of a step depend only on (seed, step, rank): resumed runs match."""
        seed = (self.recipe.seed * 1_000_003 + self.global_step * max(self.trainer.world_size, 1)
                + self.trainer.global_rank) if self._trainer is not None else self.recipe.seed
        return torch.Generator(device=self.device).manual_seed(int(seed) % (2**63))

    # -- training -------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.recipe.trainer.compile and not self._compiled:
            self._compiled.append(torch.compile(self.net))

    def _train_net(self):
        return self._compiled[0] if self._compiled else self.net

    def batch_loss(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training loss of ``batch`` (``audio``, and ``mel`` or ``label``) with noise and
        times from ``generator``: the diffusion loss plus, where the network has a part trained
        by its own regression (the spectral network's learned prior), that part's loss, which is
        also returned on its own (None without one)."""
        d = self.recipe.diffusion
        cond = self._cond(batch, generator, d.class_dropout)
        x0 = self.data_transform.encode(batch["audio"])
        net = self_conditioned_training(self._train_net(), d.parameterisation, generator)
        out = diffusion_loss(net, x0, self.schedule, parameterisation=d.parameterisation,
                             weighting=self.weighting, time_sampling=d.time_sampling, generator=generator, cond=cond)
        auxiliary = getattr(self.net, "auxiliary_loss", None)
        prior_loss = auxiliary(x0, cond["mel"]) if auxiliary is not None and "mel" in cond else None
        return (out.loss if prior_loss is None else out.loss + prior_loss), prior_loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        loss, prior_loss = self.batch_loss(batch, self._step_generator())
        if prior_loss is not None:
            self.log("train/prior_loss", prior_loss, prog_bar=True, batch_size=batch["audio"].shape[0])
        return self._finish_step(loss, batch["audio"].shape[0])

    def _finish_step(self, loss: torch.Tensor, batch_size: int) -> torch.Tensor | None:
        """The end of every training step (distillation's too): a loss that is not finite on
        some rank is skipped or stops the run (``trainer.nan_policy``); a finite one is logged
        with the learning rate and returned."""
        finite = torch.isfinite(loss.detach()).float()
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        if not bool(finite):
            return self._non_finite(loss)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=batch_size)
        return loss

    def _non_finite(self, loss: torch.Tensor) -> None:
        step = self.global_step
        if self.recipe.trainer.nan_policy == "skip":
            self.skipped_steps += 1
            self._step_was_skipped = True
            self.print(f"warning: non-finite loss ({float(loss)}) at step {step}; batch skipped "
                       f"({self.skipped_steps} so far)")
            return None
        last = _last_checkpoint(self.trainer)
        raise NonFiniteLossError(
            f"loss is {float(loss)} at step {step}. Last good checkpoint: {last or 'none written yet'}. "
            "Lower optim.lr, keep optim.grad_clip on, check the data for NaN/inf, or set "
            "trainer.nan_policy=skip to skip such batches.")

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        # The EMA follows the optimizer step itself, before any callback's batch-end hook, so
        # a checkpoint written at that hook already holds the step's EMA update.
        self._step_was_skipped = False
        super().optimizer_step(*args, **kwargs)  # runs the closure, i.e. training_step
        if not self._step_was_skipped:
            self.ema.update(self.net)

    def configure_optimizers(self) -> dict[str, Any]:
        o = self.recipe.optim
        opt = torch.optim.AdamW(self.net.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        total = self.recipe.trainer.max_steps

        def factor(step: int) -> float:
            if step < o.warmup_steps:
                return (step + 1) / o.warmup_steps
            if o.lr_schedule == "constant":
                return 1.0
            progress = min((step - o.warmup_steps) / max(total - o.warmup_steps, 1), 1.0)
            return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- validation -----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_sums.zero_()
        self._val_counts.zero_()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """EMA loss at the centre of every logsnr bin, with noise fixed by the clip index."""
        audio = self.data_transform.encode(batch["audio"])
        centres = 0.5 * (self.bin_edges[1:] + self.bin_edges[:-1])
        gen = torch.Generator(device=self.device).manual_seed(10_000 + batch_idx)
        d = self.recipe.diffusion
        cond = self._cond(batch)
        for logsnr_value in centres:
            logsnr = logsnr_value.expand(audio.shape[0]).to(audio.dtype)
            noise = torch.randn(audio.shape, generator=gen, device=self.device, dtype=audio.dtype)
            alpha, sigma = alpha_sigma_from_logsnr(logsnr)
            a, s = expand_like(alpha, audio), expand_like(sigma, audio)
            out = self.ema.model(a * audio + s * noise, logsnr, **cond)
            native = (out.float() - target(d.parameterisation, audio, noise, a, s).float()).pow(2).flatten(1).mean(1)
            eps_mse = eps_mse_factor(d.parameterisation, logsnr.float()) * native
            sums, counts = bin_by_logsnr(logsnr, eps_mse, self.bin_edges)
            self._val_sums += sums.cpu()
            self._val_counts += counts.cpu()

    def on_validation_epoch_end(self) -> None:
        sums, counts = self._val_sums.clone(), self._val_counts.clone()
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums.to(self.device), reduce_op="sum").cpu()
            counts = self.trainer.strategy.reduce(counts.to(self.device), reduce_op="sum").cpu()
        if counts.sum() == 0:
            return
        means = sums / counts.clamp(min=1)
        for label, value in zip(bin_labels(self.bin_edges.cpu()), means.tolist()):
            self.log(f"val/eps_mse/{label}", value, rank_zero_only=True)  # already reduced over ranks
        self.log("val/eps_mse", float(means.mean()), prog_bar=True, rank_zero_only=True)

    # -- inference ------------------------------------------------------------------------
    def denoiser(self, ema: bool = True) -> Denoiser:
        """``x0_hat = f(x_t, logsnr, **cond)`` from the EMA (default) or raw weights."""
        param = self.recipe.diffusion.parameterisation
        return Denoiser(self.ema.model if ema else self.net, param, clip_x0=self.x0_clip(param))

    def x0_clip(self, parameterisation: str) -> float | None:
        """The clamp on ``x0_hat`` for a network predicting ``parameterisation`` in this
        diffusion: the range audio in [-1, 1] encodes to, for eps-prediction; none for x0 and v.

        eps-prediction gives ``x0_hat = (x_t - sigma eps_hat) / alpha``: at the noisy end of a
        schedule (logsnr -15: 1 / alpha = 1800) the network's error is blown up into a first
        ``x0_hat`` hundreds of times the data's size, which the deterministic samplers carry to
        the end. x0 and v outputs are bounded by the network's own output."""
        return self.data_transform.x0_bound if parameterisation == "eps" else None

    def generate(self, num: int, length: int, *, steps: int | None = None, method: str | None = None,
                 grid: str | None = None, logsnr_grid: list[float] | None = None, sigmas: list[float] | None = None,
                 class_label: torch.Tensor | None = None, guidance: float | None = None,
                 mel: torch.Tensor | None = None, generator: torch.Generator | None = None,
                 noise: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """``num`` clips of ``length`` samples of audio (num, 1, length), sampled the way this
        model is meant to be (``wavediff.sampling``: a plain model with any sampler and grid,
        a distilled student as distilled) and decoded from the diffusion's ``x_0``. With
        ``mel`` (num, n_mels, F) the length is ``F * hop``; ``class_label`` (num,) for class
        models (``guidance``: default the recipe's)."""
        return sample_model(self, num, length, steps=steps, method=method, grid=grid, logsnr_grid=logsnr_grid,
                            sigmas=sigmas, guidance=guidance, class_label=class_label, mel=mel, generator=generator,
                            noise=noise, ema=ema)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        if self.mel_config is None:
            raise ValueError("this model has no MelConfig (it is not a vocoder)")
        return LogMel(self.mel_config).to(audio.device)(audio)

    # -- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from .. import __version__

        checkpoint["wavediff"] = {
            "version": __version__,
            "schedule": self.schedule.config(),
            "parameterisation": self.recipe.diffusion.parameterisation,
            "data_transform": self.data_transform.to_dict(),
            "mel_config": self.mel_config.to_dict() if self.mel_config is not None else None,
            "sample_rate": self.sample_rate,
            "skipped_steps": self.skipped_steps,
            "tuned_grids": dict(self.tuned_grids),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("wavediff", {})
        self.skipped_steps = meta.get("skipped_steps", 0)
        self.tuned_grids = dict(meta.get("tuned_grids", {}))


def _last_checkpoint(trainer: L.Trainer) -> str | None:
    cb = getattr(trainer, "checkpoint_callback", None)
    path = getattr(cb, "last_model_path", "") or getattr(cb, "best_model_path", "")
    return path if path and Path(path).exists() else None


def load_module(path: str | Path, map_location: str | torch.device = "cpu") -> DiffusionModule:
    """Load a wavediff checkpoint (``.ckpt`` file or ``wavediff export`` folder) for inference
    (EMA weights in ``module.ema.model``). Nothing in the file is executed
    (``checkpoint_io.load_checkpoint``); a file that is not a wavediff checkpoint raises a
    ``ValueError`` naming it."""
    return module_from_checkpoint(load_checkpoint(path), path, map_location)


def module_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "checkpoint",
                           map_location: str | torch.device = "cpu") -> DiffusionModule:
    """A ``DiffusionModule`` built from a loaded checkpoint dictionary: the constructor's
    arguments from ``hyper_parameters`` (extra ones of the distillation modules are left
    out), then ``on_load_checkpoint`` and the state dict, as Lightning would do it."""
    hp, state = ckpt.get("hyper_parameters"), ckpt.get("state_dict")
    if not isinstance(hp, dict) or not isinstance(state, dict) or "wavediff" not in ckpt:
        raise CheckpointError(f"{path} is not a wavediff checkpoint (no model settings in it): pass a checkpoint "
                              "written by `wavediff train`/`distill` or a `wavediff export` folder")
    accepted = set(inspect.signature(DiffusionModule.__init__).parameters) - {"self"}
    try:
        module = DiffusionModule(**{k: v for k, v in hp.items() if k in accepted})
        module.on_load_checkpoint(ckpt)
        module.load_state_dict(state, strict=True)
    except (KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"{path} is not a wavediff checkpoint of this version ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:300] if str(err) else ''})") from None
    return module.to(map_location).eval()
