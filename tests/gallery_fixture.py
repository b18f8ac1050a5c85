"""A tiny evaluation report folder in the layout ``wavediff evaluate`` writes, for gallery tests.

    REPORT/report.json, REPORT/summary.md, REPORT/plots/*.png,
    REPORT/audio/<model>/<method>-<steps>/NNN.wav|png, REPORT/audio/reference/NNN.wav|png
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from wavediff.audio.io import save_audio
from wavediff.audio.plot import save_spectrogram_png

#: model name with characters that must be escaped in HTML
ODD_MODEL = 'student <b>"cd"</b> & co'


def _tone(freq: float, seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(seed)
    env = np.exp(-3.0 * t)
    return (0.5 * env * np.sin(2 * math.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _clip(root: Path, rel: str, audio: np.ndarray, sample_rate: int, title: str) -> tuple[str, str]:
    save_audio(root / f"{rel}.wav", audio, sample_rate)
    save_spectrogram_png(root / f"{rel}.png", audio, sample_rate, title=title)
    return f"{rel}.wav", f"{rel}.png"


def best_cells(page: str) -> dict[str, set[str]]:
    """Column of the gallery's metrics table (name without its arrow) -> the models whose
    cell in it is marked best."""
    table = page[page.index("<table>"):page.index("</table>")]
    columns = [c.rstrip(" ↑↓") for c in re.findall(r"<th[^>]*>([^<]*)</th>", table)]
    best: dict[str, set[str]] = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table[table.index("<tbody>"):]):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", row)
        model = re.sub(r"<[^>]+>", "", cells[0][1])
        for (attrs, _), column in zip(cells, columns):
            if "best" in attrs:
                best.setdefault(column, set()).add(model)
    return best


def write_fixture_report(root: str | Path, *, kind: str = "class", models: Sequence[str] = ("teacher", ODD_MODEL),
                         steps: Sequence[int] = (1, 4), clips: int = 2, sample_rate: int = 8000,
                         seconds: float = 0.5, optional: bool = True) -> dict[str, Any]:
    """Write a report folder at ``root`` and return its report dict.

    ``optional=False`` writes only the guaranteed keys (rows with model/method/steps/nfe/
    metrics/rtf, data, seed): no audio, references, plots, notes or metric_info. With
    ``optional=True`` the last row of the last model has no audio (rows may lack it) and one
    metric value is NaN."""
    root = Path(root)
    labels = ["bell", "pluck <&>", "drum"]
    rows = []
    for m, model in enumerate(models):
        for k, n in enumerate(steps):
            row: dict[str, Any] = {"model": model, "method": "dpmpp_2m", "steps": n, "nfe": 2 * n - 1,
                                   "metrics": {"fd_mel": 10.0 / n + m, "mrstft_distance": 3.0 - 0.1 * n + m,
                                               "stoi": 0.5 + 0.05 * n - 0.1 * m},
                                   "rtf": 0.01 * n * (m + 1)}
            if optional:
                row["settings"] = {"checkpoint": f"runs/{model}/checkpoints/last.ckpt", "guidance": 1.5,
                                   "grid": "karras", "seed": 0}
                if m == len(models) - 1 and k == len(steps) - 1:
                    row["metrics"]["stoi"] = float("nan")  # a metric that could not be computed
                else:
                    folder = f"audio/model{m}/dpmpp_2m-{n}"
                    pairs = [_clip(root, f"{folder}/{i:03d}", _tone(220.0 * (i + 1) * (1 + 0.1 * m), seconds,
                                                                     sample_rate, seed=10 * m + k),
                                   sample_rate, f"{model} {n} steps: {labels[i % 3]}") for i in range(clips)]
                    row["audio"] = [a for a, _ in pairs]
                    row["spectrograms"] = [p for _, p in pairs]
            rows.append(row)
    report: dict[str, Any] = {"rows": rows, "data": "data/demo <test>", "seed": 0}
    if optional:
        refs = []
        for i in range(clips):
            a, p = _clip(root, f"audio/reference/{i:03d}", _tone(220.0 * (i + 1), seconds, sample_rate, seed=99),
                         sample_rate, f"real: {labels[i % 3]}")
            refs.append({"audio": a, "spectrogram": p, "name": f"clip_{i:03d}", "label": labels[i % 3]})
        save_spectrogram_png(root / "plots" / "quality_vs_nfe.png", _tone(440.0, 0.3, sample_rate, 1), sample_rate,
                             title="quality vs NFE (fixture)")
        report.update({
            "kind": kind, "sample_rate": sample_rate, "clip_seconds": seconds,
            "clips": [{"name": f"{i:03d}", "label": labels[i % 3]} for i in range(clips)],
            "references": refs, "plots": ["plots/quality_vs_nfe.png"],
            "notes": ["fd_mel is a Frechet distance on normalised log-mel statistics; <not> comparable to FAD."],
            "metric_info": {"fd_mel": {"higher_is_better": False, "description": "Frechet distance, log-mel"},
                            "stoi": {"higher_is_better": True, "description": "intelligibility"}},
            "baseline": {"fd_mel": 0.5},
        })
        (root / "summary.md").write_text("# wavediff evaluation\n\n| model | fd_mel |\n| --- | --- |\n| teacher | 10 |\n")
    root.mkdir(parents=True, exist_ok=True)
    (root / "report.json").write_text(json.dumps(report, indent=1))
    return report
