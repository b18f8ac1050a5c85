"""Copy-synthesis metrics: perfect scores for identical audio, what a known gain, a known
delay and additive noise do to each metric, pitch errors of a semitone, DNSMOS ranges,
the gradient of the STFT distance, input validation and missing optional packages."""

from __future__ import annotations

import importlib.util
import math
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavediff.audio import MelConfig, mel_spectrogram
from wavediff.audio.metrics import (
    COPY_SYNTHESIS_METRICS,
    DEFAULT_METRICS,
    METRICS,
    available_metrics,
    copy_synthesis_metrics,
    lsd,
    mel_l1,
    metric_info,
    mrstft_distance,
    real_time_factor,
)

HIFIGAN = MelConfig.preset("hifigan")
SEMITONE = 2.0 ** (1.0 / 12.0)


def need(*modules: str) -> None:
    """Skip unless every optional module is installed (checked without importing it)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"optional package(s) {missing} not installed (pip install 'wavediff[eval]')")


def white_noise(seconds: float, sr: int, std: float = 0.1, seed: int = 0) -> np.ndarray:
    return (std * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(x.size)
    noise *= math.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2) / 10.0 ** (snr_db / 10.0))
    return (x + noise).astype(np.float32)


def delay(x: np.ndarray, d: int) -> np.ndarray:
    return np.concatenate([np.zeros(d, dtype=x.dtype), x[:-d]])


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    """The recorded utterance shipped inside the pysptk package (16 kHz, about 4 s)."""
    need("pysptk")
    path = Path(importlib.util.find_spec("pysptk").origin).parent / "example_audio_data" / "arctic_a0007.wav"
    audio, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and audio.ndim == 1 and 3.0 < audio.size / sr < 5.0
    return audio, sr


REFERENCE_METRICS = [n for n in COPY_SYNTHESIS_METRICS if not METRICS[n].reference_free]
SNRS = (math.inf, 40.0, 20.0, 0.0)


@pytest.fixture(scope="module")
def noise_ladder(speech) -> dict[str, list[float]]:
    """Every reference-based metric for the utterance with white noise at SNR inf/40/20/0 dB,
    computed in one batched call (row 0 is the utterance itself)."""
    need("pyworld", "pysptk", "pesq", "pystoi")
    x, sr = speech
    batch = np.stack([x if math.isinf(s) else add_noise(x, s, seed=i) for i, s in enumerate(SNRS)])
    ref = np.stack([x] * len(SNRS))
    cfg = MelConfig.preset("hifigan", sample_rate=sr)
    return copy_synthesis_metrics(batch[:, None], ref[:, None], sr, names=REFERENCE_METRICS, mel_config=cfg)


# ------------------------------------------------------------------------- identity
def test_identical_audio_scores_perfect_cheap_metrics():
    x = torch.from_numpy(white_noise(1.0, 22050)).reshape(2, 1, -1)
    assert torch.equal(mrstft_distance(x, x.clone()), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(lsd(x, x.clone(), 22050), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(mel_l1(x, x.clone(), HIFIGAN), torch.zeros(2))


def test_identical_speech_scores_perfect(noise_ladder):
    perfect = {name: values[0] for name, values in noise_ladder.items()}
    for name in ("mrstft_distance", "mel_l1", "lsd", "mcd", "f0_rmse", "f0_rmse_cents", "voicing_error"):
        assert perfect[name] == pytest.approx(0.0, abs=1e-9), name
    assert perfect["pesq"] == pytest.approx(4.644, abs=0.01)  # wide-band PESQ's ceiling
    assert perfect["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["estoi"] == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------------ known gain
@pytest.mark.parametrize("gain", [0.1, 0.5, 2.0])
def test_gain_gives_the_values_the_definitions_imply(gain):
    sr = 22050
    ref = torch.from_numpy(white_noise(1.0, sr)).reshape(1, 1, -1)
    est = gain * ref
    # No STFT/mel bin of either signal may sit at a floor, or the identities below are off.
    assert float(mel_spectrogram(torch.cat([ref, est]), HIFIGAN).min()) > HIFIGAN.log_floor
    # LSD: every power bin moves by 20 log10 g dB.
    assert float(lsd(est, ref, sr)[0]) == pytest.approx(abs(20.0 * math.log10(gain)), abs=1e-6)
    # mel L1 with natural-log magnitude mels: every feature moves by ln g.
    assert float(mel_l1(est, ref, HIFIGAN)[0]) == pytest.approx(abs(math.log(gain)), abs=1e-4)
    # MR-STFT: spectral convergence ||R - gR|| / ||R|| = |1 - g| plus log-magnitude |ln g|.
    expected = abs(1.0 - gain) + abs(math.log(gain))
    assert float(mrstft_distance(est, ref)[0]) == pytest.approx(expected, rel=1e-4)


def test_gain_changes_only_c0_so_mcd_and_pitch_stay_zero(speech):
    need("pyworld", "pysptk")
    from wavediff.audio.metrics import f0_metrics, mcd

    x, sr = speech
    fast = {"f0_method": "dio"}  # the tracker does not matter here; DIO is ~30x faster
    for gain in (0.25, 3.0):
        assert mcd(gain * x, x, sr, **fast) == pytest.approx(0.0, abs=1e-3)
    f0 = f0_metrics(0.25 * x, x, sr, **fast)
    assert f0["f0_rmse"] == pytest.approx(0.0, abs=1e-6) and f0["voicing_error"] == 0.0
    # A spectral tilt, in contrast, is not a level change and must register.
    tilted = np.append(x[:1], x[1:] - 0.9 * x[:-1]).astype(np.float32)
    assert mcd(tilted, x, sr, **fast) > 1.0


# ----------------------------------------------------------------------- known delay
def test_small_delay_keeps_spectra_and_quality(speech, noise_ladder):
    need("pesq", "pystoi")
    from wavediff.audio.metrics import pesq_wb, stoi

    x, sr = speech
    late = delay(x, 4)  # 0.25 ms, far below the shortest 512-sample window
    small = copy_synthesis_metrics(late, x, sr, names=["mrstft_distance", "lsd"])
    assert small["mrstft_distance"][0] < 0.05
    assert small["lsd"][0] < 0.5
    # ... smaller than what 40 dB SNR white noise does.
    assert small["mrstft_distance"][0] < noise_ladder["mrstft_distance"][1] / 5
    assert small["lsd"][0] < noise_ladder["lsd"][1] / 5
    # PESQ realigns in time; STOI barely notices a delay this small.
    assert pesq_wb(delay(x, 16), x, sr) > 4.5
    assert stoi(late, x, sr) > 0.99


def test_large_misalignment_hurts_stoi(speech):
    need("pystoi")
    from wavediff.audio.metrics import estoi, stoi

    x, sr = speech
    aligned = stoi(delay(x, 4), x, sr)
    shifted = stoi(delay(x, sr // 10), x, sr)  # 100 ms: a quarter of a STOI segment
    assert shifted < 0.5 < aligned
    assert estoi(delay(x, sr // 10), x, sr) < 0.3


# ----------------------------------------------------------------------------- noise
def test_noise_worsens_every_metric_monotonically(noise_ladder):
    for name, values in noise_ladder.items():
        assert len(values) == len(SNRS) and all(math.isfinite(v) for v in values), name
        ordered = [-v for v in values] if METRICS[name].higher_is_better else values
        assert all(a < b for a, b in zip(ordered, ordered[1:])), f"{name}: {values}"


# ------------------------------------------------------------------------------ pitch
def test_one_semitone_apart_gives_13_hz_and_100_cents():
    need("pyworld")
    from wavediff.audio.metrics import f0_metrics

    sr = 16000
    t = np.arange(sr) / sr

    def tone(f0: float, harmonics: int) -> np.ndarray:
        return 0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, harmonics + 1))

    expected_hz = 220.0 * (SEMITONE - 1.0)  # 13.08 Hz
    # Pure sines: DIO+StoneMask (Harvest treats a lone sinusoid as unvoiced).
    # Harmonic tones: Harvest, the default.
    for harmonics, method in ((1, "dio"), (10, "harvest")):
        res = f0_metrics(tone(220.0 * SEMITONE, harmonics), tone(220.0, harmonics), sr, f0_method=method)
        assert res["f0_rmse"] == pytest.approx(expected_hz, abs=0.3), (harmonics, method)
        assert res["f0_rmse_cents"] == pytest.approx(100.0, abs=3.0), (harmonics, method)
        assert res["voicing_error"] < 0.02


def test_voicing_error_counts_unvoiced_frames():
    need("pyworld")
    from wavediff.audio.metrics import f0_metrics

    sr = 16000
    t = np.arange(sr) / sr
    voiced = 0.3 * sum(np.sin(2 * np.pi * k * 200.0 * t) / k for k in range(1, 11))
    half = voiced.copy()
    half[sr // 2 :] = white_noise(0.5, sr, std=0.05)  # second half unvoiced
    res = f0_metrics(half, voiced, sr)
    assert 0.4 < res["voicing_error"] < 0.6
    assert math.isfinite(res["f0_rmse"])
    assert f0_metrics(voiced, voiced, sr)["voicing_error"] == 0.0


# ----------------------------------------------------------------------------- DNSMOS
def test_dnsmos_is_plausible_and_drops_with_noise(speech, monkeypatch):
    need("speechmos", "onnxruntime")
    from wavediff.audio.metrics import dnsmos

    def no_network(*args, **kwargs):
        raise AssertionError("DNSMOS tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    x, sr = speech
    scores = dnsmos(np.stack([x, add_noise(x, 0.0, seed=7)]), sr)
    assert set(scores) == {"ovrl", "sig", "bak", "p808"}
    clean, noisy = (float(v) for v in scores["ovrl"])
    assert 2.0 < clean < 4.0
    assert noisy < clean - 0.5
    assert float(scores["bak"][1]) < float(scores["bak"][0]) - 1.0
    for values in scores.values():
        assert values.dtype == torch.float64 and values.shape == (2,)
        assert bool(((values > 1.0) & (values < 5.0)).all())
    # The registry's dnsmos is OVRL, computed on the estimate only.
    via_registry = copy_synthesis_metrics(x, np.zeros_like(x), sr, names=["dnsmos"])
    assert via_registry["dnsmos"][0] == pytest.approx(clean, abs=1e-9)


def test_every_dnsmos_score_is_higher_is_better_from_computation_to_gallery(speech, tmp_path):
    """dnsmos_sig, dnsmos_bak and dnsmos_p808: clean speech scores above speech at 0 dB SNR,
    the report marks them higher-is-better, and the gallery highlights the clean row."""
    need("speechmos", "onnxruntime")
    from gallery_fixture import best_cells
    from wavediff.eval.gallery import render_gallery

    x, sr = speech
    names = ["dnsmos_sig", "dnsmos_bak", "dnsmos_p808"]
    batch = np.stack([x, add_noise(x, 0.0, seed=7)])[:, None]
    values = copy_synthesis_metrics(batch, batch, sr, names=names)
    info = metric_info(names)
    for name in names:
        assert values[name][0] > values[name][1], name
        assert info[name]["higher_is_better"] is True and info[name]["highlight"] is True
    rows = [{"model": model, "method": "-", "steps": 1, "nfe": 1, "rtf": 1.0,
             "metrics": {n: values[n][i] for n in names}} for i, model in enumerate(["clean", "noisy"])]
    page = render_gallery({"rows": rows, "data": "speech", "seed": 0, "metric_info": info}, tmp_path, tmp_path)
    assert best_cells(page) == {name: {"clean"} for name in names}


# ------------------------------------------------------------------- missing packages
@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("pesq", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).pesq_wb(x, x, sr)),
        ("pystoi", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).stoi(x, x, sr)),
        ("pyworld", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).mcd(x, x, sr)),
        ("pysptk", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).mcd(x, x, sr)),
        ("pyworld", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).f0_metrics(x, x, sr)),
        ("onnxruntime", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).dnsmos(x, sr)),
        ("speechmos", lambda x, sr: __import__("wavediff.audio.metrics", fromlist=["x"]).dnsmos(x, sr)),
    ],
)
def test_missing_optional_package_names_the_extra(monkeypatch, module, call):
    from wavediff.audio.speech_metrics import MissingDependencyError

    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    if module == "onnxruntime":  # speechmos.dnsmos must be re-imported to hit it
        for name in [m for m in sys.modules if m.startswith("speechmos")]:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # "import module" now raises ImportError
    x = white_noise(1.0, 16000)
    with pytest.raises(MissingDependencyError, match=r'pip install "wavediff\[eval\]"') as info:
        call(x, 16000)
    assert module in str(info.value)
    assert isinstance(info.value, ImportError)
    # The cheap metrics never touch the optional packages.
    assert module not in {p for n in available_metrics() for p in METRICS[n].requires}
    assert set(copy_synthesis_metrics(x, x, 16000)) == set(DEFAULT_METRICS)


def test_world_imports_leave_no_pkg_resources_stand_in():
    need("pyworld", "pysptk")
    from wavediff.audio.speech_metrics import _require

    had_it = importlib.util.find_spec("pkg_resources") is not None
    _require("pyworld", "test")
    _require("pysptk", "test")
    if not had_it:
        assert "pkg_resources" not in sys.modules


# ------------------------------------------------------------------------- gradients
def test_mrstft_distance_is_differentiable_and_flat_at_identity():
    ref = torch.from_numpy(white_noise(0.5, 16000)).reshape(2, 1, -1)
    est = ref.clone().requires_grad_(True)
    mrstft_distance(est, ref).sum().backward()
    assert est.grad is not None and torch.equal(est.grad, torch.zeros_like(est))

    noisy = (ref + 0.01 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))).requires_grad_(True)
    dist = mrstft_distance(noisy, ref)
    dist.sum().backward()
    assert bool(torch.isfinite(noisy.grad).all()) and float(noisy.grad.abs().max()) > 0
    # A small step down the gradient lowers the distance.
    with torch.no_grad():
        stepped = noisy - 1e-3 * noisy.grad / noisy.grad.abs().max()
    assert bool((mrstft_distance(stepped, ref) < dist.detach()).all())
    # Silence (all-zero STFT bins) has a finite gradient too.
    silent = torch.zeros(1, 4000, requires_grad=True)
    mrstft_distance(silent, ref[:1, 0, :4000]).sum().backward()
    assert bool(torch.isfinite(silent.grad).all())


# ------------------------------------------------------------ layouts and validation
def test_shapes_return_types_and_length_alignment():
    sr = 16000
    x = white_noise(0.5, sr)
    y = add_noise(x, 10.0, seed=3)
    one = lsd(y, x, sr)
    assert isinstance(one, float)
    for shape in [(1, -1), (1, 1, -1)]:
        batched = lsd(y.reshape(shape), torch.from_numpy(x).reshape(shape), sr)
        assert batched.dtype == torch.float64 and batched.shape == (1,)
        assert float(batched[0]) == pytest.approx(one, rel=1e-12)
    scalar_mr = mrstft_distance(y, x)
    assert isinstance(scalar_mr, torch.Tensor) and scalar_mr.ndim == 0
    # The longer signal is cut to the shorter one.
    longer = np.concatenate([y, white_noise(0.1, sr, seed=9)])
    assert lsd(longer, x, sr) == pytest.approx(one, rel=1e-12)
    assert float(mrstft_distance(longer, x)) == pytest.approx(float(scalar_mr), rel=1e-6)
    res = copy_synthesis_metrics(np.stack([y, x]), np.stack([x, x]), sr)
    assert list(res) == list(DEFAULT_METRICS)
    assert all(len(v) == 2 and v[1] == 0.0 and v[0] > 0 for v in res.values())


def test_invalid_input_raises_clear_errors():
    sr = 16000
    x = white_noise(0.5, sr)
    nan = x.copy()
    nan[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lsd(nan, x, sr)
    with pytest.raises(ValueError, match="NaN"):
        mrstft_distance(x, torch.from_numpy(nan))
    with pytest.raises(ValueError, match="shape"):
        lsd(x.reshape(1, 1, 1, -1), x.reshape(1, 1, 1, -1), sr)
    with pytest.raises(ValueError, match="mono"):
        lsd(np.stack([x, x])[None], np.stack([x, x])[None], sr)
    with pytest.raises(ValueError, match="batch sizes"):
        mrstft_distance(np.stack([x, x]), x[None])
    with pytest.raises(ValueError, match="1-D"):
        lsd(x, x[None], sr)
    with pytest.raises(ValueError, match="floating-point"):
        lsd((x * 32767).astype(np.int16), x, sr)
    for bad_rate in (0, -16000, 16000.5, "16k", True):
        with pytest.raises(ValueError, match="sample_rate"):
            lsd(x, x, bad_rate)
    with pytest.raises(ValueError, match="unknown metric"):
        copy_synthesis_metrics(x, x, sr, names=["mrstft_distance", "pesq_nb"])
    with pytest.raises(ValueError, match="22050 Hz"):
        copy_synthesis_metrics(x, x, sr, names=["mel_l1"], mel_config=HIFIGAN)
    with pytest.raises(ValueError, match="resolution"):
        mrstft_distance(x, x, resolutions=[(512, 128, 1024)])
    if importlib.util.find_spec("pesq") is not None:
        from wavediff.audio.metrics import pesq_wb

        with pytest.raises(ValueError, match="16000 Hz"):
            pesq_wb(x[::2], x[::2], 8000)


def test_undefined_scores_are_nan_with_a_warning():
    need("pesq", "pystoi")
    from wavediff.audio.metrics import pesq_wb, stoi

    sr = 16000
    silence = np.zeros(sr, dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="no speech"):
        assert math.isnan(pesq_wb(silence, silence, sr))
    short = white_noise(0.1, sr)
    with pytest.warns(RuntimeWarning, match="too little speech"):
        assert math.isnan(stoi(short, short, sr))


def test_mcd_frame_selection(speech):
    need("pyworld", "pysptk")
    from wavediff.audio.metrics import mcd

    x, sr = speech
    y = add_noise(x, 20.0, seed=5)
    every, voiced = mcd(y, x, sr, f0_method="dio"), mcd(y, x, sr, frames="voiced", f0_method="dio")
    # Noise fills the pauses, where the reference's envelope is far from white noise's
    # level shape; voiced frames keep more of their own envelope.
    assert 0.0 < voiced < every
    with pytest.raises(ValueError, match="frames"):
        mcd(y, x, sr, frames="speech")


# --------------------------------------------------------------------- registry, RTF
def test_registry_describes_every_metric():
    """Every name a report can hold has a direction, a unit and a one-line description;
    the ones without a direction, and the ones whose better value is not better audio, are
    never highlighted."""
    from wavediff.eval.distribution import DistributionMetrics

    assert set(COPY_SYNTHESIS_METRICS) == {
        "mrstft_distance", "mel_l1", "lsd", "mcd", "f0_rmse", "f0_rmse_cents", "voicing_error", "pesq", "stoi",
        "estoi", "dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"}
    # every name DistributionMetrics computes (labels, training clips and a teacher given)
    clips = torch.from_numpy(np.stack([white_noise(0.2, 16000, seed=i) for i in range(4)]))[:, None]
    computed = DistributionMetrics(clips, 16000, held_out_labels=np.array([0, 0, 1, 1]), train=clips,
                                   teacher=clips)(clips, np.array([0, 1, 0, 1]))
    assert set(METRICS) == set(COPY_SYNTHESIS_METRICS) | set(computed)
    higher = {"pesq", "stoi", "estoi", "dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "coverage",
              "class_consistency"}
    for name, info in METRICS.items():
        assert info.name == name and info.unit and info.description and "\n" not in info.description
        assert info.higher_is_better is (True if name in higher else None if name == "nn_train_ratio" else False)
        assert info.highlight == (name not in {"nn_train_ratio", "copy_fraction", "mrstft_to_teacher"}), name
        assert metric_info([name]) == {name: {"higher_is_better": info.higher_is_better, "unit": info.unit,
                                              "description": info.description, "highlight": info.highlight}}
    assert set(DEFAULT_METRICS) == {"mrstft_distance", "mel_l1", "lsd"}
    assert set(DEFAULT_METRICS) <= set(available_metrics()) <= set(COPY_SYNTHESIS_METRICS)
    with pytest.raises(ValueError, match="not in the registry"):
        metric_info(["precision"])
    with pytest.raises(ValueError, match=r"\['fd_mel'\] compare generated clips with held-out clips"):
        copy_synthesis_metrics(clips, clips, 16000, names=["fd_mel"])


def test_real_time_factor_counts_wall_clock_per_audio_second():
    calls = []

    def work() -> None:
        calls.append(1)
        time.sleep(0.02)

    rtf = real_time_factor(work, audio_seconds=0.1, device="cpu", repeats=3, warmup=2)
    assert len(calls) == 5
    assert rtf >= 0.19  # 0.02 s per 0.1 s of audio, plus overhead
    with pytest.raises(ValueError, match="audio_seconds"):
        real_time_factor(work, audio_seconds=0.0)
    with pytest.raises(ValueError, match="repeats"):
        real_time_factor(work, audio_seconds=1.0, repeats=0)
