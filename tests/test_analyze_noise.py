"""``wavediff analyze-noise``: spectra, 0-dB crossings and loss-weight densities against closed forms."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from wavediff.audio.io import AudioError, save_audio
from wavediff.cli import main
from wavediff.diffusion import WEIGHTINGS, get_schedule
from wavediff.eval.noise import analyze_noise, band_mask, mean_power_spectrum, octave_bands, weight_densities

SR = 8000


def _white_folder(root, std: float, clips: int = 3, seconds: float = 2.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(clips):
        save_audio(root / f"noise_{i}.wav", (std * rng.standard_normal(int(seconds * SR))).astype(np.float32), SR,
                   subtype="FLOAT")
    return root


def test_sine_power_matches_parseval_and_the_hann_peak():
    n_fft, amp = 1024, 0.5
    k = 64  # a bin-centred frequency: no leakage between frames
    t = np.arange(4 * SR) / SR
    x = amp * np.sin(2 * math.pi * (k * SR / n_fft) * t)
    freqs, power, frames = mean_power_spectrum([x], SR, n_fft)
    assert freqs.shape == power.shape == (n_fft // 2 + 1,) and frames == (len(x) - n_fft) // (n_fft // 2) + 1
    assert freqs[k] == pytest.approx(k * SR / n_fft)
    # Parseval: the mean over all n_fft (two-sided) bins is the signal's power A^2 / 2
    two_sided = power[0] + power[-1] + 2 * power[1:-1].sum()
    assert two_sided / n_fft == pytest.approx(amp**2 / 2, rel=1e-3)
    # Hann window: |X(f0)|^2 / sum(w^2) = (A/2)^2 (sum w)^2 / sum w^2 = A^2 n_fft / 6
    assert power[k] == pytest.approx(amp**2 * n_fft / 6, rel=1e-3)


def test_white_noise_crosses_0db_at_minus_log_variance_in_every_band(tmp_path):
    std = 0.1
    result = analyze_noise(_white_folder(tmp_path / "noise", std), max_clips=8)
    expected = -math.log(std**2)
    power = 10 ** (np.asarray(result["power_db"]) / 10)
    assert np.median(power) == pytest.approx(std**2, rel=0.03)
    assert np.median(result["crossing_logsnr"]) == pytest.approx(expected, abs=0.03)
    names = [b["name"] for b in result["bands"]]
    assert names[-3:] == ["1 kHz", "2 kHz", "4 kHz"] and result["bands"][-1]["high_hz"] == SR / 2
    for band in result["bands"]:
        tolerance = 3 / math.sqrt(band["bins"] * result["frames"])  # a few standard errors of log power
        assert band["crossing_logsnr"] == pytest.approx(expected, abs=max(tolerance, 0.01)), band
    # SNR_dB(f, logsnr) = power_db + logsnr * 10/ln10 is 0 at the crossing
    for p_db, cross in zip(result["power_db"], result["crossing_logsnr"]):
        assert p_db + cross * 10 / math.log(10) == pytest.approx(0.0, abs=1e-9)
    assert result["sample_rate"] == SR and result["clips"] == 3 and result["time_sampling"] == "uniform"
    json.dumps(result, allow_nan=False)  # strict JSON: every number finite


def test_lowpass_noise_matches_the_filter_response_per_band(tmp_path):
    rng = np.random.default_rng(1)
    gain, taps = 0.3, 8
    x = gain * np.convolve(rng.standard_normal(8 * SR), np.ones(taps) / taps, mode="same")
    save_audio(tmp_path / "lp" / "a.wav", x.astype(np.float32), SR, subtype="FLOAT")
    result = analyze_noise(tmp_path / "lp")
    freqs = np.asarray(result["freqs"])
    # moving average: |H(f)|^2 = (sin(taps pi f / fs) / (taps sin(pi f / fs)))^2 (1 at f = 0)
    w = np.pi * freqs / SR
    h2 = np.ones_like(w)
    h2[1:] = (np.sin(taps * w[1:]) / (taps * np.sin(w[1:]))) ** 2
    for band in result["bands"]:
        inside = band_mask(freqs, band["low_hz"], band["high_hz"])
        expected = -math.log(gain**2 * h2[inside].mean())
        assert band["crossing_logsnr"] == pytest.approx(expected, abs=0.1 + 4 / math.sqrt(band["bins"] * result["frames"])), band
    by_name = {b["name"]: b["crossing_logsnr"] for b in result["bands"]}
    assert by_name["2 kHz"] > by_name["1 kHz"] > by_name["125 Hz"] + 2  # quiet highs drown first


def test_octave_bands_cover_the_bins_once():
    freqs = np.fft.rfftfreq(1024, 1 / 16000)
    bands = octave_bands(16000, freqs)
    covered = np.zeros_like(freqs, dtype=int)
    for band in bands:
        covered += band_mask(freqs, band["low_hz"], band["high_hz"])
    assert (covered[1:] == 1).all() and covered[0] == 0
    assert [b["name"] for b in bands][-4:] == ["1 kHz", "2 kHz", "4 kHz", "8 kHz"]


def test_weight_densities_have_unit_area_and_the_cosine_closed_form():
    sched = get_schedule("cosine")
    grid = torch.linspace(sched.logsnr_min, sched.logsnr_max, 2001, dtype=torch.float64)
    l = grid.numpy()
    curves, sampler = weight_densities(sched, grid, "uniform")
    assert set(curves) == set(WEIGHTINGS)
    for name, curve in curves.items():
        assert np.trapezoid(curve["density"], l) == pytest.approx(1.0, abs=1e-9), name
        assert (curve["density"] >= 0).all() and np.isfinite(curve["density"]).all()
    # cosine: t = (u(l) - u0) / (u1 - u0), u(l) = (2/pi) atan(exp(-l/2)), |du/dl| = sech(l/2) / (2 pi)
    u = lambda v: 2 / math.pi * math.atan(math.exp(-v / 2))  # noqa: E731
    span = u(sched.logsnr_min) - u(sched.logsnr_max)
    closed = 1 / np.cosh(l / 2) / (2 * math.pi * span)
    np.testing.assert_allclose(sampler["q"], closed, rtol=1e-6)
    # lambda = 1: the density is |dt/dl| itself, whose area over the full range is exactly 1
    np.testing.assert_allclose(curves["eps"]["density"], closed, rtol=1e-5)
    assert curves["eps"]["mean_weight"] == pytest.approx(1.0, abs=1e-5)
    # min_snr: min(1, gamma e^-l) |dt/dl|, renormalised; elbo: -1/2 dl/dt * |dt/dl| = 1/2 (flat)
    ms = np.minimum(1.0, 5.0 * np.exp(-l)) * closed
    np.testing.assert_allclose(curves["min_snr"]["density"], ms / np.trapezoid(ms, l), rtol=1e-5)
    np.testing.assert_allclose(curves["elbo"]["lambda"] * sampler["q"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(curves["elbo"]["density"], 1 / (l[-1] - l[0]), rtol=1e-6)


def test_lognormal_time_sampling_uses_the_gaussian_over_logsnr():
    sched = get_schedule("edm")
    grid = torch.linspace(sched.logsnr_min, sched.logsnr_max, 801, dtype=torch.float64)
    curves, sampler = weight_densities(sched, grid, "lognormal", {"eps": {}})
    l = grid.numpy()
    gauss = np.exp(-0.5 * ((l - 2.4) / 2.4) ** 2)  # ln sigma ~ N(-1.2, 1.2^2) -> logsnr ~ N(2.4, 2.4^2)
    np.testing.assert_allclose(curves["eps"]["density"], gauss / np.trapezoid(gauss, l), rtol=1e-6)
    assert "lognormal" in sampler["assumption"] and "clamped" in sampler["assumption"]
    with pytest.raises(ValueError, match="time sampling"):
        weight_densities(sched, grid, "beta")


def test_recipe_settings_are_used_and_marked(tmp_path):
    data = _white_folder(tmp_path / "corpus", 0.05, clips=12, seconds=0.25)  # the train split: most of them
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: noisy\ndata: {{corpus: folder, root: {tmp_path / 'elsewhere'}, sample_rate: 4000}}\n"
                      "diffusion: {schedule: {name: edm}, weighting: {name: sigmoid, bias: -1.0}, time_sampling: lognormal}\n")
    result = analyze_noise(data, config=recipe, max_clips=2)  # --data replaces the recipe's root
    assert result["sample_rate"] == 4000 and result["clips"] == 2 and result["recipe"] == "noisy"
    assert result["recipe_weighting"] == {"name": "sigmoid", "bias": -1.0}
    assert result["weights"]["sigmoid"]["params"] == {"bias": -1.0} and result["weights"]["min_snr"]["params"] == {"gamma": 5.0}
    assert result["schedule"]["name"] == "edm" and result["time_sampling"] == "lognormal"
    assert result["logsnr"][0] == pytest.approx(-2 * math.log(80.0)) and any("lognormal" in a for a in result["assumptions"])


def test_errors_name_the_folder_and_skip_corrupt_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*no audio files.*--data"):
        analyze_noise(tmp_path / "empty")
    with pytest.raises(ValueError, match="no such folder"):
        analyze_noise(tmp_path / "missing")
    bad = tmp_path / "mixed"
    _white_folder(bad, 0.1, clips=1, seconds=0.5)
    (bad / "broken.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.warns(UserWarning, match="skipped 1 file"):
        result = analyze_noise(bad)
    assert result["clips"] == 1 and result["clip_ids"] == ["noise_0.wav"]
    (bad / "noise_0.wav").unlink()
    with pytest.raises(AudioError, match="mixed: none of the 1 audio file"):
        analyze_noise(bad)
    with pytest.raises(AudioError, match="none of the 1 file"), pytest.warns(UserWarning, match="skipped 1 file"):
        analyze_noise(bad, sample_rate=SR)  # past the header check: decoding fails too


def test_cli_writes_json_and_png(tmp_path, capsys):
    data = _white_folder(tmp_path / "clips", 0.1, clips=2, seconds=0.5)
    out = tmp_path / "out"
    assert main(["analyze-noise", "--data", str(data), "--out", str(out), "--max-clips", "2", "--n-fft", "256"]) == 0
    result = json.loads((out / "noise_analysis.json").read_text())
    assert len(result["freqs"]) == 129 and result["n_fft"] == 256 and set(result["weights"]) == set(WEIGHTINGS)
    png = (out / "noise_analysis.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    printed = capsys.readouterr().out
    assert "octave band" in printed
    scale = re.search(r"diffusion.data_scale for unit-RMS x_0: ([0-9.]+) \(pre_emphasis 0\)", printed)
    assert scale and float(scale.group(1)) == pytest.approx(10.0, rel=0.05)  # white noise of std 0.1
    assert main(["analyze-noise", "--data", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "wavediff: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze-noise", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_the_recipe_data_transform_is_what_the_spectra_show(tmp_path):
    """With ``data_scale`` the analysed x_0 of white noise of std 0.05 has unit power
    (crossing logsnr 0); pre-emphasis tilts it by |1 - c e^{-iw}|^2; the suggested scales
    give unit RMS."""
    data = _white_folder(tmp_path / "corpus", 0.05, clips=12, seconds=0.25)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: scaled\ndata: {corpus: folder, sample_rate: 8000}\n"
                      "diffusion: {data_scale: 20.0, pre_emphasis: 0.0}\n")
    result = analyze_noise(data, config=recipe, max_clips=12)
    assert result["data_transform"] == {"data_scale": 20.0, "pre_emphasis": 0.0}
    assert np.median(result["crossing_logsnr"]) == pytest.approx(0.0, abs=0.1)
    assert result["suggested_data_scale"]["0"] == pytest.approx(20.0, rel=0.03)
    assert set(result["suggested_data_scale"]) == {"0", "0.9", "0.95"}
    recipe.write_text("name: tilted\ndata: {corpus: folder, sample_rate: 8000}\n"
                      "diffusion: {data_scale: 20.0, pre_emphasis: 0.9}\n")
    tilted = analyze_noise(data, config=recipe, max_clips=12)
    freqs = np.asarray(tilted["freqs"])
    w = 2 * math.pi * freqs / SR
    expected = -np.log(np.abs(1 - 0.9 * np.exp(-1j * w)) ** 2)  # unit white noise through the pre-emphasis
    inner = (freqs > 200) & (freqs < 3800)
    assert np.median(np.abs(np.asarray(tilted["crossing_logsnr"])[inner] - expected[inner])) < 0.15
