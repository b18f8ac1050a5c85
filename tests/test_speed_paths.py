"""The fast paths compute what the plain ones do: the fused inference path of the denoiser
(nn/fast.py), the matmul form of the mel upsampler, the piecewise mel of long audio, and
automatic chunking of long vocoder inputs. CPU only, tiny models, a few seconds."""

from __future__ import annotations

import math
import threading

import pytest
import torch
import torch.nn.functional as F

import wavediff.nn.fast as fast
from wavediff.audio.mel import LogMel, MelConfig
from wavediff.nn import build_denoiser
from wavediff.nn.conditioners import LEAKY_RELU_SLOPE, _UpsampleStage

from reference_denoiser import reference_forward


pytestmark = pytest.mark.usefixtures("one_thread")


def _random_net(seed: int = 0, **build):
    """A network whose every parameter (zero-initialised head, biases included) is random."""
    torch.manual_seed(seed)
    net = build_denoiser(build.pop("preset", "tiny"), **build).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = math.prod(p.shape[1:]) if p.dim() > 1 else 100  # biases: 0.1
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / math.sqrt(fan_in))
    return net


CASES = [
    (dict(), 2, 640),
    (dict(mel_bins=5, hop=64, num_classes=3), 3, 1000),
    (dict(kernel_size=2), 2, 777),
    (dict(kernel_size=4, mel_bins=5, hop=64), 5, 3000),
    (dict(kernel_size=5, dilation_cycle=6, residual_layers=7), 1, 100),  # dilations longer than the clip
    (dict(mel_bins=4, hop=50, in_channels=2, out_channels=3), 2, 333),
    (dict(preset="base", residual_layers=11, mel_bins=8, hop=256), 2, 2 * 1024 + 7),
]


@pytest.mark.parametrize("build, batch, length", CASES)
@pytest.mark.parametrize("block_bytes, streams", [(None, 1), (8, 1), (70_000, 1), (8, 2), (70_000, 3)])
def test_fused_inference_matches_straightforward_network(build, batch, length, block_bytes, streams, monkeypatch):
    if block_bytes is not None:  # small blocks: many time blocks and batch groups
        monkeypatch.setattr(fast, "CPU_BLOCK_BYTES", block_bytes)
    # worker threads sharing the blocks (time ranges of a clip, or whole groups)
    monkeypatch.setattr(fast, "CPU_STREAMS", streams)
    net = _random_net(**build)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, net.config.in_channels, length, generator=g, dtype=torch.float64)
    logsnr = torch.linspace(-12, 12, batch, dtype=torch.float64)
    mel = labels = None
    if net.config.mel_bins is not None:
        mel = torch.randn(batch, net.config.mel_bins, -(-length // net.config.hop), generator=g, dtype=torch.float64)
    if net.config.num_classes is not None:
        labels = torch.arange(batch) % (net.config.num_classes + 1)
    with torch.no_grad():
        ref = reference_forward(net, x, logsnr, mel, labels)
    assert net._use_fast_path(x) is False  # autograd on, parameters train: the plain modules
    with torch.inference_mode():
        assert net._use_fast_path(x)
        out = net(x, logsnr, mel=mel, class_label=labels)
    scale = float(ref.abs().max())
    assert scale > 0.1
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10 * scale)
    plain = net(x, logsnr, mel=mel, class_label=labels)  # with autograd: the module path
    torch.testing.assert_close(plain, ref, rtol=0, atol=1e-10 * scale)


def test_fused_inference_in_float32():
    net = _random_net(preset="base", residual_layers=10, mel_bins=80, hop=256).float()
    x = torch.randn(1, 1, 4096)
    mel = torch.rand(1, 80, 16)
    with torch.no_grad():
        ref = reference_forward(net.double(), x.double(), torch.tensor([0.5], dtype=torch.float64), mel.double())
        net.float()
        out = net(x, torch.tensor([0.5]), mel=mel)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_fast_path_is_used_only_without_autograd_and_autocast(monkeypatch):
    net = _random_net().float()
    calls = []
    monkeypatch.setattr("wavediff.nn.diffwave.fast_forward", lambda *a, **k: calls.append(1) or fast.fast_forward(*a, **k))
    x = torch.randn(1, 1, 200)
    out = net(x, torch.zeros(1))
    out.sum().backward()  # training: the autograd path, gradients reach the parameters
    assert not calls and net.layers[0].dilated_conv.weight.grad is not None
    with torch.no_grad():
        net(x, torch.zeros(1))
    with torch.inference_mode():
        net(x, torch.zeros(1))
    assert len(calls) == 2
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        net(x, torch.zeros(1))
    assert len(calls) == 2
    # autograd on but nothing to record (a frozen copy, as the EMA model): fast path
    net.requires_grad_(False)
    frozen = net(x, torch.zeros(1))
    assert len(calls) == 3 and not frozen.requires_grad
    xg = x.clone().requires_grad_(True)  # ... unless an input wants a gradient
    net(xg, torch.zeros(1)).sum().backward()
    assert len(calls) == 3 and xg.grad is not None
    net.fast_inference = False
    with torch.no_grad():
        net(x, torch.zeros(1))
    assert len(calls) == 3


def test_folded_weights_follow_parameter_changes():
    net = _random_net(mel_bins=4, hop=32)
    x = torch.randn(2, 1, 256, dtype=torch.float64)
    mel = torch.randn(2, 4, 8, dtype=torch.float64)
    logsnr = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        before = net(x, logsnr, mel=mel)
        assert torch.equal(net(x, logsnr, mel=mel), before)  # cached weights, same result
        # an optimiser-style in-place update
        net.layers[2].dilated_conv.weight.add_(0.1)
        after = net(x, logsnr, mel=mel)
        assert not torch.allclose(after, before)
        torch.testing.assert_close(after, reference_forward(net, x, logsnr, mel), rtol=1e-10, atol=1e-10)
        # load_state_dict copies in place
        other = _random_net(seed=5, mel_bins=4, hop=32)
        net.load_state_dict(other.state_dict())
        torch.testing.assert_close(net(x, logsnr, mel=mel), other(x, logsnr, mel=mel), rtol=1e-12, atol=1e-12)
        # a dtype change makes new parameter tensors
        out32 = net.float()(x.float(), logsnr.float(), mel=mel.float())
        assert out32.dtype == torch.float32


def test_stream_workers_run_single_threaded():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pool = fast._StreamPool(2)
        seen = []
        pool.run([lambda: seen.append(torch.get_num_threads())] * 2)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_streams_report_errors_and_keep_the_caller_settings(monkeypatch):
    monkeypatch.setattr(fast, "CPU_STREAMS", 2)
    monkeypatch.setattr(fast, "CPU_BLOCK_BYTES", 8)
    net = _random_net(mel_bins=4, hop=32).float()
    threads = torch.get_num_threads()
    x, mel = torch.randn(1, 1, 4096), torch.randn(1, 4, 128)
    with torch.inference_mode():
        out = net(x, torch.zeros(1), mel=mel)
    assert torch.get_num_threads() == threads and torch.isfinite(out).all()
    # an error inside one stream reaches the caller instead of hanging the other
    update = fast._update

    def failing(*args):
        if threading.current_thread().name.endswith("-1"):
            raise RuntimeError("stream failure")
        update(*args)

    monkeypatch.setattr(fast, "_update", failing)
    with pytest.raises(RuntimeError, match="stream failure"), torch.inference_mode():
        net(x, torch.zeros(1), mel=mel)
    monkeypatch.setattr(fast, "_update", update)
    with torch.no_grad():  # the pool still works, and also outside inference mode
        torch.testing.assert_close(net(x, torch.zeros(1), mel=mel), out)


def test_state_dict_keys_are_unchanged():
    net = build_denoiser("base", mel_bins=80, hop=256)
    assert net.num_parameters() == 2_619_971
    keys = set(net.state_dict())
    layer = {f"layers.0.{k}" for k in ("embedding_proj.weight", "embedding_proj.bias", "dilated_conv.weight",
                                        "dilated_conv.bias", "mel_proj.weight", "mel_proj.bias",
                                        "output_proj.weight", "output_proj.bias")}
    assert layer <= keys
    assert {"mel_upsampler.stages.0.conv.weight", "mel_upsampler.stages.1.conv.bias", "input_proj.weight",
            "skip_proj.weight", "output_proj.bias"} <= keys
    assert not any("fast" in k for k in keys)


# ---------------------------------------------------------------------------- upsampler
@pytest.mark.parametrize("factor", [2, 3, 5, 16])
def test_upsample_stage_matches_transposed_conv(factor):
    torch.manual_seed(factor)
    stage = _UpsampleStage(factor).double()
    x = torch.randn(2, 1, 7, 9, dtype=torch.float64, requires_grad=True)

    def reference(inp):
        n = inp.shape[-1]
        y = F.conv_transpose2d(inp, stage.conv.weight, stage.conv.bias, stride=(1, factor), padding=(1, 0))
        return F.leaky_relu(y[..., factor // 2: factor // 2 + n * factor], LEAKY_RELU_SLOPE)

    ref, out = reference(x), stage(x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(out.square().sum(), [x, stage.conv.weight, stage.conv.bias])
    ref_grads = torch.autograd.grad(ref.square().sum(), [x, stage.conv.weight, stage.conv.bias])
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # the in-place inference branch
        torch.testing.assert_close(stage(x), ref, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- vocoder
@pytest.mark.parametrize("preset", ["diffwave", "hifigan"])
@pytest.mark.parametrize("length, extra", [(22050 + 17, 0), (256 * 40, 256), (5000, 700)])
def test_piecewise_mel_equals_whole_mel(preset, length, extra):
    from wavediff.vocoder import chunked_log_mel

    cfg = MelConfig.preset(preset)
    audio = 0.1 * torch.randn(1, length, generator=torch.Generator().manual_seed(0))
    whole = LogMel(cfg)(F.pad(audio, (0, extra)))
    for frames in (5, 16, 10_000):
        pieces = chunked_log_mel(audio, cfg, length + extra, frames)
        assert pieces.shape == whole.shape
        torch.testing.assert_close(pieces, whole, rtol=0, atol=1e-5)


def test_long_inputs_are_chunked_automatically_with_the_same_output(monkeypatch):
    import wavediff.vocoder as vocoder_module
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module, resolve_mel

    recipe = load_recipe("tiny-vocoder")
    mel_cfg = resolve_mel(recipe)
    torch.manual_seed(0)
    module = build_module(recipe, mel_cfg.sample_rate, mel_cfg, None, None).eval()
    with torch.no_grad():  # an untrained head outputs zeros: make the output depend on everything
        module.ema.model.output_proj.weight.normal_(0, 0.3)
    voc = vocoder_module.Vocoder(module)
    mel = voc.mel(0.1 * torch.randn(1, 3 * mel_cfg.sample_rate, generator=torch.Generator().manual_seed(1)))
    frames = mel.shape[-1]
    context = voc.context_frames(2)
    assert voc.auto_chunk_frames(frames, context) == frames  # short: one pass
    whole, _ = voc.vocode(mel, 2, "ddim", chunk_frames=frames)
    monkeypatch.setattr(vocoder_module, "MAX_PASS_SECONDS", 1.0)
    chunk = voc.auto_chunk_frames(frames, context)
    assert 2 * context <= chunk < frames
    calls = []
    auto, _ = voc.vocode(mel, 2, "ddim", progress=lambda done, total: calls.append(total))
    assert calls and calls[-1] == -(-frames // chunk) > 1
    torch.testing.assert_close(auto, whole, rtol=0, atol=1e-5)
