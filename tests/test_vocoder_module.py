"""``Vocoder`` is an ``nn.Module``: device and dtype moves, state dicts, use inside another
model, calls under ``torch.inference_mode``; ``Vocoder.from_checkpoint`` stays the entry point."""

import pytest
import torch
from torch import nn

from wavediff.train.config import load_recipe
from wavediff.train.run import build_module, resolve_mel
from wavediff.vocoder import Vocoder



def _module(seed=0):
    recipe = load_recipe("tiny-vocoder")
    torch.manual_seed(seed)
    module = build_module(recipe, 16000, resolve_mel(recipe), None, None).eval()
    with torch.no_grad():  # an untrained head outputs zeros: make the output depend on every layer
        module.ema.model.output_proj.weight.normal_(0, 0.3)
    return module


@pytest.fixture(scope="module")
def mel():
    voc = Vocoder(_module())
    return voc.mel(0.1 * torch.randn(2, 4096, generator=torch.Generator().manual_seed(1)))


def test_is_a_module_whose_state_is_the_network(mel):
    voc = Vocoder(_module())
    assert isinstance(voc, nn.Module) and not voc.training
    assert set(voc.state_dict()) == {f"net.{k}" for k in voc.net.state_dict()}
    other = Vocoder(_module(seed=1))
    a = voc(mel, 2, "ddim")
    assert not torch.equal(other(mel, 2, "ddim"), a)
    other.load_state_dict(voc.state_dict())
    torch.testing.assert_close(other(mel, 2, "ddim"), a, rtol=0, atol=0)
    assert a.shape == (2, 1, mel.shape[-1] * 256) and a.dtype == torch.float32


def test_calling_it_is_vocode_and_works_under_inference_mode(mel):
    voc = Vocoder(_module())
    audio, sr = voc.vocode(mel, 2, "dpmpp_2m", seed=3)
    assert sr == 16000
    with torch.inference_mode():
        torch.testing.assert_close(voc(mel, 2, "dpmpp_2m", seed=3), audio, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(voc(mel, 2, "dpmpp_2m", seed=3), audio, rtol=0, atol=0)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-5), (torch.bfloat16, 0.1), (torch.float16, 0.02)])
def test_dtype_moves_cast_the_network_and_keep_the_sampler_in_float32(mel, dtype, tol):
    ref = Vocoder(_module())(mel, 2, "ddim")
    voc = Vocoder(_module()).to(dtype)
    assert voc.dtype == dtype and voc.net.input_proj.weight.dtype == dtype
    out = voc(mel, 2, "ddim")
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    diff = float((out - ref).abs().max())
    assert diff < tol
    if dtype != torch.float64:
        assert diff > 0  # the network really ran in the lower precision
    if dtype == torch.float16:
        assert Vocoder(_module()).half().dtype == torch.float16
    assert voc.mel(torch.zeros(1, 1024)).dtype == torch.float32  # features stay float32


def test_use_inside_another_model(mel):
    class MelToWave(nn.Module):
        def __init__(self):
            super().__init__()
            self.post = nn.Linear(mel.shape[1], mel.shape[1])  # e.g. a front-end's last layer
            self.vocoder = Vocoder(_module())

        def forward(self, x):
            return self.vocoder(self.post(x.transpose(1, 2)).transpose(1, 2), 2, "ddim")

    model = MelToWave().to(torch.float64)  # moves both parts
    assert model.vocoder.dtype == torch.float64
    keys = set(model.state_dict())
    assert "post.weight" in keys and "vocoder.net.input_proj.weight" in keys
    with torch.inference_mode():
        out = model(mel.double())
    assert out.shape == (2, 1, mel.shape[-1] * 256)


def test_from_checkpoint_is_still_the_entry_point(tmp_path, mel):
    module = _module()
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": "2.0.0", "epoch": 0, "global_step": 0}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "v.ckpt")
    voc = Vocoder.from_checkpoint(tmp_path / "v.ckpt", dtype=torch.float64)
    assert isinstance(voc, Vocoder) and voc.dtype == torch.float64 and voc.device == torch.device("cpu")
    torch.testing.assert_close(voc(mel, 2, "ddim"), Vocoder(module)(mel, 2, "ddim"), rtol=0, atol=1e-5)
