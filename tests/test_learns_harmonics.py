"""A short CPU training of the speech vocoder makes voiced harmonics from a mel.

Between 1.5 and 4 kHz the 80-bin mel's bands are wider than the spacing of a voice's
harmonics, so the mel no longer says where they are: Griffin-Lim on the least-squares
magnitude (and the untrained spectral vocoder, whose prior is that magnitude) fills the
band with partials between the harmonics. The learned prior of the ``demo-vocoder``
recipe learns them back from the resolved low harmonics. Data: synthetic vowels (random
pitch 100-250 Hz with vibrato, random formants); the test vowel's pitch and formants were
never seen in training. Measured (150 steps, 1 thread): harmonic share of the band 0.98 in
the original, 0.74 after Griffin-Lim, 0.74 untrained, 0.87 trained."""

from __future__ import annotations

import math

import torch

from wavediff.audio.griffin_lim import griffin_lim
from wavediff.audio.mel import log_mel
from wavediff.diffusion import Denoiser, diffusion_loss, get_schedule, sample

SR = 16000


def vowel(f0: float, f1: float, f2: float, seed: int, seconds: float = 0.5) -> torch.Tensor:
    """Harmonics of ``f0`` (1 % vibrato) under formant peaks ``f1``, ``f2``; RMS 0.1, ``(T,)``."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(SR * seconds)) / SR
    phase = 2 * math.pi * torch.cumsum(f0 * (1 + 0.01 * torch.sin(2 * math.pi * 5 * t)), 0) / SR
    out = torch.zeros_like(t)
    for k in range(1, int(7600 / f0)):
        f = k * f0
        gain = math.exp(-((f - f1) / 250) ** 2) + 0.6 * math.exp(-((f - f2) / 400) ** 2) + 0.03 / math.sqrt(k)
        out += gain * torch.sin(k * phase + 2 * math.pi * float(torch.rand(1, generator=gen)))
    return 0.1 * out / out.pow(2).mean().sqrt()


def vowels(count: int, gen: torch.Generator) -> torch.Tensor:
    out = []
    for _ in range(count):
        r = torch.rand(3, generator=gen)
        out.append(vowel(100 + 150 * float(r[0]), 400 + 500 * float(r[1]), 1200 + 1400 * float(r[2]),
                         seed=int(torch.randint(10**6, (1,), generator=gen))))
    return torch.stack(out)[:, None]


def harmonic_share(x: torch.Tensor, f0: float, lo: float = 1500.0, hi: float = 4000.0) -> float:
    """Share of the energy between ``lo`` and ``hi`` Hz that lies within 15 % of ``f0`` of a harmonic."""
    power = torch.fft.rfft(x * torch.hann_window(x.shape[-1])).abs().pow(2)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / SR)
    band = (freqs > lo) & (freqs < hi)
    near = (freqs / f0 - (freqs / f0).round()).abs() < 0.15
    return float(power[band & near].sum() / power[band].sum())


def test_the_speech_vocoder_learns_voiced_harmonics(one_thread):
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module, resolve_mel

    recipe = load_recipe("demo-vocoder", [
        "model.overrides={prior: learned, projection_iterations: 16, channels: 32, blocks: 2, kernel_size: 3, "
        "expansion: 2, embedding_dim: 16, mlp_dim: 32, "
        "magnitude_channels: 64, magnitude_blocks: 2}"])
    torch.manual_seed(0)
    module = build_module(recipe, SR, resolve_mel(recipe), None, None)
    net, mel_cfg, scale = module.net, module.mel_config, recipe.diffusion.data_scale
    assert net.config.prior == "learned" and net.config.projection_iterations > 0
    schedule = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=15.0)
    test = vowel(170.0, 650.0, 1900.0, seed=123)[None]
    mel = log_mel(test, mel_cfg)

    def vocoded_share() -> float:
        net.eval()
        cond = net.condition(mel=mel)
        den = Denoiser(lambda x, logsnr: net(x, logsnr, cond=cond), "x0")
        with torch.no_grad():
            x = sample(den, (1, 1, test.shape[-1]), schedule, steps=6, method="ddim",
                       generator=torch.Generator().manual_seed(0))
        net.train()
        return harmonic_share(x[0, 0] / scale, 170.0)

    original = harmonic_share(test[0], 170.0)
    baseline = harmonic_share(griffin_lim(mel, mel_cfg, length=test.shape[-1])[0], 170.0)
    untrained = vocoded_share()
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(150):
        audio = vowels(8, gen)
        batch_mel = log_mel(audio[:, 0], mel_cfg)
        out = diffusion_loss(net, scale * audio, schedule, parameterisation="x0", weighting="v", generator=gen,
                             cond={"mel": batch_mel}, time_sampling="stratified")
        loss = out.loss + net.auxiliary_loss(scale * audio, batch_mel)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    trained = vocoded_share()
    assert original > 0.95 and baseline < 0.8 and untrained < 0.8, (original, baseline, untrained)
    assert trained > 0.83 and trained > untrained + 0.08, (trained, untrained)
