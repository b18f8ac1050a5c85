"""Audio file I/O and resampling: round trips, channel handling, levels, trimming and
an AudioError naming file, problem and fix for every failure."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from wavediff.audio import (
    AudioError,
    ClippingWarning,
    audio_info,
    check_waveform,
    load_audio,
    resample,
    resampled_length,
    rms_db,
    save_audio,
)
from wavediff.audio import io as audio_io

SR = 22050


def sine(freq: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def dominant_frequency(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    k = int(spec.argmax())
    # parabolic interpolation of the log spectrum around the peak
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * sr / x.size


def assert_audio_error(excinfo, path, *needles):
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    assert os.path.basename(str(path)) in msg, msg
    for needle in needles:
        assert needle.lower() in msg.lower(), f"{needle!r} not in {msg!r}"


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize(
    "name, subtype, tol",
    [("x.wav", "PCM_16", 1.0 / 32768), ("x.flac", "PCM_24", 1.0 / 2**23), ("x.wav", "FLOAT", 0.0)],
)
def test_stereo_round_trip(tmp_path, name, subtype, tol):
    left, right = sine(440.0, 0.5), sine(660.0, 0.5, amp=0.3)
    stereo = torch.from_numpy(np.stack([left, right]))
    path = save_audio(tmp_path / name, stereo, SR, subtype=subtype)
    assert audio_info(path) == (SR, left.size, 2)
    audio, sr = load_audio(path, mono=None)
    assert sr == SR and audio.dtype == torch.float32 and audio.shape == (2, left.size)
    assert audio.is_contiguous()
    assert (audio - stereo).abs().max() <= tol + 1e-7
    assert sf.info(str(path)).subtype == subtype


def test_one_dimensional_input_and_numpy_arrays(tmp_path):
    x = sine(300.0, 0.2)
    save_audio(tmp_path / "a.wav", x, SR)
    save_audio(tmp_path / "b.flac", torch.from_numpy(x), 16000)
    a, sr_a = load_audio(tmp_path / "a.wav", mono=None)
    b, sr_b = load_audio(tmp_path / "b.flac", mono=None)
    assert a.shape == b.shape == (1, x.size) and (sr_a, sr_b) == (SR, 16000)


def test_reads_ogg_vorbis(tmp_path):
    x = np.stack([sine(440.0, 1.0), sine(440.0, 1.0)]).T
    sf.write(str(tmp_path / "v.ogg"), x, SR, format="OGG", subtype="VORBIS")
    audio, sr = load_audio(tmp_path / "v.ogg", mono=None)
    assert sr == SR and audio.shape[0] == 2 and abs(audio.shape[1] - x.shape[0]) < 2048
    assert dominant_frequency(audio[0].numpy(), sr) == pytest.approx(440.0, abs=1.0)


def test_mono_mix_and_channel_pick(tmp_path):
    left, right = sine(440.0, 0.3, amp=0.6), sine(550.0, 0.3, amp=0.2)
    path = save_audio(tmp_path / "st.wav", np.stack([left, right]), SR, subtype="FLOAT")
    mix, _ = load_audio(path)  # default mono="mix"
    assert mix.shape == (1, left.size)
    np.testing.assert_allclose(mix[0].numpy(), (left + right) / 2, atol=1e-7)
    pick, _ = load_audio(path, mono=1)
    np.testing.assert_allclose(pick[0].numpy(), right, atol=0)
    last, _ = load_audio(path, mono=-1)
    assert torch.equal(last, pick)
    first, _ = load_audio(path, mono=0)
    np.testing.assert_allclose(first[0].numpy(), left, atol=0)
    with pytest.raises(AudioError) as info:
        load_audio(path, mono=2)
    assert_audio_error(info, path, "channel 2", "2 channel", "0..1")


def test_resample_on_load(tmp_path):
    x = sine(440.0, 1.0)
    path = save_audio(tmp_path / "s.wav", x, SR, subtype="FLOAT")
    audio, sr = load_audio(path, sample_rate=16000)
    assert sr == 16000 and audio.shape == (1, round(x.size * 16000 / SR))
    core = audio[0, 1000:-1000].numpy()
    assert dominant_frequency(core, sr) == pytest.approx(440.0, abs=0.2)
    assert np.abs(core).max() == pytest.approx(0.5, abs=2e-3)
    same, sr_same = load_audio(path, sample_rate=SR)
    assert sr_same == SR and torch.equal(same[0], torch.from_numpy(x))


# ------------------------------------------------------------------ levels
def test_peak_normalisation(tmp_path):
    path = save_audio(tmp_path / "p.wav", np.stack([sine(200, 0.3, amp=0.1), sine(300, 0.3, amp=0.3)]), SR)
    audio, _ = load_audio(path, mono=None, normalize="peak")
    assert audio.abs().max().item() == pytest.approx(0.95, abs=1e-6)
    # the ratio between channels is kept
    assert audio[0].abs().max() / audio[1].abs().max() == pytest.approx(1 / 3, rel=1e-3)
    audio, _ = load_audio(path, normalize="peak", target_peak=0.5)
    assert audio.abs().max().item() == pytest.approx(0.5, abs=1e-6)


def test_loudness_normalisation(tmp_path):
    assert rms_db(torch.from_numpy(sine(1000.0, 1.0, amp=1.0))) == pytest.approx(-3.0103, abs=1e-3)
    noise = (np.random.default_rng(0).standard_normal(SR) * 0.01).astype(np.float32)
    path = save_audio(tmp_path / "n.wav", noise, SR, subtype="FLOAT")
    audio, _ = load_audio(path, normalize="loudness")
    assert rms_db(audio) == pytest.approx(-20.0, abs=1e-3)
    audio, _ = load_audio(path, normalize="loudness", target_rms_db=-30.0)
    assert rms_db(audio) == pytest.approx(-30.0, abs=1e-3)


def test_loudness_gain_is_capped_at_full_scale_with_warning(tmp_path):
    clicks = np.zeros(SR, np.float32)
    clicks[::5000] = 0.5  # very high crest factor: -20 dBFS RMS would need a peak > 1
    path = save_audio(tmp_path / "c.wav", clicks, SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match="gain limited"):
        audio, _ = load_audio(path, normalize="loudness")
    assert audio.abs().max().item() == pytest.approx(1.0, abs=1e-6)


def test_silent_file_is_not_normalised(tmp_path):
    path = save_audio(tmp_path / "z.wav", np.zeros(1000, np.float32), SR)
    with pytest.warns(UserWarning, match="silent"):
        audio, _ = load_audio(path, normalize="peak")
    assert torch.equal(audio, torch.zeros(1, 1000))


# ------------------------------------------------------------------ trimming
def test_trim_leading_and_trailing_silence(tmp_path):
    rng = np.random.default_rng(0)
    burst = (rng.choice([-1.0, 1.0], 2000) * rng.uniform(0.3, 0.5, 2000)).astype(np.float32)
    hiss = (rng.standard_normal(3500) * 1e-4).astype(np.float32)  # about -80 dB re peak
    x = np.concatenate([hiss[:1000], burst, hiss[1000:]])
    right = 0.5 * x
    right[800:1000] = 0.3  # the right channel starts 200 samples earlier: trimming spans both
    path = save_audio(tmp_path / "t.wav", np.stack([x, right]), SR, subtype="FLOAT")
    audio, _ = load_audio(path, mono=None, trim_silence_db=40)
    assert audio.shape == (2, 2200)
    np.testing.assert_array_equal(audio[0, 200:].numpy(), burst)
    np.testing.assert_array_equal(audio[1].numpy(), right[800:3000])
    same, _ = load_audio(path, mono=None, trim_silence_db=-40)  # sign ignored
    assert torch.equal(same, audio)
    # a threshold below the hiss keeps (nearly) everything
    loose, _ = load_audio(path, trim_silence_db=120)
    assert loose.shape[-1] > 5000


def test_trimming_digital_silence_to_nothing_is_an_error(tmp_path):
    path = save_audio(tmp_path / "silence.wav", np.zeros(4000, np.float32), SR)
    with pytest.raises(AudioError) as info:
        load_audio(path, trim_silence_db=60)
    assert_audio_error(info, path, "nothing is left after trimming", "lower the threshold", "trim_silence_db=None")


# ------------------------------------------------------------------ errors
def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "missing_clip.wav"
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert_audio_error(info, path, "file not found", "check the path")
    with pytest.raises(AudioError) as info:
        audio_info(path)
    assert_audio_error(info, path, "file not found")


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "clips.wav"
    folder.mkdir()
    with pytest.raises(AudioError) as info:
        load_audio(folder)
    assert_audio_error(info, folder, "directory")


def test_corrupt_file(tmp_path):
    path = tmp_path / "broken_take.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(200))
    for fn in (load_audio, audio_info):
        with pytest.raises(AudioError) as info:
            fn(path)
        assert_audio_error(info, path, "corrupt", "re-export")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "zero_bytes.flac"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert_audio_error(info, path, "empty (0 bytes)")


def test_wav_with_no_samples(tmp_path):
    path = tmp_path / "no_frames.wav"
    sf.write(str(path), np.zeros((0, 2), np.float32), SR)
    assert audio_info(path) == (SR, 0, 2)  # info reports it; loading refuses it
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert_audio_error(info, path, "no audio (0 samples")


def test_nan_samples(tmp_path):
    x = sine(440.0, 0.1)
    x[321] = np.nan
    x[500] = np.inf
    path = tmp_path / "diverged.wav"
    sf.write(str(path), x, SR, subtype="FLOAT")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert_audio_error(info, path, "2 NaN/inf", "sample 321", "regenerate")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "song.xyz"
    path.write_bytes(b"\x00" * 100)
    for fn in (load_audio, audio_info):
        with pytest.raises(AudioError) as info:
            fn(path)
        assert_audio_error(info, path, "unsupported audio format '.xyz'", ".aif, .aiff, .flac, .mp3, .ogg, .wav", "convert")
    with pytest.raises(AudioError) as info:
        save_audio(tmp_path / "out.mp3", np.zeros(10, np.float32), SR)
    assert_audio_error(info, "out.mp3", "unsupported", ".flac, .wav")


def test_bad_arguments_are_value_errors(tmp_path):
    path = save_audio(tmp_path / "a.wav", sine(100, 0.1), SR)
    with pytest.raises(ValueError, match="normalize"):
        load_audio(path, normalize="lufs")
    with pytest.raises(ValueError, match="mono"):
        load_audio(path, mono="left")


# ------------------------------------------------------------------ saving
def test_save_clips_with_a_warning(tmp_path):
    x = np.array([0.0, 0.5, 1.5, -2.0, -0.25], np.float32)
    with pytest.warns(ClippingWarning, match="2 of 5 samples"):
        path = save_audio(tmp_path / "c.wav", x, SR, subtype="FLOAT")
    audio, _ = load_audio(path)
    np.testing.assert_array_equal(audio[0].numpy(), [0.0, 0.5, 1.0, -1.0, -0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in-range audio must not warn
        save_audio(tmp_path / "ok.wav", x.clip(-1, 1), SR)


def test_save_refuses_bad_shapes_and_values(tmp_path):
    with pytest.raises(AudioError, match=r"\(samples, channels\).*audio\.T"):
        save_audio(tmp_path / "t.wav", np.zeros((1000, 2), np.float32), SR)
    with pytest.raises(AudioError, match="audio\\[0\\]"):
        save_audio(tmp_path / "b.wav", torch.zeros(2, 1, 100), SR)
    with pytest.raises(AudioError, match="NaN"):
        save_audio(tmp_path / "n.wav", torch.tensor([0.0, float("nan")]), SR)
    with pytest.raises(AudioError, match="FLOAT.*FLAC"):
        save_audio(tmp_path / "f.flac", torch.zeros(10), SR, subtype="FLOAT")
    assert not any(tmp_path.iterdir())


def test_save_is_atomic(tmp_path, monkeypatch):
    path = save_audio(tmp_path / "take.wav", sine(440, 0.1), SR)
    before = path.read_bytes()

    def failing_write(file, *args, **kwargs):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(audio_io.sf, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        save_audio(path, sine(880, 0.2), SR)
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]  # no temp left over


def test_save_creates_folders_and_overwrites(tmp_path):
    path = tmp_path / "a" / "b" / "c.wav"
    save_audio(path, sine(440, 0.1), SR)
    save_audio(path, sine(440, 0.2, sr=16000), 16000)
    assert audio_info(path) == (16000, 3200, 1)
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.wav"]


def test_check_waveform():
    x = torch.zeros(2, 1, 100)
    assert check_waveform(x, "batch", ndim=3) is x
    with pytest.raises(AudioError, match=r"batch: expected a 3-D .* got shape \(1, 100\)"):
        check_waveform(torch.zeros(1, 100), "batch", ndim=3)
    bad = torch.zeros(2, 1, 100)
    bad[1, 0, 7] = float("inf")
    with pytest.raises(AudioError, match=r"x_t: waveform contains 1 NaN/inf value\(s\) \(first at index \(1, 0, 7\)\)"):
        check_waveform(bad, "x_t")
    with pytest.raises(AudioError, match="floating-point"):
        check_waveform(torch.zeros(10, dtype=torch.int16))


# ------------------------------------------------------------------ resampling
def test_resample_round_trip_keeps_frequency_and_amplitude():
    x = torch.from_numpy(sine(1234.5, 2.0, amp=0.7, phase=0.3))
    down = resample(x, SR, 16000)
    assert down.shape == (round(x.numel() * 16000 / SR),) and down.dtype == torch.float32
    back = resample(down, 16000, SR)
    assert back.shape == (round(down.numel() * SR / 16000),)
    assert back.numel() == x.numel()
    edge = 2000
    core_x, core_b = x[edge:-edge].numpy(), back[edge:-edge].numpy()
    assert dominant_frequency(core_b, SR) == pytest.approx(1234.5, abs=0.05)
    assert np.abs(core_b).max() == pytest.approx(0.7, rel=2e-3)
    # no delay either: the round trip is sample-aligned with the original
    assert np.abs(core_b - core_x).max() < 5e-3
    assert dominant_frequency(down[1500:-1500].numpy(), 16000) == pytest.approx(1234.5, abs=0.05)


@pytest.mark.parametrize("n", [1, 7, 999, 22050, 22051, 12345])
def test_resampled_length(n):
    for a, b in [(22050, 16000), (16000, 22050), (44100, 22050), (48000, 22050)]:
        expected = math.floor(n * b / a + 0.5)
        assert resampled_length(n, a, b) == expected
        assert resample(torch.zeros(n), a, b).shape == (expected,)


def test_resample_batched_shapes_dtype_and_identity():
    x = torch.randn(2, 3, 4410, dtype=torch.float64) * 0.1
    y = resample(x, 44100, 16000, quality="VHQ")
    assert y.shape == (2, 3, 1600) and y.dtype == torch.float32
    torch.testing.assert_close(y[1, 2], resample(x[1, 2], 44100, 16000, quality="VHQ"))
    same = resample(x, 16000, 16000)
    assert same.dtype == torch.float32 and torch.equal(same, x.float())
    with pytest.raises(ValueError, match="quality"):
        resample(x, 44100, 16000, quality="LQ")
    with pytest.raises(ValueError, match="target_sr"):
        resample(x, 44100, 0)
