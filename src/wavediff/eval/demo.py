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
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..audio.metric_registry import METRICS
from ..train.config import Recipe, load_recipe, write_text_atomic
from .demo_stages import DemoPlan, StageClock, check_options, claim_output, quiet_lightning, split_budget

#: the packaged recipes the demo runs (``wavediff recipes demo`` prints one), with the step
#: counts and the data folder of this run set on top
TEACHER_RECIPE = "demo"
DISTILL_RECIPE = "demo-distill"

# Cost of one training step relative to a teacher step (measured on a 2-core CPU, with the
# validation sampling of each stage): a progressive step runs two guided teacher DDIM steps
# (four evaluations in the first round) besides the student; a consistency distillation
# step a guided Heun step (four evaluations), the EMA target and the student.
STAGE_COST = {"teacher": 1.0, "progressive": 1.7, "consistency": 2.6}
# Shares of the training budget. The teacher's steps are what every model's notes are made of
# (its network made textures without harmonic lines at 680 steps, lines at 1100; README), and
# the students start from its weights.
STAGE_SHARE = {"teacher": 0.65, "progressive": 0.2, "consistency": 0.15}


def _stage_recipe(name: str, data_root: Path, device: str, *assignments: str) -> Recipe:
    """The packaged recipe ``name`` on the demo corpus at ``data_root``, on ``device``,
    with ``section.field=value`` assignments on top."""
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    return load_recipe(name).override(*assignments, f"trainer.accelerator={accelerator}",
                                      values={"data.root": str(data_root)})


def _cadence(steps: int, every: int | None = None) -> tuple[str, ...]:
    """``steps`` training steps, validated and checkpointed every ``every`` (default: at the end)."""
    every = every or steps
    return (f"trainer.max_steps={steps}", f"trainer.val_every={every}", f"trainer.checkpoint_every={every}")


def teacher_network(recipe: Recipe) -> Any:
    """The teacher's network as ``wavediff train`` builds it from ``recipe`` (preset and
    overrides, the demo's classes), before training."""
    from ..data.demo import DEMO_CLASSES
    from ..train.run import build_module

    return build_module(recipe, recipe.data.sample_rate, None, list(DEMO_CLASSES), None).net


def time_teacher_step(device: str, recipe: Recipe, net: Any, steps: int = 8) -> float:
    """Seconds per teacher training step on this machine (a few plain PyTorch steps of a
    copy of the teacher's network ``net``, at ``recipe``'s batch; Lightning adds a little,
    see STAGE_COST)."""
    from ..data.demo import DEMO_CLASSES
    from ..diffusion import diffusion_loss, schedule_from_config, self_conditioned_training, weighting_from_config
    from ..sampling import pins_components

    d, diff = recipe.data, recipe.diffusion
    classes = len(DEMO_CLASSES)
    net = copy.deepcopy(net).to(device)  # the caller's network stays untrained, where it was
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    sched = schedule_from_config(diff.schedule)
    weighting = weighting_from_config(diff.weighting)
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.randn(d.batch_size, 1, d.segment_samples, generator=gen) * 0.1).to(device)
    labels = torch.arange(d.batch_size, device=device) % classes
    # the training module's call: with a first pass for a self-conditioned network
    fn = self_conditioned_training(net, diff.parameterisation, gen)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        cond = {"class_label": labels}
        if pins_components(net):  # the module finds each segment's component every step
            cond["prior_component"] = net.corpus_component(x0, labels)
        out = diffusion_loss(fn, x0, sched, parameterisation=diff.parameterisation, weighting=weighting,
                             time_sampling=diff.time_sampling, cond=cond)
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
    return split_budget(minutes, seconds_per_step, STAGE_SHARE, STAGE_COST, rounds=2, limits=(20000, 5000, 5000))


def run_demo(out: str | Path = "demo-out", device: str = "cpu", minutes: float = 5.0, *,
             num_clips: int = 32, steps: tuple[int, ...] = (1, 2, 4, 8, 16), progress: bool = True,
             model: str | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo pipeline into ``out``; returns the evaluation report (also written to
    ``out/report/report.json``) with ``gallery`` set to the HTML page's path.

    ``model``: the teacher's network (which the students inherit): ``None`` for the ``demo``
    recipe's (the CPU-sized spectral network with the corpus prior), or a preset of
    ``wavediff.nn.PRESETS`` as it is, without the recipe's overrides (``base``, ``large``: for a GPU)."""
    from ..nn import PRESETS

    check_options(minutes, device)
    if model is not None and model not in PRESETS:
        raise ValueError(f"unknown --model {model!r}; choose one of {list(PRESETS)}")
    with quiet_lightning():
        return _run_stages(Path(out), device, minutes, num_clips, steps, progress, model, say)


def _run_stages(out: Path, device: str, minutes: float, num_clips: int, steps: tuple[int, ...], progress: bool,
                model: str | None, say: Callable[[str], None]) -> dict[str, Any]:
    from ..data.demo import DemoCorpusConfig, write_demo_corpus
    from ..train.distill import distill
    from ..train.run import train
    from .evaluate import EvalOptions, evaluate
    from .gallery import write_gallery

    out = claim_output(out)
    clock = StageClock(say)
    stage, timings = clock.stage, clock.timings
    network = () if model is None else (f"model.preset={model}", "model.overrides={}")
    base = _stage_recipe(TEACHER_RECIPE, out / "data", device, *network)

    data_root = out / "data"
    done = stage("demo corpus")
    if not (data_root / "corpus.json").is_file():
        write_demo_corpus(data_root, DemoCorpusConfig(sample_rate=base.data.sample_rate, **base.data.options))
    say(f"corpus: {data_root}")
    done()

    done = stage("timing")
    net = teacher_network(base)  # the cadence set below does not change the network
    p = plan(minutes, time_teacher_step(device, base, net))
    teacher_recipe = _stage_recipe(TEACHER_RECIPE, data_root, device, *network,
                                   *_cadence(p.teacher_steps, max(p.teacher_steps // 2, 1)))
    say(f"teacher network {model or teacher_recipe.model.preset}: {net.num_parameters() / 1e6:.2f}M parameters, "
        f"receptive field {net.receptive_field} samples "
        f"({1000 * net.receptive_field / teacher_recipe.data.sample_rate:.1f} ms)")
    say(f"{p.seconds_per_step * 1000:.0f} ms per training step here: teacher {p.teacher_steps} steps, "
        f"progressive 2 rounds x {p.round_steps} steps, consistency {p.consistency_steps} steps")
    done()

    done = stage(f"1/4 teacher ({p.teacher_steps} steps)")
    teacher = train(teacher_recipe, out / "teacher", progress=progress)
    done()

    done = stage(f"2/4 progressive distillation 16 -> 8 -> 4 ({p.round_steps} steps per round)")
    prog_recipe = _stage_recipe(DISTILL_RECIPE, data_root, device, "distill.teacher_steps=16",
                                "distill.target_steps=4", *_cadence(p.round_steps))
    distill(prog_recipe, teacher, out / "progressive", progress=progress)
    done()

    done = stage(f"3/4 consistency distillation ({p.consistency_steps} steps)")
    cd_recipe = _stage_recipe(DISTILL_RECIPE, data_root, device, "distill.method=consistency_distillation",
                              *_cadence(p.consistency_steps))
    distill(cd_recipe, teacher, out / "consistency", progress=progress)
    done()

    done = stage("4/4 evaluation and gallery")
    report = evaluate([out / "teacher", out / "progressive", out / "consistency"], data_root, out / "report",
                      EvalOptions(steps=steps, num=num_clips, device=device, methods=["ddim", "ddpm", "dpmpp_2m"],
                                  names=["teacher", "progressive", "consistency"], progress=say))
    gallery = write_gallery(out / "report", out / "gallery.html", title="wavediff demo: teacher vs students")
    done()
    total = clock.total()
    summary = {"plan": p.__dict__, "model": model or teacher_recipe.model.preset, "timings_s": timings,
               "total_s": total, "gallery": str(gallery)}
    write_text_atomic(out / "demo.json", json.dumps(summary, indent=1))
    say("\n" + summary_table(report))
    say(f"\nfinished in {total / 60:.1f} min; open {gallery.resolve()} in a browser "
        f"(report: {out / 'report' / 'summary.md'})")
    report["gallery"] = str(gallery)
    return report


#: what the music demo's summary prints: the distribution metrics its report rows hold that the
#: registry highlights (a better value means better audio)
SUMMARY_METRICS: tuple[str, ...] = tuple(
    name for name, info in METRICS.items() if info.kind == "distribution" and info.highlight)


def _higher_is_better(metric: str) -> bool:
    """The registry's direction of ``metric``; ``ValueError`` for one without a direction
    (``nn_train_ratio`` has a target value) or not in the registry."""
    info = METRICS.get(metric)
    if info is None or info.higher_is_better is None:
        raise ValueError(f"{metric!r} has no better direction in wavediff.audio.metrics.METRICS; "
                         "a best value needs one")
    return info.higher_is_better


def best_by_steps(report: dict[str, Any], metric: str) -> dict[int, dict[str, float]]:
    """``{steps: {model: best value of metric over its samplers}}``, best in the registry's
    direction (the largest for a higher-is-better metric, else the smallest)."""
    pick = max if _higher_is_better(metric) else min
    table: dict[int, dict[str, float]] = {}
    for r in report["rows"]:
        v = r["metrics"].get(metric)
        if v is None or not math.isfinite(v):
            continue
        cell = table.setdefault(r["steps"], {})
        cell[r["model"]] = pick(v, cell[r["model"]]) if r["model"] in cell else v
    return dict(sorted(table.items()))


def summary_table(report: dict[str, Any], metrics: tuple[str, ...] = SUMMARY_METRICS) -> str:
    """A plain-text table per metric: per step count, each model's best value over its
    samplers, with the metric's direction and, where the report has it, the real-vs-real
    floor (the guided teacher spends two network evaluations per step, the students one).
    Metrics no row holds are left out."""
    models = list(dict.fromkeys(r["model"] for r in report["rows"]))
    floor = report.get("baseline") or {}
    lines = []
    for metric in metrics:
        table = best_by_steps(report, metric)
        if not table:
            continue
        direction = "higher" if _higher_is_better(metric) else "lower"
        real = f"; real vs real {floor[metric]:.3f}" if isinstance(floor.get(metric), (int, float)) else ""
        lines.append(f"{metric} ({direction} is better; teacher: the best of its samplers{real})")
        lines.append(f"{'steps':>5}" + "".join(f"{m:>14}" for m in models))
        for steps, cell in table.items():
            lines.append(f"{steps:>5}" + "".join(f"{cell[m]:>14.3f}" if m in cell else f"{'-':>14}" for m in models))
        lines.append("")
    return "\n".join(lines).rstrip()
