"""Lightning plumbing: atomic checkpoint writes, throughput in the progress bar, and audio
samples written (and logged) at every validation."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..checkpoint_io import CheckpointError, load_checkpoint, plain
from ..files import atomic_torch_save, remove_stale_temporaries


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O for wavediff: writes through ``atomic_torch_save`` (``last.ckpt``
    is never corrupt) with only plain values in it, and reads (``--resume``) through
    ``load_checkpoint``, which never executes code from the file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        atomic_torch_save(plain(checkpoint), path)

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        ckpt = load_checkpoint(path, "--resume checkpoint")
        if ckpt.get("exported"):
            raise CheckpointError(f"{path} is an exported model (weights only): resume from the run's .ckpt file")
        return ckpt


class StepCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also saves when training ends: Lightning defers a periodic
    save that falls on an epoch's last batch to the next validation, and skips it when no
    validation follows, so a run could end with its last steps nowhere on disk."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > 0 and not self._should_skip_saving_checkpoint(trainer):
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
        super().on_train_end(trainer, pl_module)


def step_checkpoint(folder: str | Path, every: int) -> StepCheckpoint:
    """The checkpoint callback of a run: ``last.ckpt`` plus the 3 latest ``stepNNNNNNN.ckpt``
    every ``every`` steps and at the final step. Stale temporaries of an earlier crash are
    removed first."""
    remove_stale_temporaries(folder)
    return StepCheckpoint(dirpath=folder, filename="step{step:07d}", auto_insert_metric_name=False,
                          every_n_train_steps=every, save_last=True, save_top_k=3, monitor="step", mode="max",
                          enable_version_counter=False)  # one run per folder: never last-v1.ckpt


class Throughput(L.Callback):
    """Audio samples per second of training, shown in the progress bar."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._samples = 0
        self.total_samples = 0
        self.total_seconds = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self._t0 is None:
            return
        seconds = time.perf_counter() - self._t0
        samples = batch["audio"].numel() * trainer.world_size
        self.total_samples += samples
        self.total_seconds += seconds
        pl_module.log("train/samples_per_s", samples / max(seconds, 1e-9), prog_bar=True,
                      batch_size=batch["audio"].shape[0])


class SampleWriter(L.Callback):
    """After each validation, generates a few clips with the EMA weights and writes them to
    ``out/samples/step_XXXXXXX/`` (also to TensorBoard when that logger is active). Vocoders
    re-synthesise the first validation clips from their mels."""

    def __init__(self, out_dir: str | Path, num: int = 4, seconds: float = 1.0) -> None:
        self.out_dir, self.num, self.seconds = Path(out_dir), num, seconds

    def on_validation_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        from ..audio.io import save_audio
        from ..audio.metrics import mel_l1
        from ..audio.plot import save_spectrogram_png

        folder = self.out_dir / f"step_{trainer.global_step:07d}"
        gen = torch.Generator(device=pl_module.device).manual_seed(0)
        sr = pl_module.sample_rate
        clips: list[tuple[str, torch.Tensor]] = []
        was_training = pl_module.training
        pl_module.eval()
        metrics: dict[str, float] = {}
        if pl_module.conditioning == "mel":
            loader = trainer.val_dataloaders
            distances = []
            for i, batch in enumerate(loader):
                if i >= self.num:
                    break
                mel = batch["mel"].to(pl_module.device)
                audio = pl_module.generate(1, mel.shape[-1] * pl_module.net.hop, mel=mel, generator=gen)
                real = batch["audio"].to(pl_module.device)
                if real.shape[-1] >= pl_module.mel_config.min_samples:
                    distances.append(float(mel_l1(audio, real, pl_module.mel_config)[0]))
                clips.append((f"{i:02d}_vocoded", audio[0]))
                clips.append((f"{i:02d}_real", batch["audio"][0]))
            if distances:
                metrics["val/mel_l1"] = sum(distances) / len(distances)
        else:
            length = int(self.seconds * sr)
            labels = None
            if pl_module.conditioning == "class":
                labels = torch.arange(self.num, device=pl_module.device) % len(pl_module.labels)
            audio = pl_module.generate(self.num, length, class_label=labels, generator=gen)
            for i in range(self.num):
                name = f"{i:02d}" + (f"_{pl_module.labels[int(labels[i])]}" if labels is not None else "")
                clips.append((name, audio[i]))
        if was_training:
            pl_module.train()
        experiment = getattr(trainer.logger, "experiment", None)
        for name, audio in clips:
            audio = audio.float().cpu().clamp(-1, 1)
            save_audio(folder / f"{name}.wav", audio, sr)
            png = save_spectrogram_png(folder / f"{name}.png", audio, sr, f"{name} (step {trainer.global_step})")
            if hasattr(experiment, "add_audio"):
                experiment.add_audio(f"samples/{name}", audio.reshape(-1), trainer.global_step, sample_rate=sr)
                import matplotlib.image

                experiment.add_image(f"spectrograms/{name}", matplotlib.image.imread(png)[..., :3],
                                     trainer.global_step, dataformats="HWC")
        if metrics and trainer.logger is not None:
            trainer.logger.log_metrics(metrics, step=trainer.global_step)
            print("  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
