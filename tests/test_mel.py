"""Mel features: agreement with librosa (and torchaudio when present), framing, presets,
config round trips, mismatch errors and log-mel conversion."""

from __future__ import annotations

import dataclasses
import json
import math

import librosa
import numpy as np
import pytest
import torch

from wavediff.audio import (
    CONVERTIBLE_FIELDS,
    MEL_PRESETS,
    AudioError,
    LogMel,
    MelConfig,
    MelConfigMismatch,
    MelSpectrogram,
    check_mel,
    compress_mel,
    convert_log_mel,
    decompress_mel,
    log_mel,
    mel_spectrogram,
)

SR = 22050
DIFFWAVE = MelConfig.preset("diffwave")
HIFIGAN = MelConfig.preset("hifigan")


def import_torchaudio_or_skip():
    """torchaudio is optional; a build without its native libraries may raise OSError."""
    try:
        import torchaudio  # noqa: F401
    except Exception as err:  # ImportError, OSError, RuntimeError from missing libs
        pytest.skip(f"torchaudio not usable here: {type(err).__name__}: {err}")
    return torchaudio


def chirp_plus_noise(seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f0, f1 = 60.0, 9000.0  # sweeps across (and past) every preset's mel range
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.6 * np.sin(phase) + 0.02 * noise).astype(np.float32)


def librosa_reference(y: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """librosa's mel spectrogram with cfg's settings, framing done the way cfg describes."""
    if cfg.center:
        y_in, center = y, True
    else:
        mode = {"reflect": "reflect", "constant": "constant", "replicate": "edge"}[cfg.pad_mode]
        y_in, center = np.pad(y, (cfg.pad, cfg.pad), mode=mode), False
    mel = librosa.feature.melspectrogram(
        y=y_in,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=center,
        pad_mode=cfg.pad_mode,
        power=cfg.power,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=cfg.mel_scale == "htk",
        norm=cfg.mel_norm,
    )
    # torchaudio's normalized=True divides the complex STFT by sqrt(sum(window^2)).
    window = librosa.filters.get_window("hann", cfg.win_length, fftbins=True)
    scale = math.sqrt(float(np.sum(window.astype(np.float64) ** 2))) if cfg.stft_normalized else 1.0
    return mel / scale**cfg.power


# --------------------------------------------------------------------- filter banks
def _hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    lin = f / (200.0 / 3.0)  # Slaney: linear below 1 kHz, logarithmic above
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0), m * 200.0 / 3.0)


def triangular_filters(cfg: MelConfig) -> np.ndarray:
    """Independent textbook construction of the mel filter bank."""
    freqs = np.linspace(0.0, cfg.sample_rate / 2.0, cfg.n_fft // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(cfg.fmin, cfg.mel_scale), _hz_to_mel(cfg.fmax, cfg.mel_scale), cfg.n_mels + 2),
        cfg.mel_scale,
    )
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    if cfg.mel_norm == "slaney":
        fb *= 2.0 / (hi - lo)
    return fb


@pytest.mark.parametrize("name", ["diffwave", "hifigan"])
def test_filter_bank_matches_librosa_and_textbook_formula(name):
    cfg = MelConfig.preset(name)
    fbank = MelSpectrogram(cfg).fbank.double().numpy()
    assert fbank.shape == (cfg.n_mels, cfg.n_fft // 2 + 1)
    ref = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
        htk=cfg.mel_scale == "htk", norm=cfg.mel_norm,
    )
    np.testing.assert_allclose(fbank, ref, rtol=1e-6, atol=1e-9)
    textbook = triangular_filters(cfg)
    np.testing.assert_allclose(fbank, textbook, rtol=1e-5, atol=1e-6 * textbook.max())
    # No band above fmax or below fmin receives weight.
    freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    outside = (freqs < cfg.fmin) | (freqs > cfg.fmax)
    assert np.all(fbank[:, outside] == 0)


# ---------------------------------------------------------------- mel vs librosa
MEL_CASES = {
    "diffwave": DIFFWAVE,
    "hifigan": HIFIGAN,
    "hifigan_power2": dataclasses.replace(HIFIGAN, power=2.0),
    "short_window_zero_pad": dataclasses.replace(
        DIFFWAVE, win_length=800, pad_mode="constant", stft_normalized=False, n_mels=64
    ),
    "16k_htk_slaney": MelConfig(
        sample_rate=16000, n_fft=512, hop_length=160, win_length=400, n_mels=40, fmin=50.0,
        fmax=7600.0, center=True, mel_scale="htk", mel_norm="slaney",
    ),
}


@pytest.mark.parametrize("case", list(MEL_CASES))
def test_mel_magnitudes_match_librosa(case):
    cfg = MEL_CASES[case]
    y = chirp_plus_noise(sr=cfg.sample_rate)
    ours = mel_spectrogram(torch.from_numpy(y), cfg).numpy()
    ref = librosa_reference(y, cfg)
    assert ours.shape == ref.shape == (cfg.n_mels, cfg.num_frames(y.size))
    # float32 FFTs: compare relative error on values above a floor 80 dB below the max
    # (power) / 80 dB below (magnitude), where rounding noise is negligible.
    floor = ref.max() * (1e-8 if cfg.power == 2.0 else 1e-4)
    mask = ref > floor
    assert mask.mean() > 0.5
    rel = np.abs(ours - ref)[mask] / ref[mask]
    assert rel.max() < 1e-4, rel.max()
    assert np.abs(ours - ref).max() < 1e-5 * ref.max()


def test_float64_input_is_computed_in_float64():
    y = torch.from_numpy(chirp_plus_noise(seconds=1.0).astype(np.float64))
    ours = mel_spectrogram(y, HIFIGAN)
    assert ours.dtype == torch.float64
    # librosa's melspectrogram keeps its filters in float32; build a float64 reference.
    cfg = HIFIGAN
    spec = np.abs(librosa.stft(np.pad(y.numpy(), cfg.pad, mode="reflect"), n_fft=cfg.n_fft,
                               hop_length=cfg.hop_length, win_length=cfg.win_length, center=False))
    fb = librosa.filters.mel(sr=SR, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
                             dtype=np.float64)
    ref = fb @ spec
    mask = ref > ref.max() * 1e-6
    assert (np.abs(ours.numpy() - ref)[mask] / ref[mask]).max() < 1e-9


def test_diffwave_stft_scale_is_sqrt_of_window_energy():
    # periodic Hann of length N: sum(w^2) = 3N/8 -> sqrt(384) for N = 1024.
    assert DIFFWAVE.stft_scale() == pytest.approx(math.sqrt(384.0), rel=1e-12)
    assert HIFIGAN.stft_scale() == 1.0
    y = torch.from_numpy(chirp_plus_noise(seconds=1.0))
    plain = dataclasses.replace(DIFFWAVE, stft_normalized=False)
    torch.testing.assert_close(
        mel_spectrogram(y, DIFFWAVE), mel_spectrogram(y, plain) / math.sqrt(384.0), rtol=1e-5, atol=1e-8
    )
    power = dataclasses.replace(DIFFWAVE, power=2.0)
    power_plain = dataclasses.replace(power, stft_normalized=False)
    torch.testing.assert_close(
        mel_spectrogram(y, power), mel_spectrogram(y, power_plain) / 384.0, rtol=1e-5, atol=1e-8
    )


def test_matches_torchaudio_for_diffwave_preset():
    torchaudio = import_torchaudio_or_skip()
    cfg = DIFFWAVE
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length,
        hop_length=cfg.hop_length, f_min=cfg.fmin, f_max=cfg.fmax, n_mels=cfg.n_mels,
        power=1.0, normalized=True, center=True, pad_mode="reflect", norm=None, mel_scale="htk",
    )
    y = torch.from_numpy(chirp_plus_noise())
    ref = transform(y)
    ours = mel_spectrogram(y, cfg)
    assert ours.shape == ref.shape
    mask = ref > ref.max() * 1e-4
    # torchaudio builds its filter bank in float32 (librosa: float64), hence 5e-4, not 1e-4
    assert ((ours - ref).abs()[mask] / ref[mask]).max() < 5e-4
    # and DiffWave's own log/normalisation on top
    dw = torch.clamp((20 * torch.log10(torch.clamp(ref, min=1e-5)) - 20 + 100) / 100, 0.0, 1.0)
    torch.testing.assert_close(log_mel(y, cfg), dw, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------ framing
LENGTHS = [1024, 1025, 5000, 12345, 22050, 22051, 256 * 40, 256 * 40 + 255, 256 * 40 + 1]


@pytest.mark.parametrize("name", ["diffwave", "hifigan"])
def test_framing_gives_num_frames(name):
    cfg = MelConfig.preset(name)
    module = LogMel(cfg)
    rng = np.random.default_rng(1)
    for T in LENGTHS:
        x = torch.from_numpy(rng.uniform(-0.5, 0.5, T).astype(np.float32))
        frames = module(x).shape[-1]
        assert frames == cfg.num_frames(T) == module.num_frames(T)
        assert frames == (T + 2 * cfg.pad - cfg.n_fft) // cfg.hop_length + 1
        # documented closed forms
        assert frames == (T // 256 + 1 if name == "diffwave" else T // 256)


def test_diffwave_framing_equals_librosa_center_framing():
    for T in (5000, 5001, 12345):
        y = np.random.default_rng(T).standard_normal(T).astype(np.float32) * 0.1
        ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=256, center=True)
        assert DIFFWAVE.num_frames(T) == ref.shape[-1]


def test_hifigan_frames_are_centred_on_hop_blocks():
    # An impulse at the middle of hop block k must give its largest (broadband) frame at k.
    T, k = 256 * 20, 7
    x = torch.zeros(T)
    x[k * 256 + 128] = 1.0
    energy = mel_spectrogram(x, HIFIGAN).sum(0)
    assert int(energy.argmax()) == k
    assert energy[k] > 10 * energy[k - 2] and energy[k] > 10 * energy[k + 2]
    # DiffWave (center=True) frames are centred on multiples of the hop.
    x = torch.zeros(T)
    x[k * 256] = 1.0
    assert int(mel_spectrogram(x, DIFFWAVE).sum(0).argmax()) == k


def test_too_short_input_raises_clear_error():
    assert HIFIGAN.min_samples == 385  # reflect padding of 384 needs more samples
    assert DIFFWAVE.min_samples == 513
    with pytest.raises(ValueError, match="at least 385"):
        HIFIGAN.num_frames(384)
    with pytest.raises(ValueError, match="at least 513"):
        log_mel(torch.zeros(512), DIFFWAVE)
    assert HIFIGAN.num_frames(385) == 1


# ------------------------------------------------------------------------ ranges
def test_feature_ranges_of_presets():
    loud = torch.sign(torch.sin(torch.arange(SR) * 2 * math.pi * 300 / SR))  # full-scale square
    quiet = torch.from_numpy(chirp_plus_noise(seconds=1.0)) * 1e-3
    silence = torch.zeros(SR)
    batch = torch.stack([loud, quiet, silence])
    dw = log_mel(batch, DIFFWAVE)
    assert dw.min() >= 0.0 and dw.max() <= 1.0
    assert dw.max() == 1.0 and dw[2].max() == 0.0  # both clamps are reached
    hg = log_mel(batch, HIFIGAN)
    floor = math.log(1e-5)
    assert hg.min() >= floor - 1e-6
    torch.testing.assert_close(hg[2], torch.full_like(hg[2], floor))
    assert hg[0].max() > 0.0  # loud input is far above the floor


def test_diffwave_normalisation_formula():
    mel = torch.tensor([1e-6, 1e-4, 1e-3, 1.0, 10.0, 100.0], dtype=torch.float64)
    out = compress_mel(mel, DIFFWAVE)
    # db = 20*log10(mel) - 20 ; (db + 100) / 100 clamped to [0, 1]
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 0.2, 0.8, 1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(compress_mel(mel, HIFIGAN), torch.log(mel.clamp(min=1e-5)))


def test_decompress_inverts_compress_above_floors():
    mel = torch.logspace(-3.9, 0.9, 50, dtype=torch.float64)  # inside DiffWave's unclamped range
    for cfg in (DIFFWAVE, HIFIGAN):
        torch.testing.assert_close(decompress_mel(compress_mel(mel, cfg), cfg), mel, rtol=1e-12, atol=0)


# -------------------------------------------------------------- modules and autograd
def test_batched_input_matches_single_items_and_module_matches_function():
    x = torch.from_numpy(np.stack([chirp_plus_noise(1.0, seed=s) for s in range(6)])).reshape(3, 2, -1)
    module = LogMel(HIFIGAN)
    out = module(x)
    assert out.shape == (3, 2, 80, HIFIGAN.num_frames(x.shape[-1]))
    torch.testing.assert_close(out[1, 0], log_mel(x[1, 0], HIFIGAN), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, log_mel(x, HIFIGAN))
    # derived buffers are not saved: the config is what a checkpoint stores
    assert module.state_dict() == {}


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_gradcheck_small_config(power):
    cfg = MelConfig(
        sample_rate=8000, n_fft=64, hop_length=16, win_length=48, n_mels=8, fmin=0.0, fmax=4000.0,
        power=power, center=False,
    )
    x = (torch.randn(2, 160, dtype=torch.float64) * 0.3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: mel_spectrogram(a, cfg), (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradient_is_finite_through_silence():
    x = torch.zeros(2, 4000)
    x[0, 1000:2000] = torch.randn(1000) * 0.1  # sound in one item, digital silence elsewhere
    x.requires_grad_()
    for cfg in (DIFFWAVE, HIFIGAN):
        x.grad = None
        loss = (LogMel(cfg)(x) - 0.5).abs().mean()
        loss.backward()
        assert torch.isfinite(x.grad).all() and x.grad[0].abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = torch.from_numpy(chirp_plus_noise(1.0)).reshape(1, 1, -1)
    for cfg in (DIFFWAVE, HIFIGAN):
        cpu = LogMel(cfg)(x)
        gpu = LogMel(cfg).cuda()(x.cuda())
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(log_mel(x.cuda(), cfg).cpu(), cpu, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ input checks
def test_nan_audio_is_refused():
    x = torch.zeros(2, 4000)
    x[1, 123] = float("nan")
    with pytest.raises(AudioError, match="NaN"):
        LogMel(HIFIGAN)(x)
    with pytest.raises(AudioError, match="NaN"):
        log_mel(x, DIFFWAVE)


def test_check_mel_refuses_wrong_n_mels_and_foreign_conventions():
    y = torch.from_numpy(chirp_plus_noise(1.0))
    good = log_mel(y, HIFIGAN)
    assert check_mel(good, HIFIGAN) is good
    with pytest.raises(MelConfigMismatch, match=r"128 mel bins.*n_mels=80"):
        check_mel(torch.zeros(1, 128, 10), HIFIGAN)
    with pytest.raises(MelConfigMismatch, match="transpose"):
        check_mel(good.T.contiguous(), HIFIGAN)
    # natural-log HiFi-GAN features fed where DiffWave [0, 1] features are expected
    with pytest.raises(MelConfigMismatch, match=r"\[0, 1\]"):
        check_mel(good, DIFFWAVE)
    with pytest.raises(ValueError, match="NaN"):
        check_mel(torch.full((80, 3), float("nan")), HIFIGAN)


# -------------------------------------------------------------------- MelConfig
def test_presets_have_the_documented_values():
    assert set(MEL_PRESETS) == {"diffwave", "hifigan"}
    common = dict(sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, fmax=8000.0, power=1.0)
    for cfg in (DIFFWAVE, HIFIGAN):
        for key, value in common.items():
            assert getattr(cfg, key) == value
    assert (DIFFWAVE.fmin, DIFFWAVE.log, DIFFWAVE.normalisation, DIFFWAVE.center) == (20.0, "log10", "diffwave", True)
    assert DIFFWAVE.stft_normalized and DIFFWAVE.mel_scale == "htk" and DIFFWAVE.mel_norm is None
    assert (HIFIGAN.fmin, HIFIGAN.log, HIFIGAN.normalisation, HIFIGAN.center) == (0.0, "ln", "none", False)
    assert HIFIGAN.pad == 384 and HIFIGAN.mel_scale == "slaney" and HIFIGAN.mel_norm == "slaney"
    assert MelConfig() == HIFIGAN
    assert MelConfig.preset("hifigan", hop_length=200).pad == (1024 - 200) // 2
    with pytest.raises(ValueError, match="unknown mel preset 'nope'"):
        MelConfig.preset("nope")


def test_dict_round_trip_and_unknown_keys():
    for cfg in (DIFFWAVE, HIFIGAN, MEL_CASES["16k_htk_slaney"]):
        d = json.loads(json.dumps(cfg.to_dict()))
        back = MelConfig.from_dict(d)
        assert back == cfg and hash(back) == hash(cfg)
    d = DIFFWAVE.to_dict() | {"hop_size": 256, "sampling_rate": 1}
    with pytest.raises(ValueError, match=r"unknown MelConfig key\(s\): \['hop_size', 'sampling_rate'\]"):
        MelConfig.from_dict(d)
    partial = {k: v for k, v in HIFIGAN.to_dict().items() if k != "log_floor"}
    with pytest.raises(ValueError, match="log_floor"):
        MelConfig.from_dict(partial)
    assert MelConfig.from_dict(partial, allow_missing=True) == HIFIGAN


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(win_length=2048), "win_length"),
        (dict(fmax=12000.0), "fmax"),
        (dict(power=1.5), "power"),
        (dict(log="log2"), "log"),
        (dict(normalisation="diffwave"), "log10"),  # hifigan has log='ln'
        (dict(center=True, frame_pad=10), "frame_pad"),
        (dict(hop_length=256.5), "integer"),
    ],
)
def test_invalid_configs_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(HIFIGAN, **bad)


def test_mismatch_lists_every_differing_field():
    other = dataclasses.replace(HIFIGAN, hop_length=200, n_mels=100)
    assert HIFIGAN.describe_difference(other) == [
        "hop_length: 256 (checkpoint) vs 200 (input)",
        "n_mels: 80 (checkpoint) vs 100 (input)",
    ]
    assert HIFIGAN.describe_difference(HIFIGAN) == []
    HIFIGAN.require_same(MelConfig.from_dict(HIFIGAN.to_dict()))  # equal: no error
    with pytest.raises(MelConfigMismatch) as info:
        HIFIGAN.require_same(DIFFWAVE, what="conditioning mel")
    msg = str(info.value)
    expected = [f.name for f in dataclasses.fields(MelConfig) if getattr(HIFIGAN, f.name) != getattr(DIFFWAVE, f.name)]
    assert expected == ["fmin", "center", "stft_normalized", "mel_scale", "mel_norm", "log", "normalisation"]
    assert len(info.value.differences) == len(expected)
    for name in expected:
        assert f"\n  {name}: " in msg
    assert "fmin: 0.0 (checkpoint) vs 20.0 (input)" in msg
    assert "conditioning mel" in msg and "Fix:" in msg and "LogMel" in msg
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------- conversion
DIFFWAVE_STFT_NATURAL_LOG = dataclasses.replace(DIFFWAVE, log="ln", normalisation="none", stft_normalized=False)


def test_convert_diffwave_to_natural_log_and_back():
    src, dst = DIFFWAVE, DIFFWAVE_STFT_NATURAL_LOG
    y = torch.from_numpy(chirp_plus_noise()) * 0.3
    y[-SR // 2 :] = 0.0  # digital silence: DiffWave features hit their lower clamp there
    a, b = log_mel(y, src), log_mel(y, dst)
    unclamped = (a > 1e-3) & (a < 1 - 1e-3)
    assert unclamped.float().mean() > 0.5
    a2b = convert_log_mel(a, src, dst)
    torch.testing.assert_close(a2b[unclamped], b[unclamped], rtol=0, atol=2e-4)
    b2a = convert_log_mel(b, dst, src)
    torch.testing.assert_close(b2a[unclamped], a[unclamped], rtol=0, atol=1e-5)
    # DiffWave's lower clamp (mel 1e-4 after the 1/sqrt(384) scale) maps to ln(1e-4 * sqrt(384))
    assert a2b[a == 0].min() >= math.log(1e-4 * math.sqrt(384.0)) - 1e-4
    # round trip is the identity on unclamped values
    torch.testing.assert_close(convert_log_mel(a2b, dst, src)[unclamped], a[unclamped], rtol=0, atol=1e-6)


def test_convert_only_log_base_between_hifigan_variants():
    log10_cfg = dataclasses.replace(HIFIGAN, log="log10")
    y = torch.from_numpy(chirp_plus_noise(1.0))
    ln, l10 = log_mel(y, HIFIGAN), log_mel(y, log10_cfg)
    torch.testing.assert_close(convert_log_mel(ln, HIFIGAN, log10_cfg), l10, rtol=0, atol=1e-5)
    torch.testing.assert_close(convert_log_mel(ln, HIFIGAN, HIFIGAN), ln, rtol=0, atol=1e-6)


def test_convert_between_different_spectra_is_refused():
    assert CONVERTIBLE_FIELDS == {"log", "log_floor", "normalisation", "stft_normalized"}
    mel = log_mel(torch.from_numpy(chirp_plus_noise(1.0)), DIFFWAVE)
    with pytest.raises(MelConfigMismatch) as info:
        convert_log_mel(mel, DIFFWAVE, HIFIGAN)
    msg = str(info.value)
    for field in ("fmin", "center", "mel_scale", "mel_norm"):
        assert f"{field}: " in msg
    assert "log:" not in msg  # convertible fields are not blamed
    with pytest.raises(MelConfigMismatch, match="hop_length: 256 .* vs 200"):
        convert_log_mel(mel, DIFFWAVE, dataclasses.replace(DIFFWAVE, hop_length=200))
    with pytest.raises(MelConfigMismatch, match="n_mels=80"):
        convert_log_mel(mel[:64], DIFFWAVE, DIFFWAVE_STFT_NATURAL_LOG)
