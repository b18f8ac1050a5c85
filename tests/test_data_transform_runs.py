"""The audio <-> x_0 map through the pipeline: training encodes every batch, every way of
sampling decodes, students inherit the teacher's map, and chunked vocoding stays exact
with a pre-emphasis filter that runs across chunk seams."""

from __future__ import annotations

import pytest
import torch

from wavediff.audio.data_transform import DataTransform
from wavediff.train.config import load_recipe
from wavediff.sampling import sample_model
from wavediff.train.distill import distill
from wavediff.train.module import load_module
from wavediff.train.run import build_module, resolve_mel, train
from wavediff.vocoder import Vocoder

from tiny_runs import TINY_NET, SMALL

pytestmark = pytest.mark.usefixtures("one_thread")

MAP = DataTransform(5.0, 0.9)
TRANSFORM = [f"diffusion.data_scale={MAP.data_scale}", f"diffusion.pre_emphasis={MAP.pre_emphasis}"]


def _demo(root):
    return [f"data.root={root}", "data.options={clips_per_class: 2, clip_seconds: 0.25}"]


def _teacher_recipe(root, steps=4):
    return load_recipe("demo", [*TINY_NET, *SMALL, *_demo(root / "demo"), *TRANSFORM,
                                                        "sample.steps=2", f"trainer.max_steps={steps}",
                                                        f"trainer.val_every={steps}", f"trainer.checkpoint_every={steps}"])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mapped")
    return train(_teacher_recipe(tmp), tmp / "run", progress=False)


def _decoded(module, draw):
    """``draw()`` with the module's map, and the same draw in x_0 (map switched off)."""
    kept = module.data_transform
    audio = draw()
    module.data_transform = DataTransform()
    try:
        x0 = draw()
    finally:
        module.data_transform = kept
    return audio, x0


def test_training_encodes_every_batch(tmp_path, monkeypatch):
    calls = []
    encode = DataTransform.encode

    def spy(self, audio):
        calls.append((self.data_scale, self.pre_emphasis, tuple(audio.shape)))
        return encode(self, audio)

    monkeypatch.setattr(DataTransform, "encode", spy)
    train(_teacher_recipe(tmp_path, steps=2), tmp_path / "run", progress=False)
    training = [c for c in calls if c[2] == (2, 1, 1024)]
    assert len(training) >= 2 and all(c[:2] == (5.0, 0.9) for c in training)


def test_samples_are_decoded_and_the_checkpoint_carries_the_map(teacher):
    ckpt = torch.load(teacher, map_location="cpu", weights_only=False)
    assert ckpt["wavediff"]["data_transform"] == MAP.to_dict()
    module = load_module(teacher)
    assert module.data_transform == MAP
    labels = torch.tensor([0, 2])
    audio, x0 = _decoded(module, lambda: module.generate(2, 512, class_label=labels, steps=2,
                                                         generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(audio, MAP.decode(x0), atol=1e-6)
    assert not torch.allclose(audio, x0, atol=1e-3)


@pytest.mark.parametrize("method", ["progressive", "consistency_distillation"])
def test_students_inherit_the_map_and_decode(teacher, tmp_path, method):
    recipe = load_recipe("demo-distill", [
        *SMALL, *_demo(teacher.parents[3] / "demo"), "trainer.max_steps=2", "trainer.val_every=2",
        "trainer.checkpoint_every=2", "distill.val_clips=2", "optim.warmup_steps=1", f"distill.method={method}",
        "distill.teacher_steps=4", "distill.target_steps=2", "distill.num_scales=6"])
    student = load_module(distill(recipe, teacher, tmp_path / method, progress=False))
    assert student.data_transform == MAP
    labels = torch.tensor([1, 3])
    audio, x0 = _decoded(student, lambda: sample_model(student, 2, 512, steps=2, class_label=labels,
                                                       generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(audio, MAP.decode(x0), atol=1e-6)


def test_chunked_vocoding_is_exact_across_the_de_emphasis(tmp_path, monkeypatch):
    recipe = load_recipe("tiny-vocoder", [*TINY_NET, f"data.root={tmp_path}", *TRANSFORM])
    mel = resolve_mel(recipe)
    module = build_module(recipe, 16000, mel, None, None).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # an untrained network outputs 0; give it some weights to show
        module.ema.model.output_proj.weight.normal_(0, 0.3)
    voc = Vocoder(module)
    t = torch.arange(16000) / 16000
    audio = (0.3 * torch.sin(2 * torch.pi * 220 * t) * torch.exp(-3 * t)).reshape(1, 1, -1)
    spec = voc.mel(audio[0])
    whole, _ = voc.vocode(spec, 2, "ddim")
    chunked, _ = voc.vocode(spec, 2, "ddim", chunk_frames=16)
    assert whole.abs().max() > 1e-3
    assert torch.allclose(whole, chunked, atol=1e-5), float((whole - chunked).abs().max())
    # decoded once, over the whole assembled output (the filter state runs across seams)
    seen = []
    decode = DataTransform.decode
    monkeypatch.setattr(DataTransform, "decode", lambda self, x0: seen.append(decode(self, x0)) or seen[-1])
    out, _ = voc.vocode(spec, 2, "ddim", chunk_frames=16)
    assert len(seen) == 1 and seen[0].shape == out.shape
    assert torch.equal(out, seen[0].clamp(-1, 1)) and torch.allclose(out, whole, atol=1e-5)
