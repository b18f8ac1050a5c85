"""The audio <-> x_0 map (data scale and pre-emphasis): exact inverse, the filter it claims
to be, the identity by default, clear errors, and what it does to white model noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wavediff.audio.data_transform import DataTransform, suggest_data_scale
from wavediff.train.config import RecipeError, recipe_from_dict


def test_default_is_the_identity_and_returns_the_same_tensor():
    x = torch.randn(2, 1, 100)
    t = DataTransform()
    assert t.is_identity
    assert t.encode(x) is x and t.decode(x) is x


@pytest.mark.parametrize("scale,c", [(1.0, 0.95), (7.5, 0.0), (20.0, 0.9), (0.5, 0.97)])
def test_decode_inverts_encode(scale, c):
    audio = torch.rand(3, 1, 4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    t = DataTransform(scale, c)
    x0 = t.encode(audio)
    assert x0.shape == audio.shape and x0.dtype == audio.dtype
    assert torch.allclose(t.decode(x0), audio, atol=1e-10)


def test_encode_is_the_stated_filter():
    audio = torch.tensor([[0.5, -0.25, 1.0, 0.0]], dtype=torch.float64)
    x0 = DataTransform(2.0, 0.9).encode(audio)
    expected = 2.0 * torch.tensor([[0.5, -0.25 - 0.45, 1.0 + 0.225, -0.9]], dtype=torch.float64)
    assert torch.allclose(x0, expected)


def test_encode_is_differentiable_and_decode_keeps_dtype_and_shape():
    t = DataTransform(3.0, 0.95)
    audio = torch.randn(2, 1, 64, requires_grad=True)
    t.encode(audio).sum().backward()
    assert audio.grad is not None and torch.isfinite(audio.grad).all()
    y = t.decode(torch.randn(2, 1, 64))
    assert y.dtype == torch.float32 and y.shape == (2, 1, 64)


def test_white_noise_in_x0_decodes_to_low_passed_noise():
    """What the pre-emphasis is for: white model error in x_0 comes out of the de-emphasis
    with its power moved under the (low-frequency) signal: at Nyquist the gain is
    1 / (1 + c)^2, at DC 1 / (1 - c)^2."""
    c = 0.9
    noise = torch.randn(1, 1, 1 << 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    audio = DataTransform(1.0, c).decode(noise)
    spec = torch.fft.rfft(audio[0, 0]).abs().pow(2)
    white = torch.fft.rfft(noise[0, 0]).abs().pow(2)
    n = spec.numel()
    top = float(spec[-n // 16:].mean() / white[-n // 16:].mean())
    bottom = float(spec[1:n // 256].mean() / white[1:n // 256].mean())
    assert top == pytest.approx(1 / (1 + c) ** 2, rel=0.1)
    assert bottom > 0.5 / (1 - c) ** 2


def test_suggest_data_scale_gives_unit_rms():
    audio = 0.1 * torch.sin(torch.arange(8000) * 2 * math.pi * 220 / 16000).reshape(1, 1, -1)
    for c in (0.0, 0.95):
        scale = suggest_data_scale(audio, c)
        x0 = DataTransform(scale, c).encode(audio.double())
        assert float(x0.pow(2).mean().sqrt()) == pytest.approx(1.0, rel=1e-6)
    assert suggest_data_scale([audio[0, 0, :3000], audio[0, 0, 3000:].numpy()]) == pytest.approx(10 * math.sqrt(2), rel=1e-3)
    with pytest.raises(ValueError, match="silent"):
        suggest_data_scale(torch.zeros(1, 1, 100))


@pytest.mark.parametrize("field,value,match", [
    ("data_scale", 0.0, "data_scale must be a positive number"),
    ("data_scale", float("nan"), "data_scale must be a positive number"),
    ("pre_emphasis", 1.0, r"pre_emphasis must lie in \[0, 1\)"),
    ("pre_emphasis", -0.1, r"pre_emphasis must lie in \[0, 1\)"),
])
def test_bad_values_are_refused_by_the_recipe(field, value, match):
    with pytest.raises(RecipeError, match=match):
        recipe_from_dict({"diffusion": {field: value}})
    with pytest.raises(ValueError, match=match):
        DataTransform(**{field: value})


def test_recipe_values_reach_the_transform():
    recipe = recipe_from_dict({"diffusion": {"data_scale": 12.0, "pre_emphasis": 0.9}})
    t = DataTransform.from_config(recipe.diffusion)
    assert t == DataTransform(12.0, 0.9)
    assert DataTransform.from_config(recipe.to_dict()["diffusion"]) == t
    assert DataTransform.from_config(recipe_from_dict({}).diffusion).is_identity
    assert np.isclose(t.to_dict()["data_scale"], 12.0)


def test_decode_in_blocks_is_exact(monkeypatch):
    from wavediff.audio import data_transform

    t = DataTransform(4.0, 0.95)
    x0 = torch.randn(2, 1, 1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    whole = t.decode(x0)
    monkeypatch.setattr(data_transform, "_BLOCK", 77)  # blocks that split the clips unevenly
    assert torch.allclose(t.decode(x0), whole, atol=1e-12)
    assert torch.allclose(t.encode(whole), x0, atol=1e-10)
