"""Models under evaluation: plain checkpoints and distilled students, each sampled the way
it is meant to be sampled (``wavediff.sampling``), from the same starting noise.

A *model* is what the user names on the command line: a checkpoint file, a ``wavediff
train`` run folder (``checkpoints/last.ckpt``) or a ``wavediff distill`` folder
(``distill.json``; a progressive run holds one student per step count in ``round_K/``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoint_io import is_export
from ..diffusion.grids import grid_names, named_grid_steps
from ..diffusion.samplers import SAMPLERS
from ..sampling import SamplingPlan, distilled_info, load_model, model_kind, plan_sampling, sample_model
from ..train.module import DiffusionModule


@dataclass
class ModelSpec:
    """One named model: ``kind`` is ``plain``, ``progressive`` or ``consistency``;
    ``checkpoints`` maps a step count to the checkpoint that samples it (``0``: any)."""

    name: str
    kind: str
    checkpoints: dict[int, Path]
    source: str = ""
    _modules: dict[Path, DiffusionModule] = field(default_factory=dict, repr=False)

    def checkpoint(self, steps: int = 0) -> Path:
        """The checkpoint that samples ``steps`` steps (the step-independent one, key 0, otherwise)."""
        path = self.checkpoints.get(steps, self.checkpoints.get(0))
        if path is None:
            raise KeyError(f"{self.name} has no checkpoint for {steps} steps")
        return path

    def module(self, steps: int = 0, device: str | torch.device = "cpu") -> DiffusionModule:
        path = self.checkpoint(steps)
        if path not in self._modules:
            self._modules[path] = load_model(path, device)
        return self._modules[path]

    def any_module(self, device: str | torch.device = "cpu") -> DiffusionModule:
        return self.module(next(iter(self.checkpoints)), device)


def resolve_model(path: str | Path, name: str | None = None) -> ModelSpec:
    """A :class:`ModelSpec` from a checkpoint file or a train/distill run folder."""
    path = Path(path)
    if path.is_dir() and not is_export(path):  # an exported model is loaded like a checkpoint file
        summary = path / "distill.json"
        if summary.is_file():
            info = json.loads(summary.read_text())
            method = info.get("method", "")
            stages = [s for s in info.get("stages", []) if Path(s.get("checkpoint", "")).is_file()]
            if not stages:
                raise FileNotFoundError(f"{summary} names no existing checkpoint: is the distillation finished?")
            kind = model_kind(method)
            if kind == "progressive":
                ckpts = {int(s["steps"]): Path(s["checkpoint"]) for s in stages}
            else:
                ckpts = {0: Path(stages[-1]["checkpoint"])}
            return ModelSpec(name or method, kind, ckpts, str(path))
        last = path / "checkpoints" / "last.ckpt"
        if last.is_file():
            path = last
        else:
            raise FileNotFoundError(f"{path} is a folder without checkpoints/last.ckpt or distill.json: "
                                    "pass a checkpoint file or a wavediff train/distill output folder")
    if not path.is_file() and not is_export(path):
        raise FileNotFoundError(f"checkpoint {path} not found")
    info = distilled_info(path)
    if not info:
        spec = ModelSpec(name or "", "plain", {0: path}, str(path))
        if not spec.name:
            spec.name = spec.any_module().recipe.name or path.stem
        return spec
    kind = model_kind(info["method"])
    steps = int(info.get("steps") or 0) if kind == "progressive" else 0
    return ModelSpec(name or info["method"], kind, {steps: path}, str(path))


@dataclass
class Run:
    """One row of the evaluation: a model sampled with ``method`` at ``steps``."""

    model: ModelSpec
    # plain models: a sampler, optionally with a grid ("ddpm:uniform_t"); students:
    # "progressive" / "consistency"
    method: str
    steps: int

    @property
    def sampler(self) -> str:
        return split_method(self.method)[0]

    @property
    def grid(self) -> str | None:
        """The grid asked for with ``sampler:grid``; ``None``: the recipe's or the default."""
        return split_method(self.method)[1]

    def plan(self, device: str | torch.device = "cpu") -> SamplingPlan:
        """How this row samples its model (``wavediff.sampling.plan_sampling``)."""
        module = self.model.module(self.steps, device)
        if self.model.kind == "plain":
            return plan_sampling(module, steps=self.steps, method=self.sampler, grid=self.grid)
        return plan_sampling(module, steps=self.steps)

    @property
    def nfe(self) -> int:
        """Network evaluations per clip (``SamplingPlan.nfe``): a guided class-conditional
        model evaluates both branches at every step; students have the guidance distilled in."""
        if self.model.kind != "plain":
            return self.steps  # known without loading the student (nor caching it on a device)
        return self.plan().nfe

    def settings(self, device: str | torch.device = "cpu") -> dict[str, Any]:
        plan = self.plan(device)
        out: dict[str, Any] = {"checkpoint": str(self.model.checkpoint(self.steps)), "sampler": self.sampler,
                               "steps": self.steps}
        if plan.kind == "plain":
            out["grid"] = plan.grid
            if plan.guidance is not None:
                out["guidance"] = plan.guidance
        elif plan.kind == "progressive":
            out["grid"] = f"{plan.grid} (the distilled grid)"
        else:
            out["sampler"] = "multistep consistency"
            out["distill_method"] = self.model.module(self.steps, device).recipe.distill.method
        return out

    def generate(self, num: int, length: int, noise: Tensor, *, labels: Tensor | None = None,
                 mel: Tensor | None = None, seed: int = 0, device: str | torch.device = "cpu") -> Tensor:
        """(num, 1, length) audio from the standard normal starting noise ``noise``
        (num, 1, length), the same for every row (``sampling.sample_x0`` scales it for
        consistency models)."""
        module = self.model.module(self.steps, device)
        gen = torch.Generator().manual_seed(seed)
        return sample_model(module, num, length, self.plan(device), class_label=labels, mel=mel, generator=gen,
                            noise=noise.to(module.device))


def split_method(spec: str) -> tuple[str, str | None]:
    """``"ddpm:uniform_t"`` -> ``("ddpm", "uniform_t")``; ``"ddim"`` -> ``("ddim", None)``."""
    sampler, _, grid = spec.partition(":")
    return sampler, grid or None


def check_method(spec: str) -> str:
    """``spec`` (``sampler`` or ``sampler:grid``) if both parts are known, else a ValueError
    that lists the choices."""
    sampler, grid = split_method(spec)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r} in --methods {spec!r}; choose from {list(SAMPLERS)}, "
                         f"optionally with a grid as sampler:grid (ddpm:uniform_logsnr)")
    if grid and grid not in grid_names():
        raise ValueError(f"unknown grid {grid!r} in --methods {spec!r}; choose from {grid_names()}")
    return spec


def plan_runs(models: list[ModelSpec], steps: list[int], methods: list[str] | None = None) -> list[Run]:
    """Every (model, sampler, step count) row to evaluate.

    Plain models: each of ``methods`` (default: DDIM and the recipe's own sampler; a method
    may name its grid, ``ddpm:uniform_t``, else the recipe's grid for its own sampler and
    the default grid for the others) at every step count, a named grid at its own only.
    Progressive students: each round at its own step count (those in ``steps``).
    Consistency students: the requested step counts up to the largest of the recipe's
    ``distill.sample_steps`` (where it was validated)."""
    runs: list[Run] = []
    for spec in models:
        if spec.kind == "plain":
            own = spec.any_module().recipe.sample.method
            chosen = [check_method(m) for m in methods] if methods else list(dict.fromkeys(["ddim", own]))
            for m in chosen:
                own_steps = named_grid_steps(split_method(m)[1])
                if own_steps is not None and own_steps not in steps:
                    raise ValueError(f"--methods {m} samples its named grid's {own_steps} steps: add {own_steps} "
                                     f"to --steps (asked: {steps})")
                runs += [Run(spec, m, k) for k in steps if own_steps in (None, k)]
        elif spec.kind == "progressive":
            runs += [Run(spec, "progressive", k) for k in sorted(spec.checkpoints) if k in steps]
        else:
            limit = max(spec.any_module().recipe.distill.sample_steps or [max(steps)])
            runs += [Run(spec, "consistency", k) for k in steps if k <= limit]
    return runs
