"""``wavediff demo``: the whole pipeline on the built-in demo corpus, CPU-sized.

1. write the synthetic demo corpus (plucks, bowed notes, bells, drums, hats; 16 kHz);
2. train a small class-conditional teacher (the ``demo`` recipe);
3. distil it: progressive distillation 16 -> 8 -> 4 DDIM steps, and a consistency model
   (consistency distillation) for 1-4 steps;
4. evaluate teacher and students side by side at 1, 2, 4, 8, 16 network evaluations on
   held-out clips (same noise, same labels);
5. write the HTML gallery and print a summary table.

The training budget (``minutes``) is split between the stages after timing a few training
steps on this machine, so the demo fits the time asked for on any CPU or GPU.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..train.config import Recipe, recipe_from_dict, write_text_atomic

#: the teacher recipe (the same as recipes/demo.yaml; tests keep them in step)
DEMO_TEACHER: dict[str, Any] = {
    "name": "demo", "seed": 0,
    "data": {"corpus": "demo", "root": "data/demo", "sample_rate": 16000, "segment_samples": 8000,
             "batch_size": 8, "valid_clips": 8},
    "model": {"preset": "tiny", "conditioning": "class"},
    "diffusion": {"schedule": {"name": "cosine", "logsnr_min": -15.0, "logsnr_max": 15.0},
                  "parameterisation": "v", "weighting": "v", "time_sampling": "stratified", "class_dropout": 0.1,
                  "pre_emphasis": 0.95, "data_scale": 22.5},
    "optim": {"lr": 3.0e-3, "warmup_steps": 50, "lr_schedule": "cosine", "grad_clip": 1.0, "ema_decay": 0.995},
    "trainer": {"max_steps": 1500, "val_every": 500, "checkpoint_every": 500, "log_every": 10},
    "sample": {"steps": 16, "method": "ddpm", "grid": "uniform_logsnr", "guidance": 1.5},
}

#: the distillation recipe (the same as recipes/demo-distill.yaml)
DEMO_DISTILL: dict[str, Any] = {
    "name": "demo-distill", "seed": 0,
    "data": dict(DEMO_TEACHER["data"]),
    "optim": {"lr": 2.0e-4, "warmup_steps": 20, "lr_schedule": "cosine", "min_lr_ratio": 0.1, "grad_clip": 1.0,
              "ema_decay": 0.99},
    "trainer": {"max_steps": 300, "val_every": 300, "checkpoint_every": 100, "log_every": 10},
    "distill": {"method": "progressive", "teacher_steps": 16, "target_steps": 2, "weighting": "snr_trunc",
                "guidance": None, "val_clips": 4, "num_scales": 18, "scales_start": 10, "scales_end": 160,
                "solver": "heun", "target": "auto", "target_ema": 0.95, "loss": "pseudo_huber",
                "sample_steps": [1, 2, 4]},
}

# Cost of one training step relative to a teacher step (measured on a 2-core CPU, with the
# validation sampling of each stage): a progressive step runs two guided teacher DDIM steps
# (four evaluations in the first round) besides the student; a consistency distillation
# step a guided Heun step (four evaluations), the EMA target and the student.
STAGE_COST = {"teacher": 1.0, "progressive": 1.7, "consistency": 2.6}
# Shares of the training budget.
STAGE_SHARE = {"teacher": 0.55, "progressive": 0.27, "consistency": 0.18}


@dataclass
class DemoPlan:
    teacher_steps: int
    round_steps: int  # per progressive round (two rounds: 16 -> 8 -> 4)
    consistency_steps: int
    seconds_per_step: float


def _recipe(values: dict[str, Any], data_root: Path, device: str, distill: dict[str, Any] | None = None,
            **trainer: Any) -> Recipe:
    values = copy.deepcopy(values)
    values["data"]["root"] = str(data_root)
    values["trainer"].update(trainer)
    if distill:
        values["distill"].update(distill)
    values["trainer"]["accelerator"] = "gpu" if device.startswith("cuda") else "cpu"
    return recipe_from_dict(values)


def time_teacher_step(device: str, steps: int = 8, model: str = "tiny") -> float:
    """Seconds per teacher training step on this machine (a few plain PyTorch steps of the
    demo network, preset ``model``, at the demo batch; Lightning adds a little, see STAGE_COST)."""
    from ..data.demo import DEMO_CLASSES
    from ..diffusion import diffusion_loss, schedule_from_config, weighting_from_config
    from ..nn import build_denoiser

    d, diff = DEMO_TEACHER["data"], DEMO_TEACHER["diffusion"]
    classes = len(DEMO_CLASSES)
    net = build_denoiser(model, num_classes=classes).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    sched = schedule_from_config(diff["schedule"])
    weighting = weighting_from_config(diff["weighting"])
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.randn(d["batch_size"], 1, d["segment_samples"], generator=gen) * 0.1).to(device)
    labels = torch.arange(d["batch_size"], device=device) % classes
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        out = diffusion_loss(net, x0, sched, parameterisation=diff["parameterisation"], weighting=weighting,
                             time_sampling=diff["time_sampling"], cond={"class_label": labels})
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    # the fastest step: other work on a shared machine only ever slows steps down
    return min(times) * 1.25  # + data loading, EMA, logging


def plan(minutes: float, seconds_per_step: float) -> DemoPlan:
    """Steps per stage so that training takes about ``minutes`` in all."""
    budget = minutes * 60.0
    teacher = budget * STAGE_SHARE["teacher"] / (seconds_per_step * STAGE_COST["teacher"])
    rounds = budget * STAGE_SHARE["progressive"] / 2 / (seconds_per_step * STAGE_COST["progressive"])
    cd = budget * STAGE_SHARE["consistency"] / (seconds_per_step * STAGE_COST["consistency"])
    clamp = lambda v, lo, hi: int(min(max(v, lo), hi))
    return DemoPlan(clamp(teacher, 20, 20000), clamp(rounds, 10, 5000), clamp(cd, 10, 5000), seconds_per_step)


def run_demo(out: str | Path = "demo-out", device: str = "cpu", minutes: float = 5.0, *,
             num_clips: int = 32, steps: tuple[int, ...] = (1, 2, 4, 8, 16), progress: bool = True,
             model: str = "tiny", say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo pipeline into ``out``; returns the evaluation report (also written to
    ``out/report/report.json``) with ``gallery`` set to the HTML page's path.

    ``model`` is the network preset of the teacher, which the students inherit: ``tiny``
    (the demo recipe's, CPU-sized) or a larger one for a GPU."""
    from ..data.demo import DemoCorpusConfig, write_demo_corpus
    from ..nn import PRESETS, build_denoiser
    from ..train.distill import distill
    from ..train.run import train
    from ..train.run_folder import previous_run
    from .evaluate import EvalOptions, evaluate
    from .gallery import write_gallery

    # a readable console: Lightning's start-up banners and tips are not news here
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
    if minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {minutes}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda but no CUDA device is visible to torch; use --device cpu")
    if model not in PRESETS:
        raise ValueError(f"unknown --model {model!r}; choose one of {list(PRESETS)}")
    teacher_values = {**DEMO_TEACHER, "model": {**DEMO_TEACHER["model"], "preset": model}}
    out = Path(out)
    if previous_run(out / "teacher") is not None:  # checked before minutes of work, not at the teacher stage
        raise ValueError(f"--out {out} holds an earlier demo run; give a new --out folder or remove that one")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def stage(name: str) -> Callable[[], None]:
        t0 = time.perf_counter()
        say(f"\n== {name} ==")
        return lambda: timings.__setitem__(name, time.perf_counter() - t0)

    data_root = out / "data"
    done = stage("demo corpus")
    if not (data_root / "corpus.json").is_file():
        write_demo_corpus(data_root, DemoCorpusConfig(sample_rate=16000))
    say(f"corpus: {data_root}")
    done()

    done = stage("timing")
    p = plan(minutes, time_teacher_step(device, model=model))
    net = build_denoiser(model, num_classes=len(DemoCorpusConfig().classes))
    say(f"teacher network {model}: {net.num_parameters() / 1e6:.2f}M parameters, receptive field "
        f"{net.receptive_field} samples ({1000 * net.receptive_field / DEMO_TEACHER['data']['sample_rate']:.1f} ms)")
    say(f"{p.seconds_per_step * 1000:.0f} ms per training step here: teacher {p.teacher_steps} steps, "
        f"progressive 2 rounds x {p.round_steps} steps, consistency {p.consistency_steps} steps")
    done()

    done = stage(f"1/4 teacher ({p.teacher_steps} steps)")
    vals = max(p.teacher_steps // 2, 1)
    teacher_recipe = _recipe(teacher_values, data_root, device, max_steps=p.teacher_steps, val_every=vals,
                             checkpoint_every=vals)
    teacher = train(teacher_recipe, out / "teacher", progress=progress)
    done()

    done = stage(f"2/4 progressive distillation 16 -> 8 -> 4 ({p.round_steps} steps per round)")
    prog_recipe = _recipe(DEMO_DISTILL, data_root, device, {"teacher_steps": 16, "target_steps": 4},
                          max_steps=p.round_steps, val_every=p.round_steps, checkpoint_every=p.round_steps)
    distill(prog_recipe, teacher, out / "progressive", progress=progress)
    done()

    done = stage(f"3/4 consistency distillation ({p.consistency_steps} steps)")
    cd_recipe = _recipe(DEMO_DISTILL, data_root, device, {"method": "consistency_distillation"},
                        max_steps=p.consistency_steps, val_every=p.consistency_steps,
                        checkpoint_every=p.consistency_steps)
    distill(cd_recipe, teacher, out / "consistency", progress=progress)
    done()

    done = stage("4/4 evaluation and gallery")
    report = evaluate([out / "teacher", out / "progressive", out / "consistency"], data_root, out / "report",
                      EvalOptions(steps=steps, num=num_clips, device=device, methods=["ddim", "ddpm", "dpmpp_2m"],
                                  names=["teacher", "progressive", "consistency"], progress=say))
    gallery = write_gallery(out / "report", out / "gallery.html", title="wavediff demo: teacher vs students")
    done()
    total = time.perf_counter() - start
    summary = {"plan": p.__dict__, "model": model, "timings_s": timings, "total_s": total, "gallery": str(gallery)}
    write_text_atomic(out / "demo.json", json.dumps(summary, indent=1))
    say("\n" + summary_table(report))
    say(f"\nfinished in {total / 60:.1f} min; open {gallery.resolve()} in a browser "
        f"(report: {out / 'report' / 'summary.md'})")
    report["gallery"] = str(gallery)
    return report


def best_by_steps(report: dict[str, Any], metric: str) -> dict[int, dict[str, float]]:
    """``{steps: {model: best value of metric over its samplers}}`` (lower is better)."""
    table: dict[int, dict[str, float]] = {}
    for r in report["rows"]:
        v = r["metrics"].get(metric)
        if v is None or not math.isfinite(v):
            continue
        cell = table.setdefault(r["steps"], {})
        cell[r["model"]] = min(v, cell.get(r["model"], math.inf))
    return dict(sorted(table.items()))


def summary_table(report: dict[str, Any], metrics: tuple[str, ...] = ("fd_mel", "mrstft_to_teacher")) -> str:
    """A plain-text table: per step count, each model's best value of each metric (lower is
    better; the guided teacher spends two network evaluations per step, the students one)."""
    models = list(dict.fromkeys(r["model"] for r in report["rows"]))
    lines = []
    for metric in metrics:
        table = best_by_steps(report, metric)
        if not table:
            continue
        lines.append(f"{metric} (lower is better; teacher: the best of its samplers)")
        lines.append(f"{'steps':>5}" + "".join(f"{m:>14}" for m in models))
        for steps, cell in table.items():
            lines.append(f"{steps:>5}" + "".join(f"{cell[m]:>14.3f}" if m in cell else f"{'-':>14}" for m in models))
        lines.append("")
    return "\n".join(lines).rstrip()
