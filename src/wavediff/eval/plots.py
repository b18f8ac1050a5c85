"""Figures of an evaluation report: quality and real-time factor against network
evaluations, and spectrograms of real against generated clips (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    try:
        with atomic_write(path) as handle:
            fig.savefig(handle, format="png", dpi=100)
    finally:
        _pyplot().close(fig)
    return path


def _curves(rows: list[dict[str, Any]], key: Any) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["nfe"] == 0:  # a baseline without a network (Griffin-Lim): drawn as a line
            continue
        value = key(r)
        if value is None or not math.isfinite(value):
            continue
        label = r["model"] if r["method"] in ("progressive", "consistency") else f"{r['model']} ({r['method']})"
        curves.setdefault(label, []).append((r["nfe"], value))
    return {k: sorted(v) for k, v in curves.items()}


def plot_quality_vs_nfe(report: dict[str, Any], folder: Path) -> list[Path]:
    """``quality_vs_nfe.png`` (one panel per metric, one curve per model and sampler, log2
    NFE axis, the real-data floor dashed where known) and ``rtf_vs_nfe.png``."""
    plt = _pyplot()
    rows = report["rows"]
    names = sorted({k for r in rows for k in r["metrics"]})
    info = report.get("metric_info", {})
    baseline = report.get("baseline", {})
    paths = []
    if names:
        cols = min(3, len(names))
        nrows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False,
                                 constrained_layout=True)
        for ax, name in zip(axes.flat, names):
            for label, pts in _curves(rows, lambda r: r["metrics"].get(name)).items():
                x, y = zip(*pts)
                ax.plot(x, y, marker="o", label=label)
            if name in baseline:
                ax.axhline(baseline[name], color="gray", linestyle="--", linewidth=1, label="real data")
            for r in rows:
                value = r["metrics"].get(name)
                if r["nfe"] == 0 and value is not None and math.isfinite(value):
                    ax.axhline(value, color="black", linestyle=":", linewidth=1.2, label=r["model"])
            ax.set_xscale("log", base=2)
            better = {True: "higher is better", False: "lower is better"}.get(
                info.get(name, {}).get("higher_is_better", False), "about 1 is right")
            ax.set_title(f"{name} ({better})", fontsize=9)
            ax.set_xlabel("network evaluations (NFE)")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        paths.append(_save(fig, folder / "quality_vs_nfe.png"))
    fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    for label, pts in _curves(rows, lambda r: r.get("rtf")).items():
        x, y = zip(*pts)
        ax.plot(x, y, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel("real-time factor (s compute / s audio)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    paths.append(_save(fig, folder / "rtf_vs_nfe.png"))
    return paths


def _best_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of ``rows`` (one model at one NFE, several samplers) with the best value of
    the first highlighted metric of the registry that every row has; the last row if none."""
    from ..audio.metric_registry import METRICS

    for name, info in METRICS.items():
        if not info.highlight or info.higher_is_better is None:
            continue
        values = [r.get("metrics", {}).get(name) for r in rows]
        if all(isinstance(v, (int, float)) and np.isfinite(v) for v in values):
            pick = max if info.higher_is_better else min
            return rows[values.index(pick(values))]
    return rows[-1]


def plot_real_vs_generated(report: dict[str, Any], root: Path, path: Path, clips: int = 3) -> Path:
    """A grid of spectrograms: real clips in the first column, then for each model its
    lowest-NFE row and its best row at its highest NFE (:func:`_best_row`: the sampler that
    scores best there), for the first ``clips`` clips."""
    import soundfile as sf

    from ..audio.plot import spectrogram_db

    plt = _pyplot()
    sr = report.get("sample_rate", 16000)
    columns: list[tuple[str, list[str]]] = [("real", [r["audio"] for r in report.get("references", [])])]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in report["rows"]:
        if r.get("audio"):
            by_model.setdefault(r["model"], []).append(r)
    for model, rows in by_model.items():
        rows = sorted(rows, key=lambda r: r["nfe"])
        most = _best_row([r for r in rows if r["nfe"] == rows[-1]["nfe"]])
        for row in [rows[0]] if most is rows[0] else [rows[0], most]:
            columns.append((f"{model}\n{row['method']} {row['steps']} steps", row["audio"]))
    n = min(clips, min(len(c[1]) for c in columns) if columns else 0)
    fig, axes = plt.subplots(max(n, 1), len(columns), figsize=(2.6 * len(columns), 2.0 * max(n, 1)),
                             squeeze=False, constrained_layout=True)
    for j, (title, files) in enumerate(columns):
        for i in range(n):
            ax = axes[i, j]
            audio, _ = sf.read(str(root / files[i]), dtype="float32")
            spec = spectrogram_db(np.asarray(audio))
            ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=-90, vmax=0,
                      extent=(0, len(audio) / sr, 0, sr / 2000))
            ax.set_xticks([])
            if j == 0:
                ax.set_ylabel(f"clip {i}\nkHz", fontsize=8)
            else:
                ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    return _save(fig, path)
