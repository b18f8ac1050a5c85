"""Every metric a report highlights prefers real audio to noise, at a report's clip counts.

Rows of 30 clips (the demo evaluates 32): real demo-corpus clips, white noise, low-passed
noise, real clips under white noise and quiet noise with a few loud clips, each scored as ``wavediff evaluate`` scores a row
against 30 held-out clips, then rendered by the gallery. Every metric the registry lets a
report highlight must rank the real row best, and the gallery must mark the real row.
Metrics that rate some noise row best (``mrstft_to_teacher`` when the teacher makes noise,
the copy check) must not be highlighted.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from wavediff.audio.metrics import METRICS, copy_synthesis_metrics, metric_info
from wavediff.data.demo import DemoCorpusConfig, corpus_to_arrays, generate_demo_corpus
from wavediff.eval.distribution import DistributionMetrics
from wavediff.eval.gallery import render_gallery

from gallery_fixture import best_cells

SECONDS = 0.5


@pytest.fixture(scope="module")
def corpus():
    """Held-out, generated-stand-in and training clips: 30 each, 6 per class."""
    audio, labels, sr = corpus_to_arrays(generate_demo_corpus(DemoCorpusConfig(clips_per_class=18,
                                                                                clip_seconds=SECONDS)))
    audio = torch.from_numpy(audio)
    return {"sr": sr, "held": audio[0::3], "held_labels": labels[0::3], "real": audio[1::3],
            "labels": labels[1::3], "train": audio[2::3], "train_labels": labels[2::3]}


def _noise(shape, rms: float, cutoff_hz: float | None, sr: int, seed: int) -> torch.Tensor:
    x = np.random.default_rng(seed).standard_normal(shape)
    if cutoff_hz is not None:
        b, a = scipy.signal.butter(4, cutoff_hz, fs=sr)
        x = scipy.signal.lfilter(b, a, x, axis=-1)
    return torch.from_numpy(x / x.std() * rms).float()


def _report(rows: dict[str, dict[str, float]]) -> dict:
    used = {k for m in rows.values() for k in m}
    return {"rows": [{"model": name, "method": "-", "steps": 1, "nfe": 1, "metrics": m, "rtf": 1.0}
                     for name, m in rows.items()],
            "data": "demo", "seed": 0, "metric_info": metric_info(used)}


def _check_highlights(rows: dict[str, dict[str, float]], tmp_path) -> list[str]:
    """Every highlighted metric ranks ``real`` strictly best and the gallery marks it there
    and nowhere else; returns the highlighted names."""
    names = sorted({k for m in rows.values() for k in m})
    highlighted = [n for n in names if METRICS[n].highlight]
    for name in highlighted:
        sign = 1.0 if METRICS[name].higher_is_better else -1.0
        real = sign * rows["real"][name]
        others = {row: sign * m[name] for row, m in rows.items() if row != "real"}
        assert all(real > v for v in others.values()), f"{name}: real {rows['real'][name]}, {others}"
    assert best_cells(render_gallery(_report(rows), tmp_path, tmp_path)) == {n: {"real"} for n in highlighted}
    return highlighted


def test_distribution_metrics_rank_real_clips_above_noise(corpus, tmp_path):
    sr, shape = corpus["sr"], tuple(corpus["real"].shape)
    teacher = _noise(shape, 0.01, None, sr, seed=1)  # a teacher whose samples are noise
    score = DistributionMetrics(corpus["held"], sr, held_out_labels=corpus["held_labels"], train=corpus["train"],
                                teacher=teacher)
    labels = corpus["labels"]
    rows = {
        "real": score(corpus["real"], labels),
        "white -50 dBFS": score(_noise(shape, 0.003, None, sr, seed=2), labels),
        "white -40 dBFS (the teacher)": score(teacher, labels),
        "white -30 dBFS": score(_noise(shape, 0.03, None, sr, seed=3), labels),
        "low-passed 1 kHz -40 dBFS": score(_noise(shape, 0.01, 1000.0, sr, seed=4), labels),
        "low-passed 300 Hz -30 dBFS": score(_noise(shape, 0.03, 300.0, sr, seed=5), labels),
        "real + white -50 dBFS": score(corpus["real"] + _noise(shape, 0.003, None, sr, seed=6), labels),
        "white -50 dBFS, 5 loud clips": score(torch.cat([_noise((25, 1, shape[-1]), 0.003, None, sr, seed=7),
                                                          _noise((5, 1, shape[-1]), 0.1, 2000.0, sr, seed=8)]), labels),
    }
    highlighted = _check_highlights(rows, tmp_path)
    assert set(highlighted) == {"fd_mel", "coverage", "class_consistency", "periodicity_gap"}
    # what the unhighlighted ones would have marked: noise
    assert min(rows, key=lambda r: rows[r]["mrstft_to_teacher"]) == "white -40 dBFS (the teacher)"
    assert all(m["copy_fraction"] == 0.0 for r, m in rows.items() if r != "real")  # its best value
    # the real-vs-real floor of the same metrics sits with the real row, far from noise
    floor = score.floor(corpus["train"])
    assert floor["fd_mel"] < 0.5 * min(m["fd_mel"] for r, m in rows.items() if r != "real")
    per_class = score.floor(corpus["train"], corpus["train_labels"])  # with their labels: the gap per class
    noise_rows = [m["periodicity_gap"] for r, m in rows.items() if not r.startswith("real")]
    assert per_class["periodicity_gap"] < 0.1 < min(noise_rows), (per_class, noise_rows)


def _shaped_noise(audio: torch.Tensor, seed: int) -> torch.Tensor:
    """Noise with each clip's own spectral envelope and loudness over time (the STFT magnitude
    smoothed over 300 Hz, random phases): a noise texture shaped like the note, without its pitch."""
    window = torch.hann_window(512)
    spec = torch.stft(audio[:, 0], 512, 128, window=window, center=True, return_complex=True)
    smooth = torch.nn.functional.avg_pool1d(spec.abs().transpose(1, 2), 9, stride=1, padding=4).transpose(1, 2)
    phase = torch.rand(spec.shape, generator=torch.Generator().manual_seed(seed)) * 2 * torch.pi
    return torch.istft(smooth * torch.exp(1j * phase), 512, 128, window=window, center=True,
                       length=audio.shape[-1])[:, None]


def test_a_noise_texture_shaped_like_the_notes_is_caught_by_periodicity(corpus):
    """The log-mel statistics (fd_mel, class_consistency) cannot tell the notes from noise
    carrying each note's envelope; periodicity_gap can: the texture sits far from the real
    clips, and the real clips near the floor of other real clips."""
    sr = corpus["sr"]
    score = DistributionMetrics(corpus["held"], sr, held_out_labels=corpus["held_labels"])
    labels = corpus["labels"]
    real, texture = score(corpus["real"], labels), score(_shaped_noise(corpus["real"], seed=3), labels)
    assert texture["class_consistency"] >= 0.8  # it names the class from the envelope alone
    assert real["periodicity_gap"] < 0.1 and texture["periodicity_gap"] > 0.3, (real, texture)


def test_copy_synthesis_defaults_rank_a_close_copy_above_noise(corpus, tmp_path):
    sr, ref = corpus["sr"], corpus["held"]
    rms = float(ref.pow(2).mean().sqrt())
    close = 0.9 * torch.roll(ref, 1, dims=-1)  # a vocoder that is off by 1 dB and one sample
    estimates = {"real": close, "white": _noise(tuple(ref.shape), rms, None, sr, seed=7),
                 "low-passed 1 kHz": _noise(tuple(ref.shape), rms, 1000.0, sr, seed=8)}
    rows = {}
    for row, est in estimates.items():
        values = copy_synthesis_metrics(est, ref, sr)
        rows[row] = {k: float(np.mean(v)) for k, v in values.items()}
    assert set(_check_highlights(rows, tmp_path)) == {"mrstft_distance", "mel_l1", "lsd"}
