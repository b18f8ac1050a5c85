"""The Lightning ``Trainer`` of a run folder, one set-up for ``wavediff train`` and for every
stage of ``wavediff distill``: atomic checkpoints in ``OUT/checkpoints/`` (``last.ckpt`` plus
the latest ``stepNNNNNNN.ckpt``), audio samples in ``OUT/samples/``, metrics in ``OUT/logs/``
(TensorBoard when installed, else CSV), steps counted and validated as the recipe says."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import lightning as L

from .callbacks import AtomicCheckpointIO, SampleWriter, StepCheckpoint, Throughput, step_checkpoint
from .config import Recipe

# Lightning's remarks that do not apply to wavediff runs: one worker per small corpus is
# fine, step-based runs resume mid-epoch by design
QUIET = (".*does not have many workers.*", ".*resuming from a checkpoint that ended before the epoch ended.*",
         ".*fault-tolerant.*")


def make_logger(out: Path) -> Any:
    """The metrics logger of ``out``: a new ``logs/version_N`` per (resumed) run, earlier
    logs kept."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    if importlib.util.find_spec("tensorboard") is not None:
        return TensorBoardLogger(out, name="logs")
    return CSVLogger(out, name="logs")


def make_trainer(recipe: Recipe, out: Path, progress: bool = True,
                 extra_callbacks: list[L.Callback] | None = None) -> tuple[L.Trainer, StepCheckpoint, Throughput]:
    """The ``Trainer`` of a run in ``out`` set up from ``recipe.trainer`` (and
    ``optim.grad_clip``), with its checkpoint and throughput callbacks (returned too: the
    last checkpoint's path and the samples per second are read from them after the fit)."""
    t = recipe.trainer
    checkpoints = step_checkpoint(out / "checkpoints", t.checkpoint_every)
    throughput = Throughput()
    callbacks: list[L.Callback] = [checkpoints, throughput,
                                   SampleWriter(out / "samples", num=min(4, recipe.data.valid_clips))]
    callbacks += list(extra_callbacks or [])
    if progress:
        callbacks.append(L.pytorch.callbacks.TQDMProgressBar(refresh_rate=max(1, min(t.log_every, 10))))
    trainer = L.Trainer(
        max_steps=t.max_steps, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        strategy=t.strategy, precision=t.precision, val_check_interval=t.val_every, check_val_every_n_epoch=None,
        log_every_n_steps=t.log_every, gradient_clip_val=recipe.optim.grad_clip or None, callbacks=callbacks,
        logger=make_logger(out), default_root_dir=out, use_distributed_sampler=False, deterministic=t.deterministic,
        plugins=[AtomicCheckpointIO()], enable_progress_bar=progress, num_sanity_val_steps=0,
        enable_model_summary=False)
    return trainer, checkpoints, throughput


def fit(trainer: L.Trainer, module: L.LightningModule, data: L.LightningDataModule, resume: Path | None,
        quiet: tuple[str, ...] = ()) -> None:
    """``trainer.fit`` from ``resume`` (a checkpoint of this run) or from the start, without
    Lightning's remarks in ``QUIET`` and the message patterns ``quiet``."""
    with warnings.catch_warnings():
        for message in QUIET + tuple(quiet):
            warnings.filterwarnings("ignore", message=message)
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
