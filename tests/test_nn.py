"""Tests of the denoiser network package (wavediff.nn). CPU only, a few seconds."""

from __future__ import annotations

import json
import math

import pytest
import torch

from wavediff.nn import PRESETS, DenoiserConfig, DiffWave, build_denoiser, factorize_hop
from wavediff.nn.embeddings import LogSNRFourierFeatures

from reference_denoiser import reference_forward


pytestmark = pytest.mark.usefixtures("one_thread")


def _randomize_head(net: DiffWave, seed: int = 0) -> DiffWave:
    """Replace the zero-initialised output conv by random weights (so outputs depend on inputs)."""
    g = torch.Generator().manual_seed(seed)
    w = net.output_proj.weight
    with torch.no_grad():
        w.copy_(torch.randn(w.shape, generator=g, dtype=w.dtype) / math.sqrt(w.shape[1]))
        net.output_proj.bias.copy_(torch.randn(net.output_proj.bias.shape, generator=g, dtype=w.dtype))
    return net


def _tiny(**kwargs) -> DiffWave:
    torch.manual_seed(0)
    return build_denoiser("tiny", **kwargs)


# ---------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("length", [1001, 1024])
@pytest.mark.parametrize("kind", ["unconditional", "class", "mel_floor", "mel_ceil"])
def test_output_shape_matches_input(length, kind):
    hop = 256
    kwargs = {
        "class": dict(num_classes=5),
        "mel_floor": dict(mel_bins=12, hop=hop),
        "mel_ceil": dict(mel_bins=12, hop=hop),
    }
    net = _randomize_head(_tiny(**kwargs.get(kind, {})))
    x = torch.randn(3, 1, length)
    logsnr = torch.tensor([-15.0, 0.0, 12.0])
    call = {}
    if kind == "class":
        call["class_label"] = torch.tensor([0, 4, net.null_class])
    elif kind.startswith("mel"):
        frames = length // hop if kind == "mel_floor" else -(-length // hop)
        call["mel"] = torch.randn(3, 12, frames)
    out = net(x, logsnr, **call)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    assert out.abs().sum() > 0


def test_untrained_network_outputs_exact_zero():
    net = _tiny(mel_bins=10, hop=200, num_classes=3)
    x = torch.randn(2, 1, 999) * 3
    out = net(x, torch.tensor([-20.0, 20.0]), mel=torch.randn(2, 10, 5), class_label=torch.tensor([1, 3]))
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(out))
    # The zeros come from the output head, not from a dead network.
    _randomize_head(net)
    out = net(x, torch.tensor([-20.0, 20.0]), mel=torch.randn(2, 10, 5), class_label=torch.tensor([1, 3]))
    assert out.abs().min() > 0


def test_scalar_logsnr_broadcasts_and_float64_works():
    net = _randomize_head(_tiny()).double()
    x = torch.randn(2, 1, 300, dtype=torch.float64)
    a = net(x, 1.5)
    b = net(x, torch.full((2,), 1.5, dtype=torch.float64))
    assert a.dtype == torch.float64
    assert torch.equal(a, b)
    # logsnr is a real input: changing it changes the output
    assert not torch.allclose(a, net(x, -1.5))


@pytest.mark.parametrize("build", [dict(), dict(mel_bins=5, hop=64, num_classes=3), dict(kernel_size=2)])
def test_matches_plain_reference_with_and_without_autograd(build):
    net = _randomize_head(_tiny(**build)).double()
    x = torch.randn(2, 1, 640, dtype=torch.float64)
    logsnr = torch.tensor([-3.0, 7.0], dtype=torch.float64)
    mel = torch.randn(2, 5, 10, dtype=torch.float64) if "mel_bins" in build else None
    labels = torch.tensor([0, 3]) if "num_classes" in build else None
    call = dict(mel=mel, class_label=labels)
    ref = reference_forward(net, x, logsnr, mel, labels)
    with torch.no_grad():  # in-place inference path
        fast = net(x, logsnr, **call)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    with torch.inference_mode():
        torch.testing.assert_close(net(x, logsnr, **call), ref, rtol=1e-10, atol=1e-12)
    # autograd path: same values and same gradients
    xg = x.clone().requires_grad_(True)
    out = net(xg, logsnr, **call)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    params = [p for p in net.parameters()]
    grads = torch.autograd.grad(out.square().sum(), [xg] + params, allow_unused=True)
    xr = x.clone().requires_grad_(True)
    ref_grads = torch.autograd.grad(
        reference_forward(net, xr, logsnr, mel, labels).square().sum(), [xr] + params, allow_unused=True
    )
    for g, r in zip(grads, ref_grads):
        if r is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("block_bytes", [64, 70_000, 2**20])
def test_inference_blocks_and_groups_give_the_same_result(monkeypatch, block_bytes):
    """Without autograd the network runs in blocks of columns (groups of batch elements x
    time spans, see nn/fast.py); the block size changes no result."""
    import wavediff.nn.fast as fast

    net = _randomize_head(_tiny(mel_bins=5, hop=64, num_classes=3)).double()
    x = torch.randn(5, 1, 300, dtype=torch.float64)
    logsnr = torch.linspace(-10, 10, 5, dtype=torch.float64)
    mel = torch.randn(5, 5, 5, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 1])
    full = net(x, logsnr, mel=mel, class_label=labels)  # autograd on: the plain modules
    monkeypatch.setattr(fast, "CPU_BLOCK_BYTES", block_bytes)
    with torch.no_grad():
        blocked = net(x, logsnr, mel=mel, class_label=labels)
    torch.testing.assert_close(blocked, full, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- mel conditioning
@pytest.mark.parametrize("hop", [200, 256, 300, 251])
def test_mel_upsampling_lengths_for_any_hop(hop):
    net = _randomize_head(_tiny(mel_bins=6, hop=hop))
    assert math.prod(net.mel_upsampler.factors) == hop
    for length in (3 * hop, 3 * hop + hop // 2 + 1):  # multiple of hop, and an odd remainder
        x = torch.randn(2, 1, length)
        logsnr = torch.zeros(2)
        floor_frames, ceil_frames = length // hop, -(-length // hop)
        for frames in {floor_frames, ceil_frames}:
            mel = torch.randn(2, 6, frames)
            up = net.mel_upsampler(mel)
            assert up.shape == (2, 6, frames * hop)
            cond = net.condition(mel=mel)
            fitted = cond.mel_for_length(length)
            assert fitted.shape == (2, 6, length)
            covered = min(length, frames * hop)
            assert torch.equal(fitted[..., :covered], up[..., :covered])
            if length > covered:  # too few frames: the last sample is repeated
                assert torch.equal(fitted[..., covered:], up[..., -1:].expand(-1, -1, length - covered))
            assert net(x, logsnr, mel=mel).shape == x.shape
        for frames in (floor_frames - 1, ceil_frames + 1):
            with pytest.raises(ValueError) as info:
                net(x, logsnr, mel=torch.randn(2, 6, frames))
            msg = str(info.value)
            assert f"mel has {frames} frames" in msg
            assert f"{length} samples" in msg and f"hop {hop}" in msg
            assert str(floor_frames) in msg and str(ceil_frames) in msg


def test_short_input_needs_one_frame():
    net = _tiny(mel_bins=4, hop=256)
    x = torch.randn(1, 1, 100)  # T // hop == 0: only ceil(T / hop) == 1 is valid
    assert net(x, torch.zeros(1), mel=torch.randn(1, 4, 1)).shape == x.shape
    with pytest.raises(ValueError, match="expected 1 frames"):
        net(x, torch.zeros(1), mel=torch.randn(1, 4, 2))


def test_upsampled_frame_is_aligned_with_its_samples():
    # Sample n must depend on mel frame n // hop, and only on frames within one of it.
    hop = 300
    net = _tiny(mel_bins=3, hop=hop).double()
    frames = 6
    mel = torch.randn(1, 3, frames, dtype=torch.float64, requires_grad=True)
    up = net.mel_upsampler(mel)
    for n in (0, 149, 150, 299, 300, 451, 1000, frames * hop - 1):
        (grad,) = torch.autograd.grad(up[0, 1, n], mel, retain_graph=True)
        touched = (grad[0].abs().sum(0) > 0).nonzero().flatten().tolist()
        assert n // hop in touched, (n, touched)
        assert all(abs(f - n // hop) <= 1 for f in touched), (n, touched)


@pytest.mark.parametrize("hop", [200, 256, 300, 251])
def test_upsampled_frame_is_centred_on_its_block(hop):
    # Changing frame i changes a contiguous run of samples that covers its block
    # [i * hop, (i + 1) * hop) and extends equally (to one sample) on both sides.
    net = _tiny(mel_bins=3, hop=hop).double()
    mel = torch.randn(1, 3, 8, dtype=torch.float64)
    i = 4
    bumped = mel.clone()
    bumped[:, :, i] += 1.0
    with torch.no_grad():
        changed = (net.mel_upsampler(bumped) - net.mel_upsampler(mel)).abs().sum(1)[0] > 0
    idx = changed.nonzero().flatten()
    first, last = int(idx[0]), int(idx[-1])
    assert len(idx) == last - first + 1
    left, right = i * hop - first, last - ((i + 1) * hop - 1)
    assert left >= 0 and right >= 0
    assert abs(left - right) <= 1, (left, right)


def test_factorize_hop():
    assert factorize_hop(256) == (16, 16)
    assert factorize_hop(251) == (251,)
    assert factorize_hop(1) == ()
    for hop in range(1, 700):
        factors = factorize_hop(hop)
        assert math.prod(factors) == hop
        assert len(factors) <= 3
        assert all(f >= 2 for f in factors)
    # a composite hop with a factorisation into stages <= 32 gets one
    assert max(factorize_hop(300)) <= 32 and max(factorize_hop(2048)) <= 32
    with pytest.raises(ValueError):
        factorize_hop(0)


def test_explicit_upsample_factors():
    net = _tiny(mel_bins=4, hop=256, upsample_factors=(4, 4, 16))
    assert net.mel_upsampler.factors == (4, 4, 16)
    assert net(torch.randn(1, 1, 600), torch.zeros(1), mel=torch.randn(1, 4, 3)).shape == (1, 1, 600)
    with pytest.raises(ValueError, match="multiply to 64"):
        _tiny(mel_bins=4, hop=256, upsample_factors=(8, 8))


def test_conditioning_reuse_is_bit_identical():
    net = _randomize_head(_tiny(mel_bins=8, hop=128, num_classes=4))
    x = torch.randn(2, 1, 777)
    mel = torch.randn(2, 8, 777 // 128)
    labels = torch.tensor([2, net.null_class])
    cond = net.condition(mel=mel, class_label=labels)
    for logsnr in (torch.tensor([-8.0, 3.0]), torch.tensor([5.0, 5.0])):
        direct = net(x, logsnr, mel=mel, class_label=labels)
        reused = net(x, logsnr, cond=cond)
        assert torch.equal(direct, reused)
        assert direct.abs().sum() > 0
    with pytest.raises(ValueError, match="either cond"):
        net(x, torch.zeros(2), mel=mel, class_label=labels, cond=cond)
    # a cond made for another network shape is refused
    other = _tiny(mel_bins=8, hop=64, num_classes=4)
    with pytest.raises(ValueError, match="hop"):
        net(x, torch.zeros(2), cond=other.condition(mel=torch.randn(2, 8, 12), class_label=labels))


def test_mel_changes_output():
    net = _randomize_head(_tiny(mel_bins=8, hop=128))
    x = torch.randn(1, 1, 512)
    a = net(x, torch.zeros(1), mel=torch.randn(1, 8, 4))
    b = net(x, torch.zeros(1), mel=torch.randn(1, 8, 4))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "build, call, pattern",
    [
        (
            dict(mel_bins=8, hop=100),
            dict(mel=torch.randn(2, 7, 10)),
            r"expected mel of shape \(B, 8, frames\).*got shape \(2, 7, 10\)",
        ),
        (dict(mel_bins=8, hop=100), dict(mel=torch.randn(2, 8, 13)), r"mel has 13 frames.*expected 10 frames"),
        (dict(mel_bins=8, hop=100), dict(), r"mel-conditioned: expected mel of shape \(B, 8, frames\), got None"),
        (dict(), dict(mel=torch.randn(2, 8, 10)), r"not mel-conditioned"),
        (dict(mel_bins=8, hop=100), dict(mel=torch.randn(3, 8, 10)), r"mel has batch size 3 but x_t has batch size 2"),
        (
            dict(mel_bins=8, hop=100),
            dict(mel=torch.randn(2, 8)),
            r"expected mel of shape \(B, 8, frames\).*got shape \(2, 8\)",
        ),
    ],
)
def test_mel_errors_are_informative(build, call, pattern):
    net = _tiny(**build)
    with pytest.raises(ValueError, match=pattern):
        net(torch.randn(2, 1, 1000), torch.zeros(2), **call)


@pytest.mark.parametrize(
    "x, logsnr, pattern",
    [
        (torch.randn(2, 2, 100), torch.zeros(2), r"expected x_t of shape \(B, 1, T\).*got shape \(2, 2, 100\)"),
        (torch.randn(2, 100), torch.zeros(2), r"expected x_t of shape \(B, 1, T\).*got shape \(2, 100\)"),
        (torch.randn(2, 1, 100), torch.zeros(3), r"expected logsnr of shape \(2,\).*got \(3,\)"),
        (torch.randn(2, 1, 100), torch.zeros(2, 1), r"expected logsnr of shape \(2,\).*got \(2, 1\)"),
        (torch.randn(2, 1, 100), torch.zeros(2, dtype=torch.long), r"logsnr must be a float tensor"),
    ],
)
def test_input_errors_are_informative(x, logsnr, pattern):
    with pytest.raises(ValueError, match=pattern):
        _tiny()(x, logsnr)


# ---------------------------------------------------------------------------- classes
def test_class_conditioning_and_null_class():
    net = _randomize_head(_tiny(num_classes=3))
    assert net.null_class == 3
    assert _tiny().null_class is None
    x = torch.randn(2, 1, 400)
    logsnr = torch.zeros(2)
    null = net(x, logsnr, class_label=torch.full((2,), net.null_class))
    real = net(x, logsnr, class_label=torch.tensor([0, 2]))
    assert null.shape == x.shape
    assert not torch.allclose(null, real)  # the label reaches the output
    # an int (or a (1,) tensor) labels the whole batch
    assert torch.equal(net(x, logsnr, class_label=1), net(x, logsnr, class_label=torch.tensor([1, 1])))
    assert torch.equal(net(x, logsnr, class_label=torch.tensor([1])), net(x, logsnr, class_label=1))
    for bad in (torch.tensor([0, 4]), torch.tensor([-1, 0])):
        with pytest.raises(ValueError, match=r"class_label out of range.*expected 0 \.\. 2 or the null class 3"):
            net(x, logsnr, class_label=bad)
    with pytest.raises(ValueError, match="integer tensor"):
        net(x, logsnr, class_label=torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="class-conditioned.*got None"):
        net(x, logsnr)
    with pytest.raises(ValueError, match="batch size 3 but x_t has batch size 2"):
        net(x, logsnr, class_label=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="not class-conditioned"):
        _tiny()(x, logsnr, class_label=torch.tensor([0, 1]))


# ---------------------------------------------------------------------------- receptive field
@pytest.mark.parametrize("kernel_size, cycle, layers", [(3, 3, 6), (2, 2, 5), (5, 3, 4)])
def test_receptive_field_matches_gradient_probe(kernel_size, cycle, layers):
    torch.manual_seed(0)
    net = build_denoiser(
        "tiny", kernel_size=kernel_size, dilation_cycle=cycle, residual_layers=layers, residual_channels=8
    ).double()
    _randomize_head(net, seed=1)
    expected = 1 + sum((kernel_size - 1) * 2 ** (i % cycle) for i in range(layers))
    assert net.receptive_field == expected
    length = 3 * expected + 11
    x = torch.randn(1, 1, length, dtype=torch.float64, requires_grad=True)
    out = net(x, torch.tensor([0.5], dtype=torch.float64))
    n = length // 2
    (grad,) = torch.autograd.grad(out[0, 0, n], x)
    nonzero = (grad[0, 0] != 0).nonzero().flatten()
    assert len(nonzero) == net.receptive_field
    assert int(nonzero[-1] - nonzero[0]) + 1 == net.receptive_field  # consecutive
    assert int(nonzero[0]) <= n <= int(nonzero[-1])


def test_receptive_field_of_presets():
    assert DiffWave(PRESETS["tiny"]).receptive_field == 1 + 2 * 2 * (1 + 2 + 4)
    assert DiffWave(PRESETS["base"]).receptive_field == 1 + 2 * 3 * (2**10 - 1)


# ---------------------------------------------------------------------------- size
def test_base_parameter_count_close_to_diffwave_base():
    net = build_denoiser("base", mel_bins=80, hop=256)
    n = net.num_parameters()
    assert abs(n - 2.6e6) / 2.6e6 < 0.05, n
    assert net.num_parameters(trainable_only=True) == n
    # 4x the residual-stack parameters at twice the width
    assert build_denoiser("large").num_parameters() > 2.5 * build_denoiser("base").num_parameters()


def test_build_denoiser_errors():
    with pytest.raises(ValueError, match="unknown denoiser preset 'huge'.*tiny, base, large"):
        build_denoiser("huge")
    with pytest.raises(ValueError, match="unknown DenoiserConfig key.*residual_chanels"):
        build_denoiser("tiny", residual_chanels=4)


# ---------------------------------------------------------------------------- embedding
def test_logsnr_features_resolve_the_range():
    feats = LogSNRFourierFeatures(128)
    grid = torch.linspace(-20, 20, 1001)  # spacing 0.04, a 1000-step grid
    f = feats(grid)
    assert f.shape == (1001, 128)
    # neighbouring grid points are clearly distinguishable ...
    step = (f[1:] - f[:-1]).norm(dim=1)
    assert step.min() > 0.2
    # ... and far-apart levels are never confused with nearby ones
    dist = torch.cdist(f[::50], f[::50])
    off_diagonal = dist + torch.eye(dist.shape[0]) * 1e9
    assert off_diagonal.min() > step.max()
    # the slowest pair is a monotone code of logsnr over [-20, 20]
    slow_sin = f[:, 0]
    assert (slow_sin[1:] > slow_sin[:-1]).all()


# ---------------------------------------------------------------------------- training
def test_overfits_one_batch():
    torch.manual_seed(0)
    net = build_denoiser("tiny")
    batch, length = 4, 256
    n = torch.arange(length)
    x0 = 0.5 * torch.sin(2 * math.pi * torch.tensor([3.0, 5.0, 7.0, 11.0])[:, None] * n / length)[:, None, :]
    logsnr = torch.tensor([-4.0, -1.0, 1.0, 4.0])
    alpha = torch.sigmoid(logsnr).sqrt()[:, None, None]
    sigma = torch.sigmoid(-logsnr).sqrt()[:, None, None]
    eps = torch.randn(batch, 1, length)
    x_t = alpha * x0 + sigma * eps
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss = (net(x_t, logsnr) - eps).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


# ---------------------------------------------------------------------------- config
def test_config_round_trip():
    configs = list(PRESETS.values()) + [
        PRESETS["base"].replace(mel_bins=80, hop=300, num_classes=7, upsample_factors=(20, 15)),
        DenoiserConfig(mel_bins=100, hop=251),
    ]
    for config in configs:
        data = config.to_dict()
        assert type(config).from_dict(data) == config
        assert type(config).from_dict(json.loads(json.dumps(data))) == config
    net = build_denoiser("tiny", mel_bins=8, hop=64, num_classes=2)
    rebuilt = DiffWave(DenoiserConfig.from_dict(net.config.to_dict()))
    rebuilt.load_state_dict(net.state_dict())  # same architecture, same parameter shapes


def test_config_from_dict_rejects_unknown_keys():
    data = PRESETS["tiny"].to_dict()
    data["channels"] = 3
    data["dropout"] = 0.1
    with pytest.raises(ValueError) as info:
        DenoiserConfig.from_dict(data)
    msg = str(info.value)
    assert "channels" in msg and "dropout" in msg
    assert "valid keys" in msg and "residual_channels" in msg and "mel_bins" in msg


@pytest.mark.parametrize(
    "changes, pattern",
    [
        (dict(residual_layers=0), "residual_layers must be >= 1"),
        (dict(embedding_dim=33), "embedding_dim must be even"),
        (dict(hop=2.5), "hop must be an int"),
        (dict(mel_bins=0), "mel_bins must be >= 1"),
        (dict(hop=200, upsample_factors=(16, 16)), "multiply to 256, expected hop=200"),
    ],
)
def test_config_rejects_invalid_values(changes, pattern):
    with pytest.raises(ValueError, match=pattern):
        PRESETS["tiny"].replace(**changes)


def test_noise_embedding_option():
    """``noise_embedding="diffwave_step"`` (imported DiffWave reference checkpoints) swaps the
    embedding module only; the default stays the logsnr Fourier embedding."""
    from wavediff.nn import DiffWaveStepEmbedding, NoiseLevelEmbedding

    default = build_denoiser("tiny")
    assert default.config.noise_embedding == "fourier" and default.config.step_betas is None
    assert isinstance(default.noise_embedding, NoiseLevelEmbedding)
    betas = [1e-4, 1e-3, 1e-2, 0.05]
    net = build_denoiser("tiny", mel_bins=8, hop=16, noise_embedding="diffwave_step", step_betas=betas)
    assert isinstance(net.noise_embedding, DiffWaveStepEmbedding)
    assert net.state_dict().keys() == build_denoiser("tiny", mel_bins=8, hop=16).state_dict().keys()
    data = json.loads(json.dumps(net.config.to_dict()))
    assert data["step_betas"] == betas and DenoiserConfig.from_dict(data) == net.config
    with pytest.raises(ValueError, match="needs step_betas"):
        DenoiserConfig(noise_embedding="diffwave_step")
    with pytest.raises(ValueError, match="only used with noise_embedding='diffwave_step'"):
        DenoiserConfig(step_betas=(0.1,))
    with pytest.raises(ValueError, match="noise_embedding must be one of"):
        DenoiserConfig(noise_embedding="steps")
    with pytest.raises(ValueError, match=r"step_betas must lie in \(0, 1\)"):
        DenoiserConfig(noise_embedding="diffwave_step", step_betas=(0.1, 1.5))
    x = torch.randn(2, 1, 64)
    with torch.no_grad():  # half precision and any batch of noise levels run
        out = net.to(torch.bfloat16)(x.to(torch.bfloat16), torch.tensor([8.0, -3.0]), mel=torch.rand(2, 8, 4))
    assert out.shape == (2, 1, 64) and out.dtype == torch.bfloat16
