"""A mixture prior's components: clustered by pitch (``prior_clustering="spectrum"``), found for
a clean segment, drawn from a class's weights, and pinned one per clip (``pin_components``) in
the network, the sampler's binding and a training step."""

from __future__ import annotations

import math

import pytest
import torch

from wavediff.nn import SpectralConfig, build_denoiser

SMALL = dict(channels=32, blocks=2, kernel_size=3, expansion=2, embedding_dim=16, mlp_dim=32)
LENGTH = 4096
FRAMES = LENGTH // 128 + 1


def _notes(count: int = 16) -> tuple[torch.Tensor, list[int], list[int]]:
    """``count`` notes (16 kHz, ``LENGTH`` samples) of two pitches, 220 and 330 Hz with 4
    harmonics, each sounding either in the first 64 ms only or from then on: ``(x, pitch, envelope)``."""
    t = torch.arange(LENGTH) / 16000
    clips, pitch, envelope = [], [], []
    for i in range(count):
        p, e = i % 2, (i // 2) % 2
        phase = torch.rand(4, generator=torch.Generator().manual_seed(i)) * 2 * math.pi
        x = sum(torch.sin(2 * math.pi * (220, 330)[p] * (1 + 0.002 * i) * h * t + phase[h - 1]) / h for h in range(1, 5))
        clips.append(x * ((t < 0.064) if e == 0 else (t >= 0.064)).float())
        pitch.append(p)
        envelope.append(e)
    return torch.stack(clips)[:, None], pitch, envelope


def _power(x: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(512)
    return torch.stft(x[:, 0], 512, 128, window=window, return_complex=True).abs().square() / window.square().sum()


def _same_groups(assign: list[int], truth: list[int]) -> bool:
    return all(len({a for a, t in zip(assign, truth) if t == g}) == 1 for g in set(truth)) and len(set(assign)) == 2


def test_spectrum_clustering_groups_notes_by_pitch_where_the_spectrogram_groups_them_by_envelope():
    from wavediff.nn.corpus_prior import fit_components, kmeans

    x, pitch, envelope = _notes()
    power = _power(x)
    by_frame = kmeans(torch.log(power.double() + 1e-4).flatten(1), 2).tolist()
    by_spectrum = kmeans(torch.log(power.double().mean(-1) + 1e-4), 2).tolist()
    assert _same_groups(by_frame, envelope) and _same_groups(by_spectrum, pitch)
    # fit_components uses the same features: each component one pitch (its lines, both envelopes)
    components, log_weight = fit_components(power, 2, features="spectrum", restarts=3)
    assert torch.allclose(log_weight.exp(), torch.full((2,), 0.5, dtype=torch.float64))
    line = [int(power[pitch.index(p)].mean(-1).argmax()) for p in (0, 1)]  # each pitch's loudest bin
    for k in range(2):
        loud = int(components[k, line].mean(-1).argmax())
        assert components[k, line[loud]].mean() > 100 * components[k, line[1 - loud]].mean()
    with pytest.raises(ValueError, match="spectrogram"):
        fit_components(power, 2, features="mel")
    with pytest.raises(ValueError, match="restarts"):
        fit_components(power, 2, restarts=0)


def test_restarts_keep_the_run_of_least_inertia():
    from wavediff.nn.corpus_prior import _inertia, fit_components, kmeans

    power = torch.rand(40, 6, 2, generator=torch.Generator().manual_seed(3)).double() ** 4
    features = torch.log(power + 1e-4).flatten(1)
    runs = {seed: kmeans(features, 5, seed) for seed in range(2, 6)}
    best = min(runs, key=lambda seed: _inertia(features, runs[seed]))
    assert best != 2  # the first run is not the best one here: the restarts matter

    def shares(assign):
        counts = torch.bincount(assign, minlength=5).double()
        return (counts / counts.sum()).sort().values

    _, log_weight = fit_components(power, 5, seed=2, restarts=4)
    assert torch.allclose(log_weight.exp().sort().values, shares(runs[best]))
    assert not torch.allclose(shares(runs[best]), shares(runs[2]))


def _mixture_net(**changes):
    torch.manual_seed(0)
    net = build_denoiser("spectral", num_classes=2, prior="corpus", prior_frames=FRAMES, prior_components=2,
                         prior_clustering="spectrum", **{**SMALL, **changes})
    x, pitch, _ = _notes()
    net.fit_corpus_prior(x, torch.tensor([0] * 8 + [1] * 8))
    return net, x, pitch


def test_a_clean_segment_belongs_to_the_component_of_its_pitch_and_draws_follow_the_weights():
    net, x, pitch = _mixture_net()
    labels = torch.tensor([0] * 8 + [1] * 8)
    found = net.corpus_component(x, labels).tolist()
    for k in range(2):  # within each class, the two pitches get the two components
        members = [i for i in range(16) if labels[i] == k]
        assert _same_groups([found[i] for i in members], [pitch[i] for i in members])
    # draws follow the class's weights (1/2 each here), reproducibly for a generator
    many = torch.zeros(4000, dtype=torch.long)
    draws = net.draw_component(many, generator=torch.Generator().manual_seed(0))
    assert abs(draws.float().mean().item() - 0.5) < 0.03
    assert torch.equal(draws, net.draw_component(many, generator=torch.Generator().manual_seed(0)))
    # an unused component (weight 0) is never drawn
    net.corpus_log_weight[0] = torch.tensor([0.0, -math.inf])
    assert net.draw_component(many[:500]).eq(0).all()


def test_a_pinned_row_is_its_component_alone_and_minus_one_is_the_mixture():
    """Untrained (zero corrections): a row pinned to component k returns the Wiener mean under
    component k's power; a row with -1 the mixture's posterior mean, as without pinning."""
    net, x, _ = _mixture_net()
    net = net.double()
    x_t = 0.8 * x[[0, 1, 2]].double() + 0.6 * torch.randn(3, 1, LENGTH, generator=torch.Generator().manual_seed(1),
                                                           dtype=torch.float64)
    logsnr = torch.full((3,), math.log(0.64 / 0.36), dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    with torch.no_grad():
        free = net(x_t, logsnr, class_label=labels)
        pinned = net(x_t, logsnr, class_label=labels, prior_component=torch.tensor([1, -1, 0]))
    window = torch.hann_window(512, dtype=torch.float64)
    norm = math.sqrt(float(window.square().sum()))
    spec = torch.stft(x_t[:, 0], 512, 128, window=window, return_complex=True) / norm
    for row, (label, k) in enumerate([(0, 1), (2, None), (1, 0)]):
        if k is None:
            assert torch.allclose(pinned[row], free[row], atol=1e-9)
            continue
        p = net.corpus_power[label, k].double().clamp_min(1e-8)
        wiener = 0.8 * p / (0.64 * p + 0.36)
        expected = torch.istft(wiener * spec[row] * norm, 512, 128, window=window, length=LENGTH)
        assert torch.allclose(pinned[row, 0], expected, atol=1e-6)


def test_pinning_is_refused_where_there_is_no_mixture_or_no_such_component():
    net, x, _ = _mixture_net()
    with pytest.raises(ValueError, match=r"-1\.\.1"):
        net(x[:2], torch.zeros(2), class_label=torch.tensor([0, 1]), prior_component=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="entries"):
        net(x[:3], torch.zeros(3), class_label=torch.tensor([0, 1, 1]), prior_component=torch.tensor([0, 1]))
    single = build_denoiser("spectral", num_classes=2, prior="corpus", prior_frames=FRAMES, **SMALL)
    with pytest.raises(ValueError, match="prior_components"):
        single(x[:1], torch.zeros(1), class_label=torch.tensor([0]), prior_component=torch.tensor([0]))
    with pytest.raises(ValueError, match="mixture"):
        single.draw_component(torch.tensor([0]))
    with pytest.raises(ValueError, match="prior_components > 1"):
        SpectralConfig(prior="corpus", pin_components=True)
    with pytest.raises(ValueError, match="prior_clustering"):
        SpectralConfig(prior="corpus", prior_components=2, prior_clustering="mel")


def test_the_sampler_binds_a_drawn_component_and_guidance_keeps_the_mixture_unpinned():
    from wavediff.sampling import bind_condition, bind_denoiser

    net, x, _ = _mixture_net(pin_components=True)
    labels = torch.tensor([0, 1, 1, 0])
    bound = bind_condition(net, "class", class_label=labels, generator=torch.Generator().manual_seed(0))
    assert set(bound) == {"class_label", "prior_component"} and bound["prior_component"].shape == (4,)
    assert torch.equal(bound["prior_component"],
                       bind_condition(net, "class", class_label=labels,
                                      generator=torch.Generator().manual_seed(0))["prior_component"])
    given = torch.tensor([1, 0, 1, 1])
    assert torch.equal(bind_condition(net, "class", class_label=labels, prior_component=given)["prior_component"],
                       given)
    calls = []
    real_forward = net.forward

    def spy(*args, **kwargs):
        calls.append(kwargs.get("prior_component"))
        return real_forward(*args, **kwargs)

    net.forward = spy
    fn = bind_denoiser(net, "v", "class", class_label=labels, prior_component=given, guidance=2.0)
    with torch.no_grad():
        fn(torch.randn(4, 1, LENGTH), torch.zeros(4))
    # one batched call: the labelled half pinned, the null class's half the mixture
    assert torch.equal(calls[0], torch.cat([given, torch.full((4,), -1)]))
    unpinned = build_denoiser("spectral", num_classes=2, prior="corpus", prior_frames=FRAMES, prior_components=2,
                              **SMALL)
    assert set(bind_condition(unpinned, "class", class_label=labels)) == {"class_label"}
    with pytest.raises(ValueError, match="pin_components"):
        bind_condition(unpinned, "class", class_label=labels, prior_component=given)


def test_a_training_step_pins_each_labelled_segment_to_its_component_and_sampling_draws_one():
    """The training module hands the network each labelled example's own component (a dropped
    label: -1, the mixture), a batch without audio drawn ones, and the model samples pinned."""
    from wavediff.sampling import sample_model
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module

    recipe = load_recipe("demo", [f"data.segment_samples={LENGTH}",
                                  "model.overrides={prior: corpus, prior_components: 2, prior_clustering: spectrum, "
                                  "pin_components: true, channels: 32, blocks: 2, kernel_size: 3, expansion: 2, "
                                  "embedding_dim: 16, mlp_dim: 32}",
                                  "diffusion.data_scale=1"])
    module = build_module(recipe, 16000, None, ["low", "high"], None)
    x, pitch, _ = _notes()
    labels = torch.tensor([0] * 8 + [1] * 8)
    module.net.fit_corpus_prior(x, labels)
    module.ema.model.load_state_dict(module.net.state_dict())
    batch = {"audio": x, "label": labels}
    cond = module._cond(batch, torch.Generator().manual_seed(0), drop=0.5)
    dropped = cond["class_label"] == module.net.null_class
    assert 0 < int(dropped.sum()) < 16
    own = module.net.corpus_component(x, labels)
    assert torch.equal(cond["prior_component"][~dropped], own[~dropped])
    assert cond["prior_component"][dropped].eq(-1).all()
    drawn = module._cond({"label": labels}, torch.Generator().manual_seed(0))["prior_component"]
    assert drawn.shape == (16,) and drawn.ge(0).all()
    loss, _ = module.batch_loss(batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    audio = sample_model(module, 2, LENGTH, steps=2, class_label=torch.tensor([0, 1]),
                         generator=torch.Generator().manual_seed(0))
    assert audio.shape == (2, 1, LENGTH) and torch.isfinite(audio).all()
