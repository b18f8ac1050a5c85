"""``wavediff demo --task vocoder``: a mel vocoder trained, distilled and judged on a CPU.

1. speak a corpus with espeak-ng (16 kHz; several voices, rates and pitches; two voices and
   eight sentences held out: the valid split is unseen speakers saying unseen text);
2. train the ``demo-vocoder`` recipe (the spectral network with its learned prior);
3. distil it: progressive distillation 8 -> 4 -> 2 -> 1 DDIM steps, and consistency distillation;
4. vocode the held-out clips from their mels with teacher and students at 1, 2 and 6 steps
   and score them against the originals (PESQ-WB, STOI, MR-STFT, mel L1) next to
   Griffin-Lim on the same mels;
5. write the HTML gallery (audio and spectrograms of every row) and print the table.

The budget (``minutes``) is split between the stages after timing a few teacher steps.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..files import write_text_atomic
from .demo_stages import DemoPlan, StageClock, check_options, claim_output, quiet_lightning, split_budget

SAMPLE_RATE = 16000
#: voices that never reach the train split (unseen speakers in the evaluation)
HELD_OUT_VOICES = ("en-029+m1", "en-us-nyc+f3")
HELD_OUT_SENTENCES = 8
#: what the report scores: the copy-synthesis metrics a listener's judgement follows
METRICS = ("pesq", "stoi", "mrstft_distance", "mel_l1")
# Cost of a step relative to a teacher step (2-core CPU): a progressive step runs two
# teacher DDIM steps besides the student, a consistency step a Heun step and the EMA target.
STAGE_COST = {"teacher": 1.0, "progressive": 1.8, "consistency": 2.6}
STAGE_SHARE = {"teacher": 0.6, "progressive": 0.25, "consistency": 0.15}
ROUNDS = 3  # progressive distillation 8 -> 4 -> 2 -> 1


def plan(minutes: float, seconds_per_step: float) -> DemoPlan:
    """Steps per stage so that training takes about ``minutes`` in all."""
    return split_budget(minutes, seconds_per_step, STAGE_SHARE, STAGE_COST, ROUNDS, limits=(50000, 10000, 10000))


def _recipe(name: str, data_root: Path, device: str, overrides: list[str] | None = None) -> Any:
    """A packaged recipe (``demo-vocoder``: the teacher, ``demo-vocoder-distill``: the
    students) on ``data_root`` and ``device``."""
    from ..train.config import load_recipe

    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    return load_recipe(name, [f"data.root={data_root}", f"trainer.accelerator={accelerator}", *(overrides or [])])


def teacher_module(data_root: Path, device: str, overrides: list[str] | None = None) -> Any:
    """The teacher's module as its recipe builds it (untrained)."""
    from ..train.run import build_module, resolve_mel

    recipe = _recipe("demo-vocoder", data_root, device, overrides)
    return build_module(recipe, SAMPLE_RATE, resolve_mel(recipe), None, None)


def time_teacher_step(module: Any, device: str, steps: int = 4) -> float:
    """Seconds per teacher training step here (a few plain steps of the teacher ``module``'s
    loss on random audio at its batch); Lightning adds a little."""
    from ..audio.mel import log_mel

    recipe = module.recipe
    module = module.to(device)
    opt = torch.optim.AdamW(module.net.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    audio = torch.randn(recipe.data.batch_size, 1, recipe.data.segment_samples, generator=gen) * 0.1
    batch = {"audio": audio.to(device), "mel": log_mel(audio[:, 0], module.mel_config).to(device)}
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss, _ = module.batch_loss(batch, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 1:
            times.append(time.perf_counter() - t0)
    return min(times) * 1.25  # + data loading, mel features, EMA, logging


def check_espeak() -> None:
    """The corpus needs espeak-ng: say how to get it before any work starts."""
    if shutil.which("espeak-ng") is None:
        raise ValueError("the vocoder demo speaks its corpus with espeak-ng, which is not installed: "
                         "`apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS); "
                         "or run the music demo: wavediff demo --task music")


def run_vocoder_demo(out: str | Path = "demo-vocoder-out", device: str = "cpu", minutes: float = 5.0, *,
                     num_clips: int = 8, steps: tuple[int, ...] = (1, 2, 6), progress: bool = True,
                     overrides: list[str] | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the vocoder demo into ``out``; returns the evaluation report (also in
    ``out/report/report.json``) with ``gallery`` set to the HTML page's path.

    ``overrides``: recipe overrides of the teacher (``"model.overrides={channels: 64}"``),
    applied before the timing, so the budget is planned for the network that trains."""
    check_options(minutes, device)
    check_espeak()
    with quiet_lightning():
        out = claim_output(out)
        clock = StageClock(say)
        return _run_stages(out, clock, device, minutes, num_clips, steps, progress, overrides)


def _run_stages(out: Path, clock: StageClock, device: str, minutes: float, num_clips: int, steps: tuple[int, ...],
                progress: bool, overrides: list[str] | None) -> dict[str, Any]:
    from ..data.espeak import EspeakCorpusConfig, write_espeak_corpus
    from ..train.distill import distill
    from ..train.run import describe_network, train
    from .evaluate import EvalOptions, evaluate
    from .gallery import write_gallery

    say, stage, timings = clock.say, clock.stage, clock.timings

    data_root = out / "data"
    done = stage("speech corpus (espeak-ng)")
    if not (data_root / "corpus.json").is_file():
        write_espeak_corpus(data_root, EspeakCorpusConfig(sample_rate=SAMPLE_RATE, held_out_voices=HELD_OUT_VOICES,
                                                          held_out_sentences=HELD_OUT_SENTENCES))
    say(f"corpus: {data_root} (valid split: voices {', '.join(HELD_OUT_VOICES)} saying "
        f"{HELD_OUT_SENTENCES} sentences no training clip says)")
    done()

    done = stage("timing")
    module = teacher_module(data_root, device, overrides)
    p = plan(minutes, time_teacher_step(module, device))
    say("teacher " + describe_network(module.recipe.model.preset, module.net, SAMPLE_RATE))
    say(f"{p.seconds_per_step * 1000:.0f} ms per teacher step here: teacher {p.teacher_steps} steps, "
        f"progressive {ROUNDS} rounds x {p.round_steps} steps, consistency {p.consistency_steps} steps")
    done()

    done = stage(f"1/4 teacher ({p.teacher_steps} steps)")
    vals = max(p.teacher_steps // 2, 1)
    teacher_steps = [f"trainer.max_steps={p.teacher_steps}", f"trainer.val_every={vals}",
                     f"trainer.checkpoint_every={vals}"]
    teacher = train(_recipe("demo-vocoder", data_root, device, [*(overrides or []), *teacher_steps]),
                    out / "teacher", progress=progress)
    done()

    stage_steps = [f"trainer.val_every={p.round_steps}", f"trainer.checkpoint_every={p.round_steps}",
                   f"trainer.max_steps={p.round_steps}"]
    done = stage(f"2/4 progressive distillation 8 -> 4 -> 2 -> 1 ({p.round_steps} steps per round)")
    distill(_recipe("demo-vocoder-distill", data_root, device, stage_steps), teacher, out / "progressive",
            progress=progress)
    done()

    cd_steps = [f"trainer.val_every={p.consistency_steps}", f"trainer.checkpoint_every={p.consistency_steps}",
                f"trainer.max_steps={p.consistency_steps}", "distill.method=consistency_distillation"]
    done = stage(f"3/4 consistency distillation ({p.consistency_steps} steps)")
    distill(_recipe("demo-vocoder-distill", data_root, device, cd_steps), teacher, out / "consistency",
            progress=progress)
    done()

    done = stage("4/4 evaluation (held-out speakers and sentences) and gallery")
    report = evaluate([out / "teacher", out / "progressive", out / "consistency"], data_root, out / "report",
                      EvalOptions(steps=steps, num=num_clips, device=device, methods=["ddim"], metrics=list(METRICS),
                                  names=["teacher", "progressive", "consistency"], progress=say))
    gallery = write_gallery(out / "report", out / "gallery.html", title="wavediff vocoder demo: teacher vs students")
    done()
    total = clock.total()
    summary = {"task": "vocoder", "plan": p.__dict__, "timings_s": timings, "total_s": total, "gallery": str(gallery)}
    write_text_atomic(out / "demo.json", json.dumps(summary, indent=1))
    say("\n" + vocoder_table(report))
    say(f"\nfinished in {total / 60:.1f} min; open {gallery.resolve()} in a browser "
        f"(report: {out / 'report' / 'summary.md'})")
    report["gallery"] = str(gallery)
    return report


def vocoder_table(report: dict[str, Any], metrics: tuple[str, ...] = ("pesq", "stoi", "mrstft_distance")) -> str:
    """Plain-text table of every row (model, sampler, steps) and the Griffin-Lim row."""
    from ..audio.metric_registry import METRICS as REGISTRY

    heads = [f"{m} ({'higher' if REGISTRY[m].higher_is_better else 'lower'} is better)" for m in metrics]
    lines = [f"{'model':<14}{'sampler':<10}{'steps':>6}  " + "  ".join(f"{h:>28}" for h in heads)]
    for r in report["rows"]:
        values = [r["metrics"].get(m) for m in metrics]
        cells = [f"{v:>28.3f}" if isinstance(v, (int, float)) else f"{'-':>28}" for v in values]
        lines.append(f"{r['model']:<14}{str(r.get('method') or '-'):<10}{r['steps']:>6}  " + "  ".join(cells))
    return "\n".join(lines)
