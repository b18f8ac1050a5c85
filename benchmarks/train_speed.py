"""Training throughput of the ljspeech-vocoder recipe: Lightning end to end vs a bare loop.

Both run the recipe's settings (DiffWave base with 80-bin mel conditioning, batch 16 of
62-frame = 15,872-sample crops at hop 256, linear-beta schedule, eps objective, AdamW
2e-4, gradient clipping at 1.0, EMA 0.9999) on synthetic in-memory batches, so data
loading costs nothing and the difference between the two rows is framework overhead:

* ``lightning``: a real ``lightning.Trainer.fit`` of ``wavediff.train.DiffusionModule``
  (its ``training_step``, Lightning's optimisation loop and gradient clipping, the
  module's EMA update), no logger, checkpoints or validation;
* ``bare``: the same network, loss (``wavediff.diffusion.diffusion_loss``), backward,
  ``clip_grad_norm_``, ``AdamW.step`` and EMA update in a plain PyTorch loop.

Each is warmed up with one step on a small batch (``--warmup-batch``, default 2: the same
code paths, allocator and thread pools at a fraction of the time), then ``--steps`` steps of
the full batch are timed; the table gives the median step time and audio samples per
second (batch x crop length / step time). On the 2-core CPU one full step takes ~40 s, so
the default is one timed step per variant.

    python benchmarks/train_speed.py [--steps 1] [--batch 16] [--device cpu] [--json train.json]

Numbers only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any

import lightning as L
import torch

from wavediff.diffusion import diffusion_loss
from wavediff.train.config import load_recipe
from wavediff.train.ema import EMA
from wavediff.train.run import build_module, resolve_mel

REALTIME_RATE = 22050


def synthetic_batches(sizes: list[int], frames: int, hop: int, mel_bins: int, seed: int = 0) -> list[dict]:
    """In-memory batches of the given sizes: ``audio`` (B, 1, frames * hop) in [-1, 1],
    ``mel`` (B, M, frames)."""
    g = torch.Generator().manual_seed(seed)
    return [{"audio": (0.1 * torch.randn(size, 1, frames * hop, generator=g)).clamp(-1, 1),
             "mel": torch.rand(size, mel_bins, frames, generator=g)} for size in sizes]


class _StepTimer(L.Callback):
    """Wall time of every training step (batch start to batch end, optimiser step included)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.times.append(time.perf_counter() - self._t0)


def _module(args: argparse.Namespace):
    recipe = load_recipe("ljspeech-vocoder", [f"data.batch_size={args.batch}"])
    mel = resolve_mel(recipe)
    torch.manual_seed(0)
    return recipe, mel, build_module(recipe, mel.sample_rate, mel, None, None)


def bench_lightning(args: argparse.Namespace, batches: list[dict]) -> list[float]:
    recipe, _, module = _module(args)
    timer = _StepTimer()
    trainer = L.Trainer(
        max_steps=len(batches), accelerator=args.device, devices=1, precision="32-true", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=recipe.optim.grad_clip or None,
        callbacks=[timer])
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, train_dataloaders=loader)
    return timer.times[1:]  # the first step is the warm-up


def bench_bare(args: argparse.Namespace, batches: list[dict]) -> list[float]:
    recipe, _, module = _module(args)
    device = torch.device(args.device)
    net = module.net.to(device).train()
    ema = EMA(net, recipe.optim.ema_decay)
    o, d = recipe.optim, recipe.diffusion
    opt = torch.optim.AdamW(net.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    times = []
    for step, batch in enumerate(batches):
        audio, mel = batch["audio"].to(device), batch["mel"].to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        gen = torch.Generator(device=device).manual_seed(step)
        loss = diffusion_loss(net, audio, module.schedule, parameterisation=d.parameterisation,
                              weighting=module.weighting, time_sampling=d.time_sampling, generator=gen,
                              cond={"mel": mel}).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if o.grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), o.grad_clip)
        opt.step()
        ema.update(net)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return times[1:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example:\n  python benchmarks/train_speed.py --steps 2 --json train.json")
    p.add_argument("--steps", type=int, default=1, help="timed steps per variant, after one warm-up step (default 1)")
    p.add_argument("--warmup-batch", type=int, default=2, help="batch size of the warm-up step (default 2)")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16, the recipe's)")
    p.add_argument("--frames", type=int, default=62, help="mel frames per crop (default 62, the recipe's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument("--variants", default="lightning,bare", help="comma-separated: lightning, bare")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON to PATH")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA requested but not available", file=sys.stderr)
        return 2
    _, mel, module = _module(args)
    hop, length = mel.hop_length, args.frames * mel.hop_length
    samples = args.batch * length
    print(f"ljspeech-vocoder recipe: DiffWave base, {module.net.num_parameters():,} parameters; batch {args.batch} x "
          f"{args.frames} frames = {samples:,} audio samples per step; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, 1-minute load {os.getloadavg()[0]:.2f}")
    del module
    batches = synthetic_batches([args.warmup_batch] + [args.batch] * args.steps, args.frames, hop, mel.n_mels)
    runners = {"lightning": bench_lightning, "bare": bench_bare}
    rows = []
    print(f"{'variant':<10} {'steps':>5} {'s/step':>8} {'samples/s':>10} {'x22.05k':>8}")
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        times = runners[name](args, batches)
        t = statistics.median(times)
        row = {"variant": name, "steps": len(times), "seconds_per_step": t, "step_times": times,
               "samples_per_s": samples / t, "realtime_factor": samples / t / REALTIME_RATE}
        rows.append(row)
        print(f"{name:<10} {len(times):>5} {t:>8.2f} {samples / t:>10,.0f} {samples / t / REALTIME_RATE:>8.2f}",
              flush=True)
    if len(rows) == 2:
        overhead = rows[0]["seconds_per_step"] / rows[1]["seconds_per_step"] - 1
        print(f"{rows[0]['variant']} vs {rows[1]['variant']}: {100 * overhead:+.1f}% time per step")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"recipe": "ljspeech-vocoder", "batch": args.batch, "frames": args.frames,
                       "samples_per_step": samples, "device": args.device, "threads": torch.get_num_threads(),
                       "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                       "load_average_1min": os.getloadavg()[0], "rows": rows}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
