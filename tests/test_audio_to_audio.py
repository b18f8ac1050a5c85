"""Audio-to-audio (``wavediff sample --from``): strength near 0 gives the input back, strength 1
a fresh sample; the ODE-encoding mode inverts its own sampler; class and guidance apply."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from wavediff.audio_to_audio import audio_to_audio, strength_grid
from wavediff.train.config import load_recipe
from wavediff.train.module import load_module
from wavediff.train.run import train

SR = 16000
LENGTH = 2048


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny class-conditional model of the demo corpus (a few steps: the properties tested
    hold for any denoiser), with its output head randomised so the network matters."""
    tmp = tmp_path_factory.mktemp("a2a")
    recipe = load_recipe("demo", [
        "model.preset=tiny", "model.overrides={residual_layers: 2, residual_channels: 8, embedding_dim: 16, mlp_dim: 32}",
        f"data.root={tmp / 'demo'}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
        "data.segment_samples=1024", "data.batch_size=2", "data.valid_clips=2", "trainer.max_steps=2",
        "trainer.val_every=2", "trainer.checkpoint_every=2", "sample.steps=8"])
    last = train(recipe, tmp / "run", progress=False)
    module = load_module(last)
    torch.manual_seed(0)
    with torch.no_grad():
        module.ema.model.output_proj.weight.normal_(0, 0.05)
    return {"module": module, "ckpt": last, "tmp": tmp}


def _input(seed=0, f0=330.0):
    t = torch.arange(LENGTH) / SR
    noise = 0.02 * torch.randn(LENGTH, generator=torch.Generator().manual_seed(seed))
    return (0.3 * torch.sin(2 * torch.pi * f0 * t) * torch.exp(-4 * t) + noise).view(1, 1, -1)


def _rms(x):
    return float(x.pow(2).mean().sqrt())


def test_strength_grid_squeezes_the_models_grid_into_t_up_to_strength(model):
    sched = model["module"].schedule
    full = strength_grid(sched, 1.0, 8, "uniform_t")
    assert len(full) == 8 and full == pytest.approx(sched.logsnr(1 - torch.arange(8, dtype=torch.float64) / 8).tolist(), rel=1e-9)
    half = strength_grid(sched, 0.5, 8, "uniform_t")
    assert len(half) == 4 and float(sched.t_from_logsnr(torch.tensor(half[0]))) == pytest.approx(0.5)
    assert len(strength_grid(sched, 0.01, 8, "karras")) == 1
    assert len(strength_grid(sched, 0.3, None, "diffwave6")) == 6  # a named grid keeps its points


def test_strength_near_zero_returns_the_input(model):
    m, x = model["module"], _input()
    labels = torch.tensor([2])
    assert torch.equal(audio_to_audio(m, x, 0.0, class_label=labels), x)
    errors = []
    for strength in (0.001, 0.01, 0.1, 0.5):
        out = audio_to_audio(m, x, strength, class_label=labels, generator=torch.Generator().manual_seed(1))
        assert out.shape == x.shape
        errors.append(_rms(out - x) / _rms(x))
    print("relative distance to the input by strength:", [round(e, 4) for e in errors])
    assert errors[0] < 0.02
    assert errors == sorted(errors) and errors[-1] > 10 * errors[0]


def test_strength_one_is_a_fresh_sample(model):
    m = model["module"]
    labels = torch.tensor([1, 3])
    a, b = _input(0).expand(2, -1, -1), _input(1, f0=520.0).expand(2, -1, -1)
    kw = dict(class_label=labels, steps=8, method="ddpm")
    fresh = m.generate(2, LENGTH, generator=torch.Generator().manual_seed(5), **kw)
    from_a = audio_to_audio(m, a, 1.0, generator=torch.Generator().manual_seed(5), **kw)
    from_b = audio_to_audio(m, b, 1.0, generator=torch.Generator().manual_seed(5), **kw)
    # the input's trace at t = 1 is alpha(1) x0 (5.5e-4 x0 here): gone
    assert _rms(from_a - fresh) < 0.01 * _rms(fresh) and _rms(from_a - from_b) < 0.01 * _rms(fresh)
    half_a = audio_to_audio(m, a, 0.5, generator=torch.Generator().manual_seed(5), **kw)
    half_b = audio_to_audio(m, b, 0.5, generator=torch.Generator().manual_seed(5), **kw)
    assert _rms(half_a - half_b) > 0.3 * _rms(a - b)  # at 0.5 the input still shows


def test_encode_mode_inverts_its_sampler_and_class_and_guidance_apply(model):
    m, x = model["module"], _input()
    null = torch.tensor([m.net.null_class])
    # target = the encoder's own (null) branch, no guidance: the ODE there and back is the input
    back = audio_to_audio(m, x, 0.6, mode="encode", method="heun", steps=24, class_label=null, guidance=1.0)
    assert _rms(back - x) < 0.05 * _rms(x)
    variants = [audio_to_audio(m, x, 0.6, mode="encode", method="heun", steps=24, class_label=torch.tensor([c]),
                               guidance=g) for c, g in ((0, 1.0), (4, 1.0), (4, 3.0))]
    for i, v in enumerate(variants):
        assert _rms(v - back) > 1e-3 * _rms(x)
        for w in variants[i + 1:]:
            assert not torch.allclose(v, w)
    with pytest.raises(ValueError, match="mode 'encode' inverts a deterministic sampler"):
        audio_to_audio(m, x, 0.5, mode="encode", method="ddpm", class_label=null)
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        audio_to_audio(m, x, 1.5, class_label=null)
    with pytest.raises(ValueError, match="class-conditional: give the target class"):
        audio_to_audio(m, x, 0.5)


def test_command_line(model, tmp_path):
    src = tmp_path / "kick.aiff"
    sf.write(str(src), _input()[0, 0].numpy(), 22050, format="AIFF")  # resampled to the model's rate
    out = tmp_path / "var"
    cli = [sys.executable, "-m", "wavediff.cli", "sample", str(model["ckpt"]), "--from", str(src),
           "--strength", "0.3", "--num", "3", "--class", "drum", "--steps", "4", "--out", str(out)]
    run = subprocess.run(cli, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    info = json.loads((out / "samples.json").read_text())
    assert (info["from"], info["strength"], info["mode"], info["labels"]) == (str(src), 0.3, "noise", ["drum"] * 3)
    audio, sr = sf.read(out / info["files"][0])
    assert sr == SR and abs(audio.size - LENGTH * SR / 22050) <= 1
    run = subprocess.run(cli[:-2] + ["--mode", "encode", "--out", str(tmp_path / "enc")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "enc" / "samples.json").read_text())["method"] == "heun"
    run = subprocess.run(cli[:7] + ["--strength", "2"], capture_output=True, text=True)
    assert run.returncode == 2 and "strength must lie in [0, 1]" in run.stderr
