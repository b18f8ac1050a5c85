"""The spectral denoiser's ``corpus`` prior: fitted per class and frame from clean segments,
the untrained network's answer is the Wiener posterior mean under it (better than unit
power on coloured data), it travels in checkpoints, and ``wavediff train`` fits it."""

from __future__ import annotations

import math

import pytest
import torch

from wavediff.nn import SpectralConfig, build_denoiser, build_network

SMALL = dict(channels=32, blocks=2, kernel_size=3, expansion=2, embedding_dim=16, mlp_dim=32)
LENGTH = 4096
FRAMES = LENGTH // 128 + 1


def _coloured(n: int, low: bool, seed: int, length: int = LENGTH) -> torch.Tensor:
    """White noise low-passed (or high-passed) by a 9-tap box: most power below (above) 1/9 of Nyquist."""
    x = torch.randn(n, 1, length + 8, generator=torch.Generator().manual_seed(seed))
    box = torch.nn.functional.avg_pool1d(x, 9, stride=1) * 3.0
    return box if low else x[..., 4:-4] - box / 3.0


def _net(num_classes: int | None = 2, **changes):
    torch.manual_seed(0)
    return build_denoiser("spectral", num_classes=num_classes, prior="corpus", prior_frames=FRAMES,
                          **{**SMALL, **changes})


def test_fit_per_class_null_class_and_classes_without_segments():
    net = _net(num_classes=3)
    x0 = torch.cat([_coloured(8, True, 0), _coloured(8, False, 1)])
    labels = torch.tensor([0] * 8 + [1] * 8)
    power = net.fit_corpus_prior(x0, labels)
    assert power.shape == (4, 257, FRAMES)
    low, high, missing, null = power.mean(-1)
    assert low[:20].mean() > 10 * low[150:].mean()     # class 0: low-passed
    assert high[150:].mean() > 10 * high[:20].mean()   # class 1: high-passed
    assert torch.allclose(null, (low + high) / 2, rtol=1e-4)  # the null class: every segment
    assert torch.equal(missing, null)                  # no segments of class 2: the null class's
    assert torch.equal(net.corpus_power, power)
    with pytest.raises(ValueError, match="needs the segments' labels"):
        net.fit_corpus_prior(x0)
    with pytest.raises(ValueError, match="values in 0..2"):
        net.fit_corpus_prior(x0, labels + 2)
    with pytest.raises(ValueError, match="prior='corpus'"):
        build_denoiser("spectral", **SMALL).fit_corpus_prior(x0)


def test_untrained_network_is_the_wiener_mean_under_the_corpus_prior_and_beats_unit_power():
    """A new network (zero head) returns ISTFT(alpha P / (alpha^2 P + sigma^2) X): on
    low-passed data that removes most of the noise a unit-power prior keeps."""
    net = _net(num_classes=None).double()
    net.fit_corpus_prior(_coloured(64, True, 0).double())
    plain = build_denoiser("spectral", **SMALL).double()
    x0 = _coloured(4, True, 5).double()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    window = torch.hann_window(512, dtype=torch.float64)
    for logsnr in (-2.0, 2.0, 6.0):
        a2 = 1 / (1 + math.exp(-logsnr))
        x_t = math.sqrt(a2) * x0 + math.sqrt(1 - a2) * noise
        level = torch.full((4,), logsnr, dtype=torch.float64)
        with torch.no_grad():
            out = net(x_t, level)
            base = plain(x_t, level)
        spec = torch.stft(x_t[:, 0], 512, 128, window=window, center=True, return_complex=True)
        power = net.corpus_power.clamp_min(1e-8)
        expected = torch.istft(math.sqrt(a2) * power / (a2 * power + 1 - a2) * spec, 512, 128, window=window,
                               center=True, length=LENGTH)
        assert torch.allclose(out[:, 0], expected, atol=1e-6), logsnr
        error, plain_error = (out - x0).pow(2).mean(), (base - x0).pow(2).mean()
        # the gain is largest where the noise buries the quiet bins; at high SNR it still helps
        assert error < (0.7 if logsnr < 5 else 1.0) * plain_error, (logsnr, float(error), float(plain_error))


def test_the_prior_follows_each_label_and_longer_inputs_repeat_the_last_frame():
    net = _net().eval()
    net.fit_corpus_prior(torch.cat([_coloured(8, True, 0), _coloured(8, False, 1)]), torch.tensor([0] * 8 + [1] * 8))
    x_t = torch.randn(2, 1, LENGTH, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = net(x_t, torch.zeros(2), class_label=torch.tensor([0, 1]))
    spectrum = torch.fft.rfft(out[:, 0]).abs().square()
    bins = spectrum.shape[-1]
    assert spectrum[0, : bins // 10].mean() > 10 * spectrum[0, bins // 2:].mean()
    assert spectrum[1, bins // 2:].mean() > 10 * spectrum[1, : bins // 10].mean()
    with torch.no_grad():  # 3x the fitted length: the last frame's power carries on
        long = net(torch.randn(1, 1, 3 * LENGTH), torch.zeros(1), class_label=0)
    assert torch.isfinite(long).all() and long.shape == (1, 1, 3 * LENGTH)


def test_config_rules_and_the_prior_travels_in_the_state_dict():
    net = _net()
    net.fit_corpus_prior(_coloured(4, True, 0), torch.tensor([0, 1, 0, 1]))
    copy = build_network(net.config.to_dict())
    assert torch.equal(copy.corpus_power, torch.ones_like(copy.corpus_power))  # unfitted: unit power
    copy.load_state_dict(net.state_dict())
    assert torch.equal(copy.corpus_power, net.corpus_power)
    with pytest.raises(ValueError, match="network without a mel"):
        SpectralConfig(prior="corpus", mel_bins=80, mel_config={})
    with pytest.raises(ValueError, match="has none"):
        SpectralConfig(prior="corpus", projection_iterations=4)
    with pytest.raises(ValueError, match="prior_frames"):
        SpectralConfig(prior="corpus", prior_frames=0)


def _randomise(net):
    """Non-zero output heads (a new network's are zero, which would hide wiring mistakes)."""
    with torch.no_grad():
        for module in (net.output_proj, net.frequency.output):
            module.weight.normal_(0, 0.02)
            module.bias.normal_(0, 0.02)
    return net


def test_the_time_frequency_branch_starts_at_zero_and_stays_within_the_receptive_field():
    """A new branch changes nothing (zero head: the untrained answer is still the Wiener mean);
    a trained one reaches no output sample farther than half the receptive field; it is
    counted in the cost, and its kernels are shared across frequency (same size at any n_fft)."""
    plain = _net(num_classes=None)
    torch.manual_seed(0)
    branched = _net(num_classes=None, frequency_layers=2)
    branched.load_state_dict(plain.state_dict(), strict=False)
    x_t = torch.randn(2, 1, LENGTH, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(branched(x_t, torch.zeros(2)), plain(x_t, torch.zeros(2)), atol=1e-6)
    assert branched.macs_per_sample() > plain.macs_per_sample()
    wide = _net(num_classes=None, frequency_layers=2, n_fft=1024, stft_hop=256)
    count = lambda net: sum(p.numel() for p in net.frequency.parameters())  # noqa: E731
    assert count(wide) == count(branched)
    net = _randomise(_net(num_classes=None, frequency_layers=2, blocks=0)).eval()
    moved = x_t[:1].clone()
    moved[..., 2000:2016] += 1.0
    with torch.no_grad():
        changed = (net(x_t[:1], torch.zeros(1)) - net(moved, torch.zeros(1))).abs()[0, 0] > 1e-6
    where = changed.nonzero()[:, 0]
    assert int(where.max()) - 2016 < net.receptive_field // 2 and 2000 - int(where.min()) < net.receptive_field // 2
    assert int(where.max()) - 2016 > 512  # the branch reaches past its own frame: the test can fail


# ---------------------------------------------------------------- a mixture prior per class


def test_kmeans_finds_separated_groups_deterministically_and_never_leaves_one_empty():
    from wavediff.nn.corpus_prior import kmeans

    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.3 * torch.randn(20, 2, generator=gen) for c in centres])
    assign = kmeans(points, 3, seed=1)
    truth = torch.arange(3).repeat_interleave(20)
    # each true group lands in one cluster, and the three clusters differ
    assert all(len(set(assign[truth == g].tolist())) == 1 for g in range(3))
    assert len(set(assign.tolist())) == 3
    assert torch.equal(assign, kmeans(points, 3, seed=1))
    # more groups than distinct rows: fewer groups, numbered from 0, none empty
    twice = torch.tensor([[1.0], [1.0], [5.0], [5.0]])
    few = kmeans(twice, 4)
    assert sorted(set(few.tolist())) == [0, 1] and few[0] == few[1] != few[2] == few[3]
    assert torch.equal(kmeans(points[:2], 5).sort().values, torch.tensor([0, 1]))


def test_fit_components_means_and_weights():
    from wavediff.nn.corpus_prior import fit_components

    low = torch.full((6, 4, 3), 1e-3)
    low[:, 0] = 2.0
    high = torch.full((2, 4, 3), 1e-3)
    high[:, 3] = 5.0
    power, log_weight = fit_components(torch.cat([low, high]), 3)
    # two distinct spectra: two components, weighted by their share; the third is unused
    assert power.shape == (3, 4, 3) and torch.isneginf(log_weight[2])
    assert sorted(log_weight[:2].exp().tolist()) == pytest.approx([0.25, 0.75])
    heavy = int(log_weight[:2].argmax())
    assert torch.allclose(power[heavy], low[0].double()) and torch.allclose(power[1 - heavy], high[0].double())


def _exact_mixture_mean(x_t, logsnr, power, log_weight, hop=128, n_fft=512):
    """E[X0 | X] under a mixture of zero-mean complex Gaussians, written out per component."""
    a2 = 1 / (1 + math.exp(-logsnr))
    window = torch.hann_window(n_fft, dtype=torch.float64)
    norm = math.sqrt(float(window.square().sum()))
    spec = torch.stft(x_t[:, 0], n_fft, hop, window=window, center=True, return_complex=True) / norm
    out = []
    for b in range(x_t.shape[0]):
        logs, means = [], []
        for k in range(power.shape[0]):
            p = power[k].clamp_min(1e-8)
            v = a2 * p + (1 - a2)
            logs.append(float(log_weight[k]) + hop / n_fft * float(-(torch.log(v) + spec[b].abs().square() / v).sum()))
            means.append(math.sqrt(a2) * p / v * spec[b])
        r = torch.softmax(torch.tensor(logs, dtype=torch.float64), 0)
        out.append(sum(r[k] * means[k] for k in range(len(means))))
    estimate = torch.stack(out) * norm
    return torch.istft(estimate, n_fft, hop, window=window, center=True, length=x_t.shape[-1])[:, None]


def test_an_untrained_mixture_network_is_the_exact_mixture_posterior_mean():
    """With prior_components=2 a corpus of low- and high-passed noise (no labels) gets one
    component each; the new network returns the mixture's posterior mean (its components
    weighted by how well each explains x_t), which beats the one-component prior at mid SNR:
    the single prior passes the band the example does not have. Each component holds a tenth
    of the class mean (COMPONENT_FLOOR)."""
    torch.manual_seed(0)
    mixed = build_denoiser("spectral", num_classes=None, prior="corpus", prior_frames=FRAMES, prior_components=2,
                           **SMALL).double()
    single = _net(num_classes=None).double()
    corpus = torch.cat([_coloured(16, True, 0), _coloured(16, False, 1)]).double()
    mixed.fit_corpus_prior(corpus)
    single.fit_corpus_prior(corpus)
    assert mixed.corpus_power.shape == (1, 2, 257, FRAMES)
    assert torch.allclose(mixed.corpus_log_weight.exp(), torch.full((1, 2), 0.5, dtype=torch.float64))
    x0 = torch.cat([_coloured(2, True, 5), _coloured(2, False, 6)]).double()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for logsnr in (-4.0, 0.0, 4.0):
        a2 = 1 / (1 + math.exp(-logsnr))
        x_t = math.sqrt(a2) * x0 + math.sqrt(1 - a2) * noise
        level = torch.full((4,), logsnr, dtype=torch.float64)
        with torch.no_grad():
            out, base = mixed(x_t, level), single(x_t, level)
        expected = _exact_mixture_mean(x_t, logsnr, mixed.corpus_power[0].double(), mixed.corpus_log_weight[0])
        assert torch.allclose(out, expected, atol=1e-6), logsnr
        if logsnr >= 0:
            error, single_error = (out - x0).pow(2).mean(), (base - x0).pow(2).mean()
            # largest where the noise buries the band the example lacks; at high SNR the
            # components' floor (a tenth of the class mean) passes some of it (0.79 of the error
            # at logsnr 0, 0.93 at 4)
            assert error < (0.85 if logsnr < 2 else 0.96) * single_error, (logsnr, float(error), float(single_error))


def test_a_class_conditioned_mixture_per_class_travels_in_the_state_dict():
    net = _net(num_classes=3, prior_components=4)
    x0 = torch.cat([_coloured(8, True, 0), _coloured(8, False, 1)])
    net.fit_corpus_prior(x0, torch.tensor([0] * 8 + [1] * 8))
    assert net.corpus_power.shape == (4, 4, 257, FRAMES) and net.corpus_log_weight.shape == (4, 4)
    assert torch.allclose(net.corpus_log_weight.exp().sum(1), torch.ones(4))
    assert torch.equal(net.corpus_power[2], net.corpus_power[3])  # no segments of class 2: the null class's
    # every component keeps a tenth of its class's mean power: none is silent where the class is not
    single = _net(num_classes=3)
    single.fit_corpus_prior(x0, torch.tensor([0] * 8 + [1] * 8))
    from wavediff.nn.corpus_prior import COMPONENT_FLOOR
    assert (net.corpus_power >= COMPONENT_FLOOR * single.corpus_power[:, None] * (1 - 1e-5)).all()
    copy = build_network(net.config.to_dict())
    copy.load_state_dict(net.state_dict())
    assert torch.equal(copy.corpus_log_weight, net.corpus_log_weight)
    with torch.no_grad():
        out = net(torch.randn(3, 1, LENGTH), torch.zeros(3), class_label=torch.tensor([0, 1, 3]))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="prior_components"):
        SpectralConfig(prior="none", prior_components=2)
