"""The spectral denoiser: config, the Wiener prior as the untrained network's exact answer,
parameterisations, shapes and conditioning, locality (exact chunked vocoding), training."""

from __future__ import annotations

import math

import pytest
import torch

from wavediff.audio.mel import MelConfig, log_mel
from wavediff.diffusion import diffusion_loss, get_schedule
from wavediff.nn import (
    DenoiserConfig,
    DiffWave,
    SpectralConfig,
    SpectralDenoiser,
    build_denoiser,
    build_network,
    network_config_from_dict,
)

MEL = MelConfig.preset("hifigan", sample_rate=16000, fmax=8000.0)
SMALL = dict(channels=32, blocks=2, kernel_size=3, expansion=2, embedding_dim=16, mlp_dim=32)


def _vocoder(**changes) -> SpectralDenoiser:
    torch.manual_seed(0)
    return build_denoiser("spectral", mel_bins=80, hop=256, mel_config=MEL.to_dict(), **{**SMALL, **changes})


def _randomise_head(net: SpectralDenoiser) -> SpectralDenoiser:
    """A non-zero output head (a new network's is zero, which would hide wiring mistakes)."""
    with torch.no_grad():
        net.output_proj.weight.normal_(0, 0.02)
        net.output_proj.bias.normal_(0, 0.02)
        for block in net.blocks:
            block.down.weight.normal_(0, 0.02)
        if net.magnitude is not None:  # the learned prior's head too
            net.magnitude.output_proj.weight.normal_(0, 0.02)
            for block in net.magnitude.blocks:
                block.down.weight.normal_(0, 0.02)
    return net


def test_config_round_trip_validation_and_dispatch():
    cfg = _vocoder().config
    assert SpectralConfig.from_dict(cfg.to_dict()) == cfg
    assert network_config_from_dict(cfg.to_dict()) == cfg
    assert isinstance(build_network(cfg.to_dict()), SpectralDenoiser)
    # checkpoints written before the choice existed hold DiffWave configs without "architecture"
    old = DenoiserConfig(residual_layers=2, residual_channels=8).to_dict()
    assert isinstance(network_config_from_dict(old), DenoiserConfig)
    assert isinstance(build_network(old), DiffWave)
    for bad, match in [({"n_fft": 511}, "even"), ({"taps": 2}, "odd"), ({"stft_hop": 400}, "at most"),
                       ({"prior": "gauss"}, "prior"), ({"parameterisation": "score"}, "parameterisation"),
                       ({"in_channels": 2}, "mono"), ({"blocks": 1.5}, "int")]:
        with pytest.raises(ValueError, match=match):
            cfg.replace(**bad)
    with pytest.raises(ValueError, match="mel_config"):
        SpectralConfig(mel_bins=80)
    with pytest.raises(ValueError, match="unknown SpectralConfig key"):
        SpectralConfig.from_dict({"residual_layers": 4})


def test_untrained_unconditional_network_is_the_gaussian_posterior_mean():
    """Without a mel the prior is unit-variance white data, whose exact E[x0 | x_t] is
    alpha * x_t; a new network (zero head) must return exactly that."""
    net = build_denoiser("spectral", **SMALL).double()
    x_t = torch.randn(2, 1, 3000, dtype=torch.float64)
    for logsnr in (-6.0, 0.0, 5.0):
        alpha = math.sqrt(1 / (1 + math.exp(-logsnr)))
        out = net(x_t, torch.full((2,), logsnr, dtype=torch.float64))
        assert torch.allclose(out, alpha * x_t, atol=1e-9), logsnr


def test_untrained_vocoder_is_the_wiener_filter_of_the_mel_prior():
    net = _vocoder().eval()
    audio = 0.1 * torch.randn(1, 4096, generator=torch.Generator().manual_seed(1))
    mel = log_mel(audio, MEL)
    cond = net.condition(mel=mel)
    x_t = torch.randn(1, 1, 4096)
    logsnr = torch.tensor([1.5])
    with torch.no_grad():
        out = net(x_t, logsnr, cond=cond)
    spec = torch.stft(x_t[:, 0], 512, 128, window=torch.hann_window(512), center=True, return_complex=True)
    power = net._to_frames(cond.prior_power, spec.shape[-1]).clamp_min(1e-8)
    a2, s2 = torch.sigmoid(logsnr), torch.sigmoid(-logsnr)
    expected = torch.istft(a2.sqrt() * power / (a2 * power + s2) * spec, 512, 128, window=torch.hann_window(512),
                           center=True, length=4096)
    assert torch.allclose(out[:, 0], expected, atol=1e-5)


def test_prior_power_of_white_noise_matches_its_variance():
    """The mel of white noise of variance v implies a power of about data_scale^2 v per bin."""
    net = _vocoder(data_scale=3.0)
    audio = 0.05 * torch.randn(1, 16000 * 2, generator=torch.Generator().manual_seed(0))
    power = net.prior_power(log_mel(audio, MEL))  # (1, 257, frames)
    mid = power[0, 20:200].mean()  # away from DC and the band edge
    assert 0.5 < float(mid) / (9.0 * 0.05**2) < 2.0, float(mid) / (9.0 * 0.05**2)
    emphasised = _vocoder(data_scale=3.0, pre_emphasis=0.9).prior_power(log_mel(audio, MEL))
    # pre-emphasis boosts the top of the spectrum and cuts the bottom
    assert float(emphasised[0, 240].mean()) > 2 * float(power[0, 240].mean())
    assert float(emphasised[0, 3].mean()) < 0.5 * float(power[0, 3].mean())


@pytest.mark.parametrize("kind", ["eps", "v"])
def test_parameterisations_are_exact_conversions_of_x0(kind):
    x0_net = _randomise_head(_vocoder()).eval()
    other = _vocoder(parameterisation=kind).eval()
    other.load_state_dict(x0_net.state_dict())
    mel = torch.randn(2, 80, 8) - 4
    x_t = torch.randn(2, 1, 2048)
    logsnr = torch.tensor([-2.0, 3.0])
    with torch.no_grad():
        x0_hat, out = x0_net(x_t, logsnr, mel=mel), other(x_t, logsnr, mel=mel)
    alpha, sigma = torch.sigmoid(logsnr).sqrt()[:, None, None], torch.sigmoid(-logsnr).sqrt()[:, None, None]
    eps_hat = (x_t - alpha * x0_hat) / sigma
    want = eps_hat if kind == "eps" else alpha * eps_hat - sigma * x0_hat
    assert torch.allclose(out, want, atol=1e-4)


def test_shapes_conditioning_and_errors():
    net = _vocoder(num_classes=3)
    for length, frames in [(2048, 8), (2000, 7), (2000, 8), (300, 1)]:
        out = net(torch.randn(2, 1, length), torch.zeros(2), mel=torch.randn(2, 80, frames), class_label=torch.tensor([0, 3]))
        assert out.shape == (2, 1, length)
    with pytest.raises(ValueError, match="frames"):
        net(torch.randn(1, 1, 2048), torch.zeros(1), mel=torch.randn(1, 80, 20), class_label=0)
    with pytest.raises(ValueError, match="mel-conditioned"):
        net(torch.randn(1, 1, 2048), torch.zeros(1), class_label=0)
    with pytest.raises(ValueError, match=r"\(B, 1, T\)"):
        net(torch.randn(1, 2, 2048), torch.zeros(1), mel=torch.randn(1, 80, 8), class_label=0)
    with pytest.raises(ValueError, match="class-conditioned"):
        net(torch.randn(1, 1, 2048), torch.zeros(1), mel=torch.randn(1, 80, 8))
    text = repr(net)
    assert "receptive_field" in text and net.macs_per_sample() > 0 and net.num_parameters() > 0


def test_output_depends_only_on_samples_within_the_receptive_field():
    """What makes chunked vocoding exact: a change of x_t moves no output sample farther
    away than half the receptive field."""
    net = _randomise_head(_vocoder()).eval()
    length = 8192
    mel = torch.randn(1, 80, length // 256) - 4
    x_t = torch.randn(1, 1, length)
    moved = x_t.clone()
    moved[..., :16] += 1.0
    with torch.no_grad():
        a, b = net(x_t, torch.zeros(1), mel=mel), net(moved, torch.zeros(1), mel=mel)
    changed = (a - b).abs()[0, 0] > 1e-6
    last = int(changed.nonzero().max())
    assert 0 < last < 16 + net.receptive_field // 2 + net.config.hop
    assert net.receptive_field // 2 + 16 + net.config.hop < length  # the test can fail


def test_a_few_training_steps_lower_the_loss(one_thread):
    net = _vocoder(data_scale=3.0)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(4096) / 16000
    audio = torch.stack([0.2 * torch.sin(2 * math.pi * f * t) for f in (220.0, 330.0, 440.0, 550.0)])[:, None]
    mel = log_mel(audio[:, 0], MEL)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    schedule = get_schedule("cosine")
    fixed = dict(t=torch.linspace(0.1, 0.4, 4), noise=torch.randn(audio.shape, generator=gen))

    def loss() -> float:
        with torch.no_grad():
            return float(diffusion_loss(net, 3 * audio, schedule, parameterisation="x0", weighting="v",
                                        cond={"mel": mel}, **fixed).loss)

    before = loss()
    for _ in range(100):
        out = diffusion_loss(net, 3 * audio, schedule, parameterisation="x0", weighting="v", generator=gen,
                             cond={"mel": mel})
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert loss() < 0.95 * before  # measured 0.91: the zero-initialised head can only lower it by learning


@pytest.mark.parametrize("method", ["ddim", "dpmpp_2m"])
def test_the_speech_vocoder_recipe_vocodes_in_exact_chunks(method, one_thread):
    """The shipped CPU speech vocoder builds through the recipe path, and its long inputs are
    vocoded in chunks that join exactly (its receptive field bounds the context needed)."""
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module, resolve_mel
    from wavediff.vocoder import Vocoder

    recipe = load_recipe("demo-vocoder", [
        "model.overrides={prior: learned, projection_iterations: 4, magnitude_channels: 16, magnitude_blocks: 1, "
        "channels: 16, blocks: 1, kernel_size: 3, expansion: 1, embedding_dim: 16, mlp_dim: 16}"])
    module = build_module(recipe, 16000, resolve_mel(recipe), None, None)
    assert isinstance(module.net, SpectralDenoiser) and module.net.config.data_scale == 3.0
    _randomise_head(module.ema.model)
    voc = Vocoder(module.eval())
    t = torch.arange(16000 * 2) / 16000
    audio = 0.2 * torch.sin(2 * math.pi * 180 * t) * (1 + torch.sin(2 * math.pi * 3 * t))
    mel = voc.mel(audio[None])
    whole, _ = voc.vocode(mel, 2, method)
    chunked, _ = voc.vocode(mel, 2, method, chunk_frames=24)
    assert torch.allclose(whole, chunked, atol=1e-4), float((whole - chunked).abs().max())
    no_context, _ = voc.vocode(mel, 2, method, chunk_frames=24, overlap_frames=0)
    assert float((whole - no_context).abs().max()) > 1e-2  # the test above can fail


# ---------------------------------------------------------------- the learned prior
def _speechlike(seconds: float = 0.5, f0: float = 140.0) -> torch.Tensor:
    """A voiced vowel-like signal ``(1, T)``: harmonics of ``f0`` under two formant peaks."""
    t = torch.arange(int(16000 * seconds)) / 16000
    out = torch.zeros_like(t)
    for k in range(1, int(7600 / f0)):
        f = k * f0
        gain = math.exp(-((f - 700) / 300) ** 2) + 0.5 * math.exp(-((f - 2200) / 500) ** 2) + 0.02
        out += gain * torch.sin(2 * math.pi * f * t + 0.3 * k * k)
    return 0.1 * out[None] / out.pow(2).mean().sqrt()


def test_an_untrained_learned_prior_is_the_wiener_prior():
    wiener = _randomise_head(_vocoder()).eval()
    learned = _vocoder(prior="learned", magnitude_channels=16, magnitude_blocks=1)
    missing = learned.load_state_dict(wiener.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("magnitude.") for k in missing)
    learned.eval()
    mel = log_mel(_speechlike(), MEL)
    x_t = torch.randn(1, 1, 8000)
    with torch.no_grad():
        assert torch.allclose(wiener(x_t, torch.tensor([1.0]), mel=mel), learned(x_t, torch.tensor([1.0]), mel=mel),
                              atol=1e-5)
    assert learned.macs_per_sample() > wiener.macs_per_sample()
    assert learned.receptive_field > wiener.receptive_field
    assert wiener.auxiliary_loss(torch.zeros(1, 1, 8000), mel) is None
    with pytest.raises(ValueError, match="mel_bins"):
        SpectralConfig(prior="learned")


def test_the_learned_prior_learns_by_regression_only(one_thread):
    net = _vocoder(prior="learned", magnitude_channels=32, magnitude_blocks=2, data_scale=3.0)
    audio = torch.cat([_speechlike(f0=f) for f in (110.0, 150.0, 190.0, 230.0)])[:, None]
    mel = log_mel(audio[:, 0], MEL)
    # the diffusion loss does not reach the prior's network ...
    out = diffusion_loss(net, 3 * audio, get_schedule("cosine"), parameterisation="x0", weighting="v",
                         cond={"mel": mel}, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert all(p.grad is None for p in net.magnitude.parameters())
    assert any(p.grad is not None for p in net.blocks.parameters())
    # ... its own regression does, and lowers the error of the power the denoiser uses
    opt = torch.optim.Adam(net.magnitude.parameters(), lr=3e-3)
    before = net.auxiliary_loss(3 * audio, mel).item()
    for _ in range(60):
        loss = net.auxiliary_loss(3 * audio, mel)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = net.auxiliary_loss(3 * audio, mel).item()
    assert after < 0.8 * before, (before, after)


def test_projection_makes_the_estimate_consistent_with_the_prior_magnitude():
    from wavediff.audio.griffin_lim import MelFraming

    net = _randomise_head(_vocoder(projection_iterations=16))
    clean = _speechlike()[None]
    mel = log_mel(clean[:, 0], MEL)
    x_t = torch.randn(1, 1, clean.shape[-1])
    with torch.no_grad():
        projected = net.eval()(x_t, torch.tensor([-2.0]), mel=mel)
        plain = net.train()(x_t, torch.tensor([-2.0]), mel=mel)  # never in training
    target = net.condition(mel=mel).prior_magnitude
    assert target.shape == (1, MEL.n_fft // 2 + 1, mel.shape[-1])
    framing = MelFraming(MEL, mel.shape[-1], clean.shape[-1], clean.device)
    error = lambda x: float((framing.to_spec(x[:, 0]).abs() - target).norm() / target.norm())  # noqa: E731
    assert error(projected) < 0.5 * error(plain), (error(projected), error(plain))
    baseline = net.eval().prior_waveform(mel, clean.shape[-1])
    assert baseline.shape == clean.shape and error(baseline) < 0.5 * error(plain)
    # the prior's magnitude is the clip's, up to what least squares through the mel loses
    assert float((framing.to_spec(clean[0:1, 0] * net.config.data_scale).abs() - target).norm() / target.norm()) < 0.8


# ---------------------------------------------------------------- phase features
def test_phase_coherence_is_steady_for_a_partial_and_changes_for_noise():
    """A steady sinusoid gives the same phasor in every frame, turning by a hop's worth of
    one bin's frequency (2 pi hop / n_fft) from bin to bin; white noise gives phasors that
    change from frame to frame."""
    net = build_denoiser("spectral", phase_features=True, **SMALL)
    t = torch.arange(8000) / 16000
    tone = torch.cos(2 * math.pi * 440.0 * t)[None]
    window = torch.hann_window(512)
    spec = torch.stft(tone, 512, 128, window=window, center=True, return_complex=True)
    back_re, back_im, fwd_re, fwd_im = net.phase_coherence(spec)
    phasor = torch.complex(back_re, back_im)[0, :, 4:-4]  # away from the padded ends
    k = round(440.0 / 31.25)
    expected = torch.exp(torch.tensor(2j * math.pi * (440.0 - k * 31.25) * 128 / 16000))
    assert torch.allclose(phasor[k], expected.expand_as(phasor[k]), atol=1e-3)
    step = phasor[k + 1] * phasor[k].conj()
    assert torch.allclose(step, torch.full_like(step, -1j), atol=1e-3)  # -pi / 2 per bin at hop n_fft / 4
    assert torch.equal(torch.complex(fwd_re, fwd_im)[..., :-1], torch.complex(back_re, back_im)[..., 1:])
    assert float(back_re[..., 0].abs().max()) == 0.0 and float(fwd_re[..., -1].abs().max()) == 0.0
    noise = torch.stft(torch.randn(1, 8000, generator=torch.Generator().manual_seed(0)), 512, 128, window=window,
                       center=True, return_complex=True)
    # circular variance over frames (1 - |mean phasor|^2): 0 for the partial; noise's phasors
    # lean towards 1 (overlapping frames share samples) but change from frame to frame
    spread = lambda z: float((1 - z.mean(dim=-1).abs().square()).mean())  # noqa: E731
    assert spread(phasor[k - 1 : k + 2]) < 1e-4
    assert spread(torch.complex(*net.phase_coherence(noise)[:2])[0, 20:200, 4:-4]) > 0.4


def test_phase_features_keep_the_network_local_and_exact_at_initialisation():
    """With the features and the frequency branch, a new network is still the corpus prior's
    Wiener mean, and no output sample moves farther than half the receptive field."""
    torch.manual_seed(0)
    plain = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=2, **SMALL)
    torch.manual_seed(0)
    net = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=2, phase_features=True, **SMALL)
    assert net.receptive_field == plain.receptive_field + 2 * 128
    assert net.input_proj.in_channels == plain.input_proj.in_channels + 4 * 257
    x_t, logsnr = torch.randn(1, 1, 8192), torch.zeros(1)
    with torch.no_grad():
        assert torch.allclose(net(x_t, logsnr, class_label=1), plain(x_t, logsnr, class_label=1), atol=1e-6)
        for module in (net.output_proj, net.frequency.output):
            module.weight.normal_(0, 0.02)
        moved = x_t.clone()
        moved[..., :16] += 1.0
        changed = (net(x_t, logsnr, class_label=1) - net(moved, logsnr, class_label=1)).abs()[0, 0] > 1e-6
    last = int(changed.nonzero().max())
    assert 0 < last < 16 + net.receptive_field // 2
    assert net.receptive_field // 2 + 16 < x_t.shape[-1]  # the test can fail
    with pytest.raises(ValueError, match="phase_features"):
        net.config.replace(phase_features="yes")


def test_harmonic_stack_reads_each_bin_at_its_harmonic_ratios():
    """The time-frequency branch's harmonic inputs: at bin k, the log magnitude at r k."""
    from wavediff.nn.spectral_features import HARMONIC_RATIOS

    net = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=1, harmonic_features=True,
                         **SMALL)
    assert net.frequency.input.in_channels == 4 + len(HARMONIC_RATIOS)
    ramp = torch.arange(257, dtype=torch.float32)[None, :, None].expand(1, 257, 3)  # value = bin index
    for ratio, stacked in zip(HARMONIC_RATIOS, net.harmonic_stack(ramp)):
        for k in (6, 30, 80, 128, 250):
            want = ratio * k if ratio * k <= 256 else 0.0  # no partner past the last bin
            assert abs(float(stacked[0, k, 1]) - want) < 1e-4, (ratio, k)
    x_t = torch.randn(1, 1, 4000)
    assert net(x_t, torch.zeros(1), class_label=0).shape == x_t.shape
    with pytest.raises(ValueError, match="frequency_layers"):
        SpectralConfig(harmonic_features=True)


def test_prior_smoothing_keeps_the_envelope_and_drops_the_comb_of_harmonics():
    """A class of two notes: its mean power holds both notes' harmonics; smoothed over
    +-4 bins, each bin is the mean of its neighbours (fewer at the edges) and the total
    power of the band stays."""
    t = torch.arange(8192) / 16000
    notes = torch.stack([torch.sin(2 * math.pi * f0 * t) for f0 in (220.0, 330.0)])[:, None]
    fit = lambda **extra: build_denoiser("spectral", num_classes=1, prior="corpus", prior_frames=8,  # noqa: E731
                                         **{**SMALL, **extra}).fit_corpus_prior(notes, torch.zeros(2))
    raw, smooth = fit(), fit(prior_smoothing=4)
    k220, k330 = round(220 / 31.25), round(330 / 31.25)
    for k in (k220, k330, 3, 50, 0, 256):
        lo, hi = max(k - 4, 0), min(k + 5, 257)
        assert torch.allclose(smooth[:, k], raw[:, lo:hi].mean(1), rtol=1e-5)
    # the comb: both lines stand 10x above the bins between them before, not after
    assert raw[0, k220, 4] > 10 * raw[0, (k220 + k330) // 2, 4]
    assert smooth[0, k220, 4] < 2 * smooth[0, (k220 + k330) // 2, 4]
    assert torch.allclose(smooth[0, :40, 2:].sum(0), raw[0, :40, 2:].sum(0), rtol=0.02)  # away from the edges
    with pytest.raises(ValueError, match="prior_smoothing"):
        SpectralConfig(prior="wiener", mel_bins=80, mel_config=MEL.to_dict(), prior_smoothing=2)


def test_serial_branches_hand_the_frame_stack_to_the_time_frequency_branch():
    """With frequency_reads_stack the branch reads the stack's correction and maps: a new
    network is still the Wiener mean, the receptive fields add up, and the branch's output
    changes with the stack's maps."""
    torch.manual_seed(0)
    plain = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=2, **SMALL)
    torch.manual_seed(0)
    net = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=2, frequency_reads_stack=3,
                         **SMALL)
    assert net.frequency.input.in_channels == plain.frequency.input.in_channels + 2 + 3
    frames = 1 + 2 * (3 - 1) + 3 * 2  # the stack's frames, then the branch's (3 convolutions of 3 frames)
    assert net.receptive_field == (frames - 1) * 128 + 2 * 512
    assert net.macs_per_sample() > plain.macs_per_sample()
    x_t, logsnr = torch.randn(1, 1, 8192), torch.zeros(1)
    with torch.no_grad():
        assert torch.allclose(net(x_t, logsnr, class_label=1), plain(x_t, logsnr, class_label=1), atol=1e-6)
        net.frequency.output.weight.normal_(0, 0.02)
        before = net(x_t, logsnr, class_label=1)
        net.stack_maps.weight.mul_(2.0)
        assert (net(x_t, logsnr, class_label=1) - before).abs().max() > 1e-4
        moved = x_t.clone()
        moved[..., :16] += 1.0
        changed = (net(x_t, logsnr, class_label=1) - net(moved, logsnr, class_label=1)).abs()[0, 0] > 1e-6
    assert 0 < int(changed.nonzero().max()) < 16 + net.receptive_field // 2 < x_t.shape[-1]
    with pytest.raises(ValueError, match="frequency_layers"):
        SpectralConfig(frequency_reads_stack=2)


def test_frequency_dilation_widens_the_branch_over_bins():
    """An impulse at one bin reaches +-(3 + 3 (1 + 2 + 4)) = 24 bins through a branch of
    three layers dilated 1, 2, 4, and +-12 undilated."""
    from wavediff.nn.spectral_blocks import FrequencyNet

    for dilation, reach in ((1, 12), (2, 24)):
        torch.manual_seed(0)
        branch = FrequencyNet(2, 4, 3, 8, dilation)
        torch.nn.init.normal_(branch.output.weight)
        x = torch.zeros(1, 2, 101, 5)
        x[0, :, 50, 2] = 1.0
        with torch.no_grad():
            out = branch(x, torch.zeros(1, 8)) - branch(torch.zeros_like(x), torch.zeros(1, 8))
        bins = (out.abs().amax(dim=(0, 1, 3)) > 1e-7).nonzero().flatten()
        assert (int(bins.min()), int(bins.max())) == (50 - reach, 50 + reach)


def test_harmonic_templates_turn_a_chosen_fundamental_into_its_comb():
    """A logit that settles on one candidate gives bumps at every multiple of its
    fundamental and nothing between them; "no pitch" gives an empty map; a new network with
    templates is still the Wiener mean."""
    from wavediff.nn.spectral_features import HarmonicTemplates

    templates = HarmonicTemplates(257)
    k = 40  # 1.5 * 2^(40/24) = 4.76 bins
    logits = torch.full((1, templates.candidates + 1, 2), -30.0)
    logits[0, k, 0] = 30.0
    logits[0, -1, 1] = 30.0  # no pitch
    comb = templates(logits)
    f0 = float(templates.f0[k])
    assert abs(f0 - 1.5 * 2 ** (40 / 24)) < 1e-4
    for h in (1, 2, 10, 40):
        assert float(comb[0, round(h * f0), 0]) > 0.3, h
        assert float(comb[0, round((h + 0.5) * f0), 0]) < 0.05, h
    assert float(comb[0, :, 1].abs().max()) < 1e-6
    torch.manual_seed(0)
    plain = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=1, **SMALL)
    torch.manual_seed(0)
    net = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=1, harmonic_templates=True,
                         **SMALL)
    assert net.frequency.input.in_channels == plain.frequency.input.in_channels + 1
    x_t = torch.randn(1, 1, 4000)
    with torch.no_grad():
        assert torch.allclose(net(x_t, torch.zeros(1), class_label=0), plain(x_t, torch.zeros(1), class_label=0),
                              atol=1e-6)
    with pytest.raises(ValueError, match="frequency_layers"):
        SpectralConfig(harmonic_templates=True)
