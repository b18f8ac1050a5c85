"""What the two demos (``eval/demo.py``: music, ``eval/demo_vocoder.py``: vocoder) share: the
checks made before any work, the claim on the output folder, stage timing and a console
without Lightning's banners."""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch


@dataclass
class DemoPlan:
    teacher_steps: int
    round_steps: int  # per progressive round
    consistency_steps: int
    seconds_per_step: float


def split_budget(minutes: float, seconds_per_step: float, share: dict[str, float], cost: dict[str, float],
                 rounds: int, limits: tuple[int, int, int]) -> DemoPlan:
    """Steps per stage so that training takes about ``minutes`` in all: each stage
    (``teacher``, ``progressive``: ``rounds`` rounds, ``consistency``) gets its ``share`` of
    the budget at ``cost`` teacher steps per step; at least 20 teacher steps and 10 of the
    others, at most ``limits`` (teacher, per round, consistency)."""
    budget = minutes * 60.0
    teacher = budget * share["teacher"] / (seconds_per_step * cost["teacher"])
    per_round = budget * share["progressive"] / rounds / (seconds_per_step * cost["progressive"])
    consistency = budget * share["consistency"] / (seconds_per_step * cost["consistency"])
    clamp = lambda v, lo, hi: int(min(max(v, lo), hi))  # noqa: E731
    return DemoPlan(clamp(teacher, 20, limits[0]), clamp(per_round, 10, limits[1]),
                    clamp(consistency, 10, limits[2]), seconds_per_step)


def check_options(minutes: float, device: str) -> None:
    """Refuse a budget or device that cannot work, before anything is written."""
    if minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {minutes}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda but no CUDA device is visible to torch; use --device cpu")


def claim_output(out: str | Path) -> Path:
    """The output folder, created; refused when it holds an earlier demo run (checked before
    minutes of work, not at the teacher stage)."""
    from ..train.run_folder import previous_run

    out = Path(out)
    if previous_run(out / "teacher") is not None:
        raise ValueError(f"--out {out} holds an earlier demo run; give a new --out folder or remove that one")
    out.mkdir(parents=True, exist_ok=True)
    return out


class StageClock:
    """Announces each stage and records its seconds: ``done = clock.stage("name"); ...; done()``."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    def stage(self, name: str) -> Callable[[], None]:
        t0 = time.perf_counter()
        self.say(f"\n== {name} ==")
        return lambda: self.timings.__setitem__(name, time.perf_counter() - t0)

    def total(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.start


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """A readable console while a demo runs: Lightning's start-up banners, tips and two
    known-harmless warnings are not news there. The logger levels and warning filters are
    restored on the way out, so a program that calls a demo keeps its own."""
    import lightning.pytorch  # noqa: F401  (importing it sets its logger's level: done before levels are kept)

    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
