"""End to end through the maths: a small denoiser trained with ``diffusion_loss`` on one
tone of random phase generates that tone with the samplers, for every parameterisation.

The data set is a unit-RMS sine of period 16 samples; the network's receptive field (127
samples) holds several periods, so a few hundred steps suffice. An untrained network puts
about 1 % of the sample's energy in the tone's FFT bins; a trained one most of it."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from wavediff.diffusion import get_schedule, sample
from wavediff.diffusion.parameterisation import Denoiser
from wavediff.nn import build_denoiser

# one implementation of the tone, its training and its score: the receptive-field benchmark's
_spec = importlib.util.spec_from_file_location(
    "receptive_field", Path(__file__).resolve().parents[1] / "benchmarks" / "receptive_field.py")
receptive_field = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(receptive_field)

LENGTH, PERIOD = 512, 16


def train_tone_denoiser(parameterisation: str) -> torch.nn.Module:
    net = receptive_field.train_tone_denoiser(parameterisation, cycle=6, layers=6, steps=300,
                                              length=LENGTH, period=PERIOD)
    assert net.receptive_field == 127
    return net


def tone_share(x: torch.Tensor) -> torch.Tensor:
    return receptive_field.tone_share(x, PERIOD)


@pytest.mark.parametrize("parameterisation", ["v", "x0", "eps"])
def test_a_trained_denoiser_generates_the_tone(parameterisation):
    net = train_tone_denoiser(parameterisation)
    # |x_0| <= sqrt(2) on this data; eps-prediction needs the bound at low logsnr, where
    # x0_hat = (x_t - sigma eps_hat) / alpha multiplies the network's error by 1 / alpha
    den = Denoiser(net, parameterisation, clip_x0=math.sqrt(2.0) if parameterisation == "eps" else None)
    schedule = get_schedule("cosine")
    untrained = Denoiser(build_denoiser("tiny", residual_layers=6, dilation_cycle=6), "v")
    for method in ("ddim", "ddpm"):
        with torch.no_grad():
            x = sample(den, (16, 1, LENGTH), schedule, steps=16, method=method,
                       generator=torch.Generator().manual_seed(1))
            x_untrained = sample(untrained, (16, 1, LENGTH), schedule, steps=16, method=method,
                                 generator=torch.Generator().manual_seed(1))
        share, share_untrained = tone_share(x).median().item(), tone_share(x_untrained).median().item()
        rms = x.pow(2).mean().sqrt().item()
        assert share > 0.3 > 0.05 > share_untrained, (parameterisation, method, share, share_untrained)
        assert 0.5 < rms < 1.5, (parameterisation, method, rms)


# ------------------------------------------------------------- the clamp in the pipeline
def _module(tmp_path, parameterisation):
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module

    from tiny_runs import TINY_NET

    recipe = load_recipe("demo", [
        f"data.root={tmp_path}", *TINY_NET, f"diffusion.parameterisation={parameterisation}",
        "diffusion.weighting=eps", "diffusion.data_scale=5.0", "diffusion.pre_emphasis=0.0"])
    return build_module(recipe, 16000, None, ["a", "b"], None).eval()


def test_eps_models_clamp_x0_hat_to_the_range_of_audio(tmp_path):
    eps, v = _module(tmp_path, "eps"), _module(tmp_path, "v")
    assert eps.x0_clip("eps") == eps.data_transform.x0_bound == 5.0
    assert eps.denoiser().clip_x0 == 5.0
    assert v.denoiser().clip_x0 is None and v.x0_clip("x0") is None
    # an untrained eps network predicts eps_hat = 0, so unclamped x0_hat = x_t / alpha is
    # about 1800 at logsnr -15; clamped, every sampler stays inside the audio range
    labels = torch.tensor([0, 1])
    for method in ("ddim", "ddpm", "dpmpp_2m"):
        audio = eps.generate(2, 256, steps=4, method=method, class_label=labels,
                             generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0 + 1e-5, method


def test_bind_denoiser_passes_the_clamp():
    from wavediff.sampling import bind_denoiser

    net = build_denoiser("tiny", residual_layers=2, dilation_cycle=2)
    x, logsnr = torch.randn(2, 1, 64), torch.full((2,), -15.0)
    with torch.no_grad():
        free = bind_denoiser(net, "eps", "none")(x, logsnr)
        clamped = bind_denoiser(net, "eps", "none", clip_x0=2.0)(x, logsnr)
    assert free.abs().max() > 100.0 and clamped.abs().max() <= 2.0
