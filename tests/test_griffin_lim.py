"""Griffin-Lim mel inversion, the baseline row of every vocoder report."""

from __future__ import annotations

import math

import pytest
import torch

from wavediff.audio.griffin_lim import griffin_lim, mel_to_magnitude
from wavediff.audio.mel import MelConfig, log_mel, mel_filters, mel_spectrogram
from wavediff.audio.metrics import mrstft_distance

SR = 16000


def _voiced(seconds: float = 1.0) -> torch.Tensor:
    """A vowel-like test signal: 140 Hz harmonics under a formant envelope, with a fade, over
    a -50 dB noise floor (so that no bin is digital silence, which log distances magnify)."""
    t = torch.arange(int(seconds * SR)) / SR
    x = sum(math.exp(-((k * 140 - 700) / 600) ** 2) * torch.sin(2 * math.pi * k * 140 * t + k) for k in range(1, 40))
    floor = 0.003 * torch.randn(t.shape, generator=torch.Generator().manual_seed(0))
    return (0.3 * x / x.abs().max() * torch.clamp(t * 10, max=1.0) + floor)[None]


@pytest.mark.parametrize("preset", ["hifigan", "diffwave"])
def test_magnitude_reproduces_the_mel(preset):
    cfg = MelConfig.preset(preset, sample_rate=SR, fmax=8000.0)
    audio = _voiced()
    mag = mel_to_magnitude(log_mel(audio, cfg), cfg)
    assert mag.shape == (1, cfg.n_fft // 2 + 1, cfg.num_frames(audio.shape[-1])) and float(mag.min()) >= 0
    window = torch.hann_window(cfg.win_length, dtype=torch.float64)
    _, fbank = mel_filters(cfg)
    scale = cfg.stft_scale()
    rebuilt = (fbank.float() @ (mag / scale) ** cfg.power)
    target = mel_spectrogram(audio, cfg)
    loud = target > 1e-3 * target.max()
    assert float(((rebuilt - target).abs()[loud] / target[loud]).median()) < 0.05
    del window


@pytest.mark.parametrize("preset", ["hifigan", "diffwave"])
def test_griffin_lim_reconstructs_up_to_phase_and_iterations_help(preset):
    cfg = MelConfig.preset(preset, sample_rate=SR, fmax=8000.0)
    audio = _voiced()
    features = log_mel(audio, cfg)
    out = griffin_lim(features, cfg, length=audio.shape[-1])
    assert out.shape == audio.shape
    good = float(mrstft_distance(out, audio))
    random_phase = float(mrstft_distance(griffin_lim(features, cfg, length=audio.shape[-1], iterations=0), audio))
    assert good < 1.3 and good < 0.75 * random_phase, (good, random_phase)
    # level: the reconstruction has the original's energy (within 1.5 dB)
    assert abs(10 * math.log10(float(out.pow(2).mean() / audio.pow(2).mean()))) < 1.5
    # deterministic for a seed, different for another
    assert torch.equal(out, griffin_lim(features, cfg, length=audio.shape[-1]))
    assert not torch.equal(out, griffin_lim(features, cfg, length=audio.shape[-1], seed=1))


def test_bad_input_is_refused():
    cfg = MelConfig.preset("hifigan", sample_rate=SR, fmax=8000.0)
    with pytest.raises(ValueError, match="80"):
        griffin_lim(torch.zeros(1, 64, 10), cfg)
    with pytest.raises(ValueError, match="iterations"):
        griffin_lim(torch.zeros(1, 80, 10), cfg, iterations=-1)


def test_griffin_lim_from_the_true_magnitude_is_the_upper_bound_of_mel_inversion():
    """What a mel vocoder could reach with a perfect magnitude: Griffin-Lim from the clip's own
    STFT magnitude reproduces it far better than from the least-squares inversion of its mel."""
    from wavediff.audio.griffin_lim import griffin_lim_magnitude, mel_to_magnitude, stft_magnitude

    cfg = MelConfig.preset("hifigan", sample_rate=16000, fmax=8000.0)
    t = torch.arange(16000) / 16000
    audio = sum(torch.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 40))[None] * 0.05
    features = log_mel(audio, cfg)
    true = stft_magnitude(audio, cfg)
    assert true.shape == mel_to_magnitude(features, cfg).shape
    assert torch.equal(griffin_lim(features, cfg, length=16000),
                       griffin_lim_magnitude(mel_to_magnitude(features, cfg), cfg, length=16000))

    def convergence(x: torch.Tensor) -> float:
        return float((stft_magnitude(x, cfg) - true).norm() / true.norm())

    from_mel = convergence(griffin_lim(features, cfg, length=16000))
    from_true = convergence(griffin_lim_magnitude(true, cfg, length=16000))
    assert from_true < 0.5 * from_mel, (from_true, from_mel)
    with pytest.raises(ValueError, match="magnitude of shape"):
        griffin_lim_magnitude(features, cfg)
