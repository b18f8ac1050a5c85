"""``wavediff evaluate``: quality against network evaluations, on held-out clips.

One or more models (a teacher and its students, say) are sampled at several step counts
from the same starting noise, with the same labels (class-conditional) or the same mels
(vocoders), and measured on the same held-out clips:

* vocoders: copy-synthesis metrics against the original clips (``mrstft_distance``,
  ``mel_l1`` on the model's own MelConfig, ``lsd``; speech metrics on request);
* unconditional / class-conditional models: distribution metrics against random held-out
  segments (``fd_mel``, ``coverage``, ``periodicity_gap``; ``class_consistency`` for class models;
  a nearest-neighbour copy check against training clips) and, when several models are
  compared, ``mrstft_to_teacher``: the distance of each clip to the first model's many-step
  deterministic sample from the same noise (what a distilled student tries to reproduce);
* every row: the real-time factor of generating the clips (batched, this device).

What each metric means, and which ones the gallery may mark best, comes from the registry
:data:`wavediff.audio.metrics.METRICS` (``report.json``'s ``metric_info``).

Output folder (read by ``wavediff gallery``)::

    REPORT/report.json            rows (model, method, steps, nfe, metrics, rtf, audio, settings)
    REPORT/summary.md             the same as Markdown tables
    REPORT/plots/*.png            quality and RTF against NFE, real vs generated spectrograms
    REPORT/audio/<model>/<method>-<steps>/NNN.wav|png   the first ``save_clips`` clips
    REPORT/audio/reference/NNN.wav|png                  the real clips they are compared with
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..audio.io import save_audio
from ..audio.griffin_lim import DEFAULT_ITERATIONS as GRIFFIN_LIM_ITERATIONS
from ..audio.griffin_lim import griffin_lim
from ..audio.metric_registry import METRICS, metric_info
from ..audio.metrics import copy_synthesis_metrics
from ..audio.plot import save_spectrogram_png
from ..data.datasets import ClipDataset, ClipStore, SegmentDataset, check_items
from ..train.config import recipe_from_dict, write_text_atomic
from ..train.run import index_from_recipe
from .distribution import FEATURE_NOTE, DistributionMetrics
from .models import ModelSpec, Run, plan_runs, resolve_model

DEFAULT_STEPS = (1, 2, 4, 8, 16)


class EvaluationError(ValueError):
    """Bad evaluation input (folder, models that do not belong together, options)."""


@dataclass
class EvalOptions:
    steps: Sequence[int] = DEFAULT_STEPS
    methods: Sequence[str] | None = None  # samplers of plain models (default: ddim + the recipe's own)
    num: int = 32  # generated clips per row (unconditional/class) / held-out clips (vocoder)
    seconds: float | None = None  # clip length (default: the recipe's training segment; vocoders 2 s at most)
    seed: int = 0
    save_clips: int = 4  # clips written as WAV + PNG per row
    metrics: Sequence[str] | None = None  # vocoder metrics (default: mrstft_distance, mel_l1, lsd)
    reference_steps: int = 64  # DDIM steps of the teacher reference in compare mode
    train_clips: int = 200  # training clips for the copy check
    batch: int = 16
    device: str = "cpu"
    names: Sequence[str] | None = None
    progress: Callable[[str], None] | None = print


@dataclass
class HeldOut:
    audio: Tensor  # (N, 1, T) real clips
    labels: Tensor | None = None  # (N,)
    mel: Tensor | None = None  # (N, n_mels, F) vocoder inputs
    ids: list[str] = field(default_factory=list)
    train_audio: Tensor | None = None  # (M, 1, T) training segments for the copy check
    train_labels: Tensor | None = None  # (M,) their class indices (class models): the floor per class


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def _check_compatible(models: list[ModelSpec], device: str) -> Any:
    first = models[0].any_module(device)
    for spec in models[1:]:
        m = spec.any_module(device)
        for what, a, b in (("sample rate", m.sample_rate, first.sample_rate),
                           ("conditioning", m.conditioning, first.conditioning),
                           ("labels", m.labels, first.labels),
                           ("MelConfig", m.mel_config, first.mel_config)):
            if a != b:
                raise EvaluationError(f"{spec.name} and {models[0].name} differ in {what} ({a!r} vs {b!r}); "
                                      "compare models of the same corpus and conditioning")
    return first


def load_held_out(module: Any, data: str | Path, opts: EvalOptions, length: int | None) -> HeldOut:
    """Real clips of the corpus at ``data`` in the format of ``module``'s recipe: the valid
    split (test split, or the whole corpus when there is none)."""
    root = Path(data)
    if not root.is_dir():
        raise EvaluationError(f"--data {root} is not a folder: point it at the corpus the model was trained on")
    values = module.recipe.to_dict()
    values["data"]["root"] = str(root)
    if values["data"]["corpus"] == "demo":  # a written demo corpus is a labelled folder; never write one here
        values["data"].update(corpus="folder", options={"labels": "subfolder"})
    index = index_from_recipe(recipe_from_dict(values))
    valid = index.split("valid") or index.split("test") or index.items
    valid = check_items(valid, f"{index.name} held-out split")
    sr = module.sample_rate
    gen = np.random.default_rng(opts.seed)
    if module.conditioning == "mel":
        store = ClipStore(valid, sr, module.mel_config)
        store.preload(f"{index.name} held-out split")
        clips = ClipDataset(store, max_samples=length)
        items = [clips[i] for i in range(min(len(clips), opts.num))]
        frames = min(c["mel"].shape[-1] for c in items)
        if frames < 2:
            raise EvaluationError(f"the held-out clips of {root} are shorter than two mel frames")
        hop = module.mel_config.hop_length
        return HeldOut(torch.stack([c["audio"][:, : frames * hop] for c in items]), None,
                       torch.stack([c["mel"][:, :frames] for c in items]), [c["id"] for c in items])
    store = ClipStore(valid, sr, None, min_samples=length)
    store.preload(f"{index.name} held-out split")
    segs = SegmentDataset(store, length, max(opts.num, 2), seed=opts.seed)
    items = [segs[i] for i in range(len(segs))]
    labels = torch.stack([c["label"] for c in items]) if "label" in items[0] else None
    train_items = index.split("train")
    train_items = [train_items[i] for i in sorted(gen.permutation(len(train_items))[: opts.train_clips])]
    train_audio = train_labels = None
    if train_items:
        tstore = ClipStore(check_items(train_items, f"{index.name} train split"), sr, None, min_samples=length)
        tstore.preload(f"{index.name} train split")
        tsegs = SegmentDataset(tstore, length, len(tstore), seed=opts.seed + 1)
        train_segments = [tsegs[i] for i in range(len(tsegs))]
        train_audio = torch.stack([c["audio"] for c in train_segments])
        if labels is not None:
            train_labels = torch.stack([c["label"] for c in train_segments])
    return HeldOut(torch.stack([c["audio"] for c in items]), labels, None,
                   [f"segment_{i:03d}" for i in range(len(items))], train_audio, train_labels)


def _batched(fn: Callable[[slice], Tensor], total: int, batch: int) -> Tensor:
    return torch.cat([fn(slice(i, min(i + batch, total))) for i in range(0, total, batch)])


def _mean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _write_clips(out: Path, folder: str, audio: Tensor, sr: int, count: int, titles: Sequence[str]) -> tuple[list[str], list[str]]:
    wavs, pngs = [], []
    for i in range(min(count, audio.shape[0])):
        rel = f"{folder}/{i:03d}"
        clip = audio[i].float().cpu().clamp(-1, 1)
        save_audio(out / f"{rel}.wav", clip, sr)
        save_spectrogram_png(out / f"{rel}.png", clip, sr, title=titles[i] if i < len(titles) else "")
        wavs.append(f"{rel}.wav")
        pngs.append(f"{rel}.png")
    return wavs, pngs


def matching_references(held_labels: Tensor, wanted: Tensor) -> list[int]:
    """Indices of held-out clips, one per entry of ``wanted`` (class indices), each of the
    class asked for: the first such clip not taken yet, else the first of that class, else
    (no held-out clip of that class) the next clip in order."""
    held = [int(v) for v in held_labels]
    taken: set[int] = set()
    order = []
    for k, label in enumerate(int(v) for v in wanted):
        same = [i for i, v in enumerate(held) if v == label]
        free = [i for i in same if i not in taken]
        i = free[0] if free else same[0] if same else k % len(held)
        taken.add(i)
        order.append(i)
    return order


def evaluate(checkpoints: Sequence[str | Path], data: str | Path, out: str | Path,
             options: EvalOptions | None = None) -> dict[str, Any]:
    """Evaluate ``checkpoints`` (the first one is the reference model in a comparison) on
    the held-out clips of ``data``; write the report folder ``out`` and return report.json's
    content (schema in the module docstring and docs/DESIGN.md)."""
    opts = options or EvalOptions()
    say = opts.progress or (lambda _msg: None)
    if not checkpoints:
        raise EvaluationError("name at least one checkpoint")
    steps = sorted({int(k) for k in opts.steps})
    if not steps or steps[0] < 1:
        raise EvaluationError(f"--steps must be positive integers, got {list(opts.steps)}")
    names = list(opts.names or [])
    if names and len(names) != len(checkpoints):
        raise EvaluationError(f"--names has {len(names)} name(s) for {len(checkpoints)} model(s)")
    models = [resolve_model(p, names[i] if names else None) for i, p in enumerate(checkpoints)]
    if not names and len(models) > 1 and models[0].kind == "plain":
        models[0].name = "teacher"
    seen: set[str] = set()
    for spec in models:  # unique names (two students of the same method)
        base, n = spec.name, 2
        while spec.name in seen:
            spec.name, n = f"{base}-{n}", n + 1
        seen.add(spec.name)
    first = _check_compatible(models, opts.device)
    kind = {"mel": "vocoder", "class": "class"}.get(first.conditioning, "unconditional")
    sr = first.sample_rate
    if opts.seconds is not None:
        length = int(opts.seconds * sr)
    elif kind == "vocoder":
        length = 2 * sr
    else:
        length = first.recipe.data.segment_samples
    if kind == "vocoder":
        length = max(length // first.mel_config.hop_length, 1) * first.mel_config.hop_length
    try:
        runs = plan_runs(models, steps, list(opts.methods) if opts.methods else None)
    except ValueError as err:  # an unknown sampler or grid in --methods
        raise EvaluationError(str(err)) from None
    if not runs:
        raise EvaluationError(f"nothing to evaluate at steps {steps}: the students' step counts are "
                              f"{ {m.name: sorted(m.checkpoints) for m in models} }")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("audio", "plots"):  # a re-run replaces, never mixes, earlier clips
        if (out / stale).is_dir():
            shutil.rmtree(out / stale)
    say(f"loading held-out clips from {data} ...")
    held = load_held_out(first, data, opts, length)
    num = held.audio.shape[0] if kind == "vocoder" else opts.num
    length = held.audio.shape[-1]
    labels = None
    if kind == "class":
        labels = torch.arange(num) % len(first.labels)
    noise = torch.randn(num, 1, length, generator=torch.Generator().manual_seed(opts.seed))
    label_names = [first.labels[int(l)] for l in labels] if labels is not None else []
    clip_titles = label_names or held.ids[:num]

    def cond(sl: slice) -> dict[str, Any]:
        return {"labels": labels[sl] if labels is not None else None,
                "mel": held.mel[sl].to(first.device) if held.mel is not None else None}

    def generate_all(run: Run) -> Tensor:
        """All ``num`` clips of a row, in batches, from the shared noise and conditions."""
        with torch.inference_mode():
            return _batched(lambda sl: run.generate(sl.stop - sl.start, length, noise[sl], seed=opts.seed + 1,
                                                    device=opts.device, **cond(sl)), num, opts.batch)

    reference = None
    if kind != "vocoder" and len(models) > 1 and models[0].kind == "plain":
        say(f"teacher reference: {models[0].name}, DDIM {opts.reference_steps} steps")
        reference = generate_all(Run(models[0], "ddim", opts.reference_steps)).float().cpu().clamp(-1, 1)
    distribution = None
    if kind != "vocoder":
        distribution = DistributionMetrics(
            held.audio, sr, train=held.train_audio, teacher=reference,
            held_out_labels=held.labels.numpy() if held.labels is not None else None,
            train_labels=held.train_labels.numpy() if held.train_labels is not None else None)

    metric_names = list(opts.metrics or ["mrstft_distance", "mel_l1", "lsd"])
    rows: list[dict[str, Any]] = []
    baseline: dict[str, float] = {}
    warmed: set[int] = set()
    for r_i, run in enumerate(runs):
        say(f"[{r_i + 1}/{len(runs)}] {run.model.name} {run.method} {run.steps} step(s) ({run.nfe} NFE)")
        module = run.model.module(run.steps, opts.device)
        if id(module) not in warmed:  # first call: allocator, kernel selection; not timed
            with torch.inference_mode():
                c = cond(slice(0, 1))
                n_warm = length if kind == "vocoder" else min(length, 4096)
                run.generate(1, n_warm, noise[:1, :, :n_warm], seed=opts.seed, device=opts.device, **c)
            warmed.add(id(module))
        t0 = time.perf_counter()
        audio = generate_all(run)
        if torch.device(opts.device).type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        audio = audio.float().cpu().clamp(-1, 1)
        if not torch.isfinite(audio).all():
            raise EvaluationError(f"{run.model.name} produced non-finite audio at {run.steps} steps")
        if distribution is None:
            values = copy_synthesis_metrics(audio, held.audio, sr, metric_names, mel_config=first.mel_config)
            metrics = {k: _mean(v) for k, v in values.items()}
        else:
            metrics = distribution(audio, labels.numpy() if labels is not None else None)
        folder = f"audio/{_slug(run.model.name)}/{_slug(run.method)}-{run.steps}"
        wavs, pngs = _write_clips(out, folder, audio, sr, opts.save_clips,
                                  [f"{run.model.name} {run.method} {run.steps} steps: {t}" for t in clip_titles])
        rows.append({"model": run.model.name, "method": run.method, "steps": run.steps, "nfe": run.nfe,
                     "metrics": metrics, "rtf": seconds / (num * length / sr),
                     "audio": wavs, "spectrograms": pngs, "settings": run.settings(opts.device)})

    if kind == "vocoder":
        rows.append(_griffin_lim_row(held, first.mel_config, sr, metric_names, out, opts, ref_titles=held.ids[:num]))

    if distribution is not None and held.train_audio is not None:
        # the same metrics for real training segments: the floor a perfect model reaches
        count = min(num, held.train_audio.shape[0])
        baseline = distribution.floor(held.train_audio[:count], None if held.train_labels is None
                                      else held.train_labels[:count].numpy())

    # reference clip i: a held-out clip of the class generated clip i was asked for (class models)
    order = (matching_references(held.labels, labels[: opts.save_clips]) if labels is not None and
             held.labels is not None else list(range(min(opts.save_clips, held.audio.shape[0]))))
    ref_titles = [f"real: {t}" for t in (held.ids if kind == "vocoder" else
                                          ([first.labels[int(held.labels[i])] for i in order]
                                           if held.labels is not None else held.ids))]
    ref_wavs, ref_pngs = _write_clips(out, "audio/reference", held.audio[order], sr, len(order), ref_titles)
    references = [{"audio": w, "spectrogram": p, "name": held.ids[i],
                   "label": (first.labels[int(held.labels[i])] if held.labels is not None else None)}
                  for i, w, p in zip(order, ref_wavs, ref_pngs)]
    notes = []
    if kind == "vocoder":
        notes.append("Copy synthesis: clip i of every row is a resynthesis of reference clip i from its mel.")
        notes.append(f"{GRIFFIN_LIM}: Griffin-Lim ({GRIFFIN_LIM_ITERATIONS} iterations, no training) on the same "
                     "mels, the baseline a neural vocoder must beat; its steps are iterations, its NFE 0.")
    else:
        notes.append(FEATURE_NOTE)
        notes.append("References are random held-out segments (of a class model: reference i is of the class "
                     "generated clip i was asked for); generated clips share starting noise and labels across "
                     "rows, so clip i is comparable across models.")
        if reference is not None:
            notes.append(f"mrstft_to_teacher: distance to {models[0].name}'s DDIM {opts.reference_steps}-step "
                         "sample from the same noise.")
    notes.append("rtf: seconds of compute per second of audio, generating all clips in batches of "
                 f"{opts.batch} on {opts.device}.")
    used = sorted({k for r in rows for k in r["metrics"]})
    report = {
        "rows": rows, "data": str(data), "seed": opts.seed, "kind": kind, "sample_rate": sr,
        "clip_seconds": length / sr, "num_clips": num,
        "models": [{"name": m.name, "kind": m.kind, "source": m.source} for m in models],
        "clips": [{"name": f"{i:03d}", "label": label_names[i] if label_names else None,
                   "reference": held.ids[i] if kind == "vocoder" else None} for i in range(min(num, opts.save_clips))],
        "references": references, "baseline": baseline, "notes": notes,
        "metric_info": metric_info(used),
    }
    from .plots import plot_quality_vs_nfe, plot_real_vs_generated

    report["plots"] = [str(p.relative_to(out)) for p in plot_quality_vs_nfe(report, out / "plots")]
    report["plots"].append(str(plot_real_vs_generated(report, out, out / "plots" / "real_vs_generated.png")
                               .relative_to(out)))
    write_text_atomic(out / "report.json", json.dumps(report, indent=1, default=_json_default))
    write_text_atomic(out / "summary.md", summary_markdown(report))
    say(f"report written to {out}/report.json and {out}/summary.md")
    return report


#: model name of the untrained baseline row of every vocoder report
GRIFFIN_LIM = "griffin-lim"


def _griffin_lim_row(held: HeldOut, mel_config: Any, sr: int, metric_names: list[str], out: Path,
                     opts: EvalOptions, ref_titles: Sequence[str]) -> dict[str, Any]:
    """The Griffin-Lim baseline (64 iterations, the same mels): the row a neural vocoder must
    beat. Its ``nfe`` is 0 (no network); ``steps`` counts its iterations."""
    assert held.mel is not None
    t0 = time.perf_counter()
    audio = griffin_lim(held.mel.float().cpu(), mel_config, length=held.audio.shape[-1],
                        iterations=GRIFFIN_LIM_ITERATIONS, seed=opts.seed)[:, None]
    seconds = time.perf_counter() - t0
    audio = audio.clamp(-1, 1)
    values = copy_synthesis_metrics(audio, held.audio, sr, metric_names, mel_config=mel_config)
    wavs, pngs = _write_clips(out, f"audio/{GRIFFIN_LIM}", audio, sr, opts.save_clips,
                              [f"Griffin-Lim {GRIFFIN_LIM_ITERATIONS} iterations: {t}" for t in ref_titles])
    return {"model": GRIFFIN_LIM, "method": "griffin_lim", "steps": GRIFFIN_LIM_ITERATIONS, "nfe": 0,
            "metrics": {k: _mean(v) for k, v in values.items()},
            "rtf": seconds / (audio.shape[0] * audio.shape[-1] / sr), "audio": wavs, "spectrograms": pngs,
            "settings": {"iterations": GRIFFIN_LIM_ITERATIONS, "momentum": 0.99, "mel_inversion": "nnls",
                         "device": "cpu"}}


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def summary_markdown(report: dict[str, Any]) -> str:
    """Markdown tables of a report: one row per model, sampler and step count."""
    rows = report["rows"]
    names = sorted({k for r in rows for k in r["metrics"]}, key=lambda k: list(METRICS).index(k)
                   if k in METRICS else len(METRICS))
    info = report.get("metric_info", {})
    arrow = {k: {True: " ↑", False: " ↓"}.get(info.get(k, {}).get("higher_is_better", False), " ≈1") for k in names}
    lines = [f"# wavediff evaluation ({report.get('kind', '')})", "",
             f"Data: `{report['data']}`, seed {report['seed']}, {report.get('num_clips', '?')} clips of "
             f"{report.get('clip_seconds', 0):.2f} s at {report.get('sample_rate', '?')} Hz.", "",
             "| model | sampler | steps | NFE | " + " | ".join(n + arrow[n] for n in names) + " | RTF |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in names) + " | --- |"]
    for r in sorted(rows, key=lambda r: (r["nfe"], r["model"], r["method"])):
        lines.append(f"| {r['model']} | {r['method']} | {r['steps']} | {r['nfe']} | "
                     + " | ".join(_fmt(r["metrics"].get(n, float("nan"))) for n in names) + f" | {_fmt(r['rtf'])} |")
    if report.get("baseline"):
        b = report["baseline"]
        lines += ["", "Real training segments against the same held-out segments (the floor): "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in b.items()) + "."]
    lines += [""] + [f"- {n}" for n in report.get("notes", [])]
    lines += ["", "Metrics: " + "; ".join(f"`{k}` {v['description']}" for k, v in info.items()) + "."]
    return "\n".join(lines) + "\n"
