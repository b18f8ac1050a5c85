"""Search a few-step sampling grid for a vocoder: greedy coordinate descent over logsnr
positions that minimises a spectral distance (log-mel L1) between copy-synthesised and real
held-out clips, with the starting noise fixed so that only the grid changes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch

from .audio.metrics import mel_l1
from .checkpoint_io import is_export, load_checkpoint
from .diffusion.grids import step_grid
from .export import save_tuned_grid_export
from .files import atomic_torch_save
from .vocoder import Vocoder


def tune_grid(voc: Vocoder, clips: list[torch.Tensor], steps: int, method: str = "ddim", *,
              candidates: int = 24, passes: int = 2, seed: int = 0,
              progress: Callable[[str], None] | None = None) -> tuple[list[float], float, float]:
    """Greedy search of a ``steps``-point logsnr grid.

    Starts from the ``karras`` grid; in each pass, every position in turn is moved to the
    best of ``candidates`` values evenly spaced (in logsnr) between its neighbours. Returns
    ``(grid, start_score, best_score)`` with scores = mean log-mel L1 over ``clips``
    (audio (1, T) at the vocoder's rate)."""
    mels = [voc.mel(c.to(voc.device)) for c in clips]
    sched = voc.module.schedule

    def score(grid: list[float]) -> float:
        total = 0.0
        for mel, ref in zip(mels, clips):
            out, _ = voc.vocode(mel, None, method, logsnr_grid=grid, seed=seed)
            total += float(mel_l1(out, ref.unsqueeze(0).to(out.device), voc.mel_config)[0])
        return total / len(clips)

    grid = step_grid(sched, steps, "karras")[:-1].tolist()
    best = start = score(grid)
    lo_bound, hi_bound = sched.logsnr_min, sched.logsnr_max
    for p in range(passes):
        for i in range(steps):
            lo = grid[i - 1] if i > 0 else lo_bound - 1e-6
            hi = grid[i + 1] if i + 1 < steps else hi_bound + 1e-6
            for k in range(1, candidates + 1):
                value = lo + (hi - lo) * k / (candidates + 1)
                trial = grid[:i] + [value] + grid[i + 1:]
                s = score(trial)
                if s < best:
                    best, grid = s, trial
            if progress is not None:
                progress(f"pass {p + 1}/{passes}, position {i + 1}/{steps}: mel L1 {best:.4f} (start {start:.4f})")
    return grid, start, best


def save_tuned_grid(checkpoint: str | Path, method: str, steps: int, grid: list[float],
                    out: str | Path | None = None) -> Path:
    """Store the grid in the checkpoint's metadata (``wavediff.tuned_grids["method:steps"]``),
    written atomically to ``out`` (default: in place). An exported model (folder) gets it in
    its ``config.json``; ``out`` is then a folder that receives a copy of the model."""
    if not all(math.isfinite(v) for v in grid):
        raise ValueError("tuned grid has non-finite values")
    checkpoint = Path(checkpoint)
    target = Path(out) if out is not None else checkpoint
    if is_export(checkpoint):
        return save_tuned_grid_export(checkpoint, target, f"{method}:{steps}", [float(v) for v in grid])
    ckpt = load_checkpoint(checkpoint)
    meta = ckpt.setdefault("wavediff", {})
    meta.setdefault("tuned_grids", {})[f"{method}:{steps}"] = [float(v) for v in grid]
    atomic_torch_save(ckpt, target)
    return target
