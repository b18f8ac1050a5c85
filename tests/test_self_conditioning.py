"""Self-conditioning: the training pass, the sampling state, the network's input and the
binding that hands each sampling call the estimate of the call before."""

from __future__ import annotations

import pytest
import torch

from wavediff.diffusion import SelfConditioning, get_schedule, sample, self_conditioned_training
from wavediff.nn import build_denoiser
from wavediff.sampling import bind_denoiser

SMALL = dict(channels=16, blocks=1, kernel_size=3, expansion=1, embedding_dim=16, mlp_dim=16)


class Spy(torch.nn.Module):
    """Predicts ``x0 = 0.5 x_t (+ self_cond)`` and records every ``self_cond`` it was given."""

    self_conditioning = True
    null_class = 2

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.5))
        self.seen: list[torch.Tensor | None] = []

    def forward(self, x_t, logsnr, class_label=None, self_cond=None):
        self.seen.append(None if self_cond is None else self_cond.detach().clone())
        return self.scale * x_t + (0 if self_cond is None else self_cond)


def test_training_gives_a_share_of_examples_the_first_pass_estimate():
    x_t, logsnr = torch.randn(400, 1, 8), torch.zeros(400)
    for rate in (0.0, 0.5, 1.0):
        spy = Spy()
        out = self_conditioned_training(spy, "x0", torch.Generator().manual_seed(0), rate=rate)(x_t, logsnr)
        first, second = spy.seen
        assert first is None
        given = second.flatten(1).abs().sum(1) > 0
        assert torch.allclose(second[given], 0.5 * x_t[given])  # the first pass's x0_hat
        assert abs(float(given.float().mean()) - rate) < 0.08, rate
        out.sum().backward()  # gradients through the second pass only
        assert torch.allclose(spy.scale.grad, x_t.sum())
    with pytest.raises(ValueError, match="rate"):
        self_conditioned_training(Spy(), "x0", rate=1.5)
    plain = build_denoiser("spectral", **SMALL)
    assert self_conditioned_training(plain, "v") is plain  # a network without self-conditioning trains as it is


def test_training_converts_the_first_pass_to_x0():
    spy = Spy()
    x_t, logsnr = torch.randn(64, 1, 8), torch.full((64,), 1.0)
    self_conditioned_training(spy, "v", torch.Generator().manual_seed(0), rate=1.0)(x_t, logsnr)
    alpha, sigma = torch.sigmoid(logsnr[0]).sqrt(), torch.sigmoid(-logsnr[0]).sqrt()
    assert torch.allclose(spy.seen[1], alpha * x_t - sigma * 0.5 * x_t, atol=1e-6)


def test_sampling_state_hands_on_clamped_estimates_to_both_guidance_branches():
    spy = Spy()
    state = SelfConditioning(spy, bound=1.0)
    x = torch.randn(3, 1, 8)
    state(x, torch.zeros(3))
    state.remember(torch.full((3, 1, 8), 5.0))
    state(torch.cat([x, x]), torch.zeros(6))
    assert spy.seen[0] is None and torch.equal(spy.seen[1], torch.ones(6, 1, 8))
    with pytest.raises(ValueError, match="batch"):
        state(torch.randn(4, 1, 8), torch.zeros(4))


def test_bound_denoiser_hands_each_call_the_guided_estimate_of_the_one_before():
    spy = Spy()
    labels = torch.tensor([0, 1])
    fn = bind_denoiser(spy, "x0", "class", class_label=labels, guidance=2.0)
    outputs = []
    sample(lambda x, ls: outputs.append(fn(x, ls)) or outputs[-1], (2, 1, 8), get_schedule("cosine"), 3, "ddim",
           generator=torch.Generator().manual_seed(0))
    assert spy.seen[0] is None
    for before, seen in zip(outputs, spy.seen[1:]):
        assert torch.equal(seen, torch.cat([before, before]))  # both branches of the guided call
    spy.seen.clear()
    plain = bind_denoiser(spy, "x0", "class", class_label=labels, guidance=2.0, self_condition=False)
    plain(torch.randn(2, 1, 8), torch.zeros(2))
    plain(torch.randn(2, 1, 8), torch.zeros(2))
    assert spy.seen == [None, None]


def test_the_spectral_network_reads_its_estimate():
    torch.manual_seed(0)
    net = build_denoiser("spectral", num_classes=2, prior="corpus", frequency_layers=1, self_conditioning=True,
                         **SMALL).eval()
    assert net.self_conditioning and net.input_proj.in_channels == 7 * 257
    with torch.no_grad():
        net.output_proj.weight.normal_(0, 0.05)
        net.frequency.output.weight.normal_(0, 0.05)
    x_t, logsnr = torch.randn(2, 1, 4000), torch.zeros(2)
    estimate = torch.randn(2, 1, 4000)
    with torch.no_grad():
        none = net(x_t, logsnr, class_label=0)
        zeros = net(x_t, logsnr, class_label=0, self_cond=torch.zeros_like(x_t))
        given = net(x_t, logsnr, class_label=0, self_cond=estimate)
    assert torch.equal(none, zeros)
    assert float((given - none).abs().max()) > 1e-3
    with pytest.raises(ValueError, match="shape of x_t"):
        net(x_t, logsnr, class_label=0, self_cond=estimate[..., :100])
    plain = build_denoiser("spectral", **SMALL)
    assert not plain.self_conditioning
    with pytest.raises(ValueError, match="self_conditioning=False"):
        plain(x_t, logsnr, self_cond=estimate)


def test_a_self_conditioned_recipe_trains_and_samples_through_the_module(monkeypatch):
    """The training module's loss runs the first pass, and sample_model hands each step the
    estimate of the step before; a distilled student's plan gets none."""
    from wavediff.sampling import SamplingPlan, sample_x0
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module

    recipe = load_recipe("demo", [
        "model.overrides={prior: corpus, frequency_layers: 1, self_conditioning: true, channels: 16, blocks: 1, "
        "kernel_size: 3, expansion: 1, embedding_dim: 16, mlp_dim: 16, frequency_channels: 4}",
        "data.segment_samples=2000", "data.batch_size=2"])
    module = build_module(recipe, 16000, None, ["a", "b"], None)
    net = module.net
    assert net.self_conditioning
    calls: list[bool] = []
    original = type(net).forward

    def spy(self, *args, self_cond=None, **kwargs):
        calls.append(self_cond is not None)
        return original(self, *args, self_cond=self_cond, **kwargs)

    monkeypatch.setattr(type(net), "forward", spy)
    batch = {"audio": 0.1 * torch.randn(2, 1, 2000), "label": torch.tensor([0, 1])}
    loss, _ = module.batch_loss(batch, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and calls == [False, True]  # first pass, then the second with the estimate
    calls.clear()
    x0 = sample_x0(module, SamplingPlan("plain", "ddpm", 3, grid="uniform_logsnr", guidance=1.5), (2, 1, 2000),
                   class_label=torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x0).all() and calls == [False, True, True]
    calls.clear()
    bind_denoiser(net, "v", "class", class_label=torch.tensor([0, 1]), self_condition=False)(
        torch.randn(2, 1, 2000), torch.zeros(2))
    assert calls == [False]
