"""Distillation end to end on tiny settings: a tiny teacher, then progressive distillation
(rounds, exact mid-round resume), consistency distillation (exact resume with the EMA target)
and consistency training from scratch; students load with ``load_module`` and sample with
1, 2 and 4 steps through ``wavediff.sampling``."""

import json

import lightning as L
import pytest
import torch

from fake_corpora import make_ljspeech
from wavediff.diffusion import sample
from wavediff.sampling import bind_denoiser, distilled_info, plan_sampling, sample_model
from wavediff.train.config import RecipeError, load_recipe
from wavediff.train.distill import distill
from wavediff.train.module import load_module
from wavediff.train.run import train
from wavediff.vocoder import Vocoder, positional_noise

from tiny_runs import TINY_NET, SMALL

pytestmark = pytest.mark.usefixtures("one_thread")


def _demo(root):
    return [f"data.root={root}", "data.options={clips_per_class: 2, clip_seconds: 0.25}"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A class-conditional demo teacher (guidance 1.5 in its recipe), 4 steps of training."""
    tmp = tmp_path_factory.mktemp("teacher")
    recipe = load_recipe("demo", [*TINY_NET, *SMALL, *_demo(tmp.parent / "demo"), "sample.steps=2",
                                                          "trainer.max_steps=4", "trainer.val_every=4",
                                                          "trainer.checkpoint_every=4"])
    return train(recipe, tmp / "run", progress=False)


def distill_recipe(demo_root, *extra, steps=4):
    return load_recipe("demo-distill", [
        *SMALL, *_demo(demo_root), f"trainer.max_steps={steps}", f"trainer.val_every={steps}",
        "trainer.checkpoint_every=2", "distill.val_clips=2", "optim.warmup_steps=1", *extra])


def _weights(path):
    return {k: v.clone() for k, v in load_module(path).state_dict().items()}


def _assert_same_weights(a_path, b_path):
    a, b = _weights(a_path), _weights(b_path)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _samples_ok(module, steps=(1, 2, 4), **cond):
    for k in steps:
        audio = sample_model(module, 2, 512, steps=k, generator=torch.Generator().manual_seed(k), **cond)
        assert audio.shape == (2, 1, 512) and torch.isfinite(audio).all(), k


def _vocodes_as_sampled(module, mel):
    """The vocoder samples a distilled vocoder as ``sample_model`` does, from the same noise."""
    length = mel.shape[-1] * module.net.hop
    noise = torch.stack([positional_noise(0, b, 0, length) for b in range(mel.shape[0])]).unsqueeze(1)
    expected = sample_model(module, mel.shape[0], length, mel=mel, noise=noise,
                            generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    assert torch.equal(Vocoder(module).vocode(mel)[0], expected)


class _Crash(L.Callback):
    """Raise after ``step`` optimizer steps of the stage whose student takes ``steps`` steps."""

    def __init__(self, step, steps=None):
        self.step, self.steps = step, steps

    def on_train_batch_end(self, trainer, pl_module, *args):
        if trainer.global_step == self.step and getattr(pl_module, "student_steps", None) == self.steps:
            raise RuntimeError("simulated crash")


def test_progressive_rounds_write_loadable_students(teacher, tmp_path):
    recipe = distill_recipe(teacher.parents[3] / "demo", "distill.teacher_steps=4", "distill.target_steps=1")
    last = distill(recipe, teacher, tmp_path / "pd", progress=False)
    assert last == tmp_path / "pd" / "round_1" / "checkpoints" / "last.ckpt"
    first = tmp_path / "pd" / "round_2" / "checkpoints" / "last.ckpt"
    assert first.is_file() and (tmp_path / "pd" / "distill.json").is_file()
    ckpt = torch.load(first, map_location="cpu", weights_only=True)
    info = ckpt["wavediff"]["distilled"]
    assert info["method"] == "progressive" and info["steps"] == 2 and len(info["logsnr_grid"]) == 2
    assert ckpt["global_step"] == 4
    # guidance of the demo teacher (1.5) is distilled in the first round only
    assert ckpt["hyper_parameters"]["teacher_guidance"] == 1.5
    second = torch.load(last, map_location="cpu", weights_only=True)
    assert second["hyper_parameters"]["teacher_guidance"] == 1.0
    # the validation compared each student with its teacher at the same and at twice the steps
    stages = json.loads((tmp_path / "pd" / "distill.json").read_text())["stages"]
    assert [s["steps"] for s in stages] == [2, 1]
    assert {"val/ref_rms/student_2", "val/ref_rms/teacher_2"} <= set(stages[0]["metrics"])
    module = load_module(last)
    assert module.recipe.distill.method == "progressive"
    assert (module.recipe.sample.steps, module.recipe.sample.method, module.recipe.sample.guidance) == (1, "ddim", 1.0)
    labels = torch.tensor([0, 3])
    _samples_ok(module, class_label=labels)
    # the plain sampler of a loaded student walks exactly the stored grid
    grid_info = distilled_info(first)["logsnr_grid"]
    m2 = load_module(first)
    fn = bind_denoiser(m2.ema.model, m2.recipe.diffusion.parameterisation, "class", class_label=labels)
    explicit = m2.data_transform.decode(sample(fn, (2, 1, 512), m2.schedule, None, "ddim", logsnr_grid=grid_info,
                                               generator=torch.Generator().manual_seed(0)))
    plain = m2.generate(2, 512, class_label=labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(explicit, plain)
    # a student samples as distilled: a sampler, grid or guidance of its own is refused
    for option in ({"method": "ddpm"}, {"grid": "karras"}, {"guidance": 2.0}):
        with pytest.raises(ValueError, match="samples with its own method and grid"):
            plan_sampling(m2, **option)


def test_progressive_resume_mid_round_matches_an_uninterrupted_run(teacher, tmp_path):
    opts = ["distill.teacher_steps=4", "distill.target_steps=1", "optim.lr_schedule=cosine"]
    demo = teacher.parents[3] / "demo"
    full = distill(distill_recipe(demo, *opts), teacher, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        distill(distill_recipe(demo, *opts), teacher, tmp_path / "crash", progress=False,
                extra_callbacks=[_Crash(3, steps=1)])
    mid = tmp_path / "crash" / "round_1" / "checkpoints" / "step0000002.ckpt"
    assert mid.is_file() and distilled_info(mid)["steps"] == 1
    resumed = distill(distill_recipe(demo, *opts), teacher, tmp_path / "crash", resume=mid, progress=False)
    _assert_same_weights(full, resumed)
    _assert_same_weights(tmp_path / "full" / "round_2" / "checkpoints" / "last.ckpt",
                         tmp_path / "crash" / "round_2" / "checkpoints" / "last.ckpt")
    # the student did move away from its teacher
    a, t = _weights(full), _weights(tmp_path / "full" / "round_2" / "checkpoints" / "last.ckpt")
    assert any(not torch.equal(a[k], t[k]) for k in a if k.startswith("net."))


def test_consistency_distillation_resumes_exactly_and_samples(teacher, tmp_path):
    demo = teacher.parents[3] / "demo"
    opts = ["distill.method=consistency_distillation", "distill.num_scales=6", "distill.target=ema"]
    full = distill(distill_recipe(demo, *opts), teacher, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        distill(distill_recipe(demo, *opts), teacher, tmp_path / "crash", progress=False, extra_callbacks=[_Crash(3)])
    mid = tmp_path / "crash" / "checkpoints" / "step0000002.ckpt"
    resumed = distill(distill_recipe(demo, *opts), teacher, tmp_path / "crash", resume=mid, progress=False)
    _assert_same_weights(full, resumed)
    a = torch.load(full, map_location="cpu", weights_only=True)
    b = torch.load(resumed, map_location="cpu", weights_only=True)
    for key, value in a["distill_state"]["target"].items():  # the EMA target network too
        assert torch.equal(value, b["distill_state"]["target"][key]), key
    info = a["wavediff"]["distilled"]
    assert info["method"] == "consistency_distillation" and info["sigmas"] == [80.0] and info["sigma_min"] == 0.002
    module = load_module(full)
    assert module.recipe.distill.sigma_max == 80.0
    _samples_ok(module, class_label=torch.tensor([1, 2]))
    # multistep sampling really uses the levels and the injected noise
    labels = torch.tensor([1, 2])
    one = sample_model(module, 2, 512, steps=1, class_label=labels, generator=torch.Generator().manual_seed(0))
    two = sample_model(module, 2, 512, steps=2, class_label=labels, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(one, two)
    # the loaded student's own generate() samples it the same way: multistep consistency
    assert torch.equal(module.generate(2, 512, steps=2, class_label=labels, generator=torch.Generator().manual_seed(0)),
                       two)
    plan = plan_sampling(module, steps=2)
    assert (plan.kind, plan.method, plan.nfe, plan.sigmas[0]) == ("consistency", "consistency", 2, 80.0)


def test_consistency_training_from_scratch_unconditional_with_mrstft(tmp_path):
    recipe = distill_recipe(tmp_path / "demo", "distill.method=consistency_training", "distill.loss=both",
                            "distill.scales_start=2", "distill.scales_end=8", "model.conditioning=none",
                            *TINY_NET, steps=3)
    last = distill(recipe, None, tmp_path / "ct", progress=False)
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["wavediff"]["distilled"]["method"] == "consistency_training"
    assert "distill_state" not in ckpt  # the stop-gradient target needs no copy
    module = load_module(last)
    assert module.net.config.num_classes is None and module.net.config.residual_channels == 8
    _samples_ok(module)


def test_mel_vocoder_distills_with_the_paper_recipe(tmp_path):
    corpus = make_ljspeech(tmp_path / "lj")
    shrink = [*TINY_NET, "data.batch_size=2", "data.num_workers=0", "data.valid_clips=1", f"data.root={corpus}",
              f"data.mel_cache={tmp_path / 'mel'}", "data.segment_samples=1024"]
    teacher = train(load_recipe("ljspeech-vocoder", shrink + [
        "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2", "sample.steps=2"]),
        tmp_path / "teacher", progress=False)
    steps = ["trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2", "distill.val_clips=1"]
    recipe = load_recipe("ljspeech-vocoder-distill",
                         shrink + steps + ["distill.teacher_steps=4", "distill.target_steps=2"])
    last = distill(recipe, teacher, tmp_path / "pd", progress=False)
    module = load_module(last)
    assert module.mel_config is not None and module.recipe.diffusion.parameterisation == "eps"
    mel = torch.randn(2, 80, 2)
    _samples_ok(module, mel=mel)
    speech_mel = Vocoder(module).mel(0.1 * torch.randn(2, 2048, generator=torch.Generator().manual_seed(0)))
    _vocodes_as_sampled(module, speech_mel)
    cd = load_recipe("ljspeech-vocoder-distill",
                     shrink + steps + ["distill.method=consistency_distillation", "distill.num_scales=4"])
    module = load_module(distill(cd, teacher, tmp_path / "cd", progress=False))
    assert 1.5 < module.recipe.distill.sigma_max < 1.7  # clipped to DiffWave's logsnr range
    _samples_ok(module, mel=mel)
    _vocodes_as_sampled(module, speech_mel)  # multistep consistency sampling, not a DDIM pass


def test_distill_refuses_bad_set_ups(teacher, tmp_path):
    demo = teacher.parents[3] / "demo"
    with pytest.raises(RecipeError, match="distill.method is 'none'"):
        distill(distill_recipe(demo, "distill.method=none"), teacher, tmp_path / "x", progress=False)
    with pytest.raises(RecipeError, match="needs a teacher"):
        distill(distill_recipe(demo, "distill.method=consistency_distillation"), None, tmp_path / "x", progress=False)
    with pytest.raises(RecipeError, match="power of two"):
        distill_recipe(demo, "distill.teacher_steps=12", "distill.target_steps=4")
    with pytest.raises(RecipeError, match="choose one of"):
        distill_recipe(demo, "distill.loss=l1")
    with pytest.raises(RecipeError, match="not a distillation checkpoint"):
        distill(distill_recipe(demo), teacher, tmp_path / "x", resume=teacher, progress=False)


def test_every_consistency_distance_is_per_example_and_differentiable():
    from wavediff.train.config import DistillConfig
    from wavediff.train.consistency import consistency_distance

    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 1, 700, generator=gen)  # shorter than the largest FFT: zero padding
    est = (ref + 0.1 * torch.randn(2, 1, 700, generator=gen)).requires_grad_(True)
    for loss in ("l2", "pseudo_huber", "mrstft", "both"):
        config = DistillConfig(method="consistency_training", loss=loss)
        value = consistency_distance(est, ref, config)
        assert value.shape == (2,) and (value > 0).all(), loss
        (grad,) = torch.autograd.grad(value.sum(), est)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, loss
        assert float(consistency_distance(ref, ref, config).abs().max()) < 1e-6, loss
    both = DistillConfig(method="consistency_training", loss="both", mrstft_weight=0.5)
    parts = [consistency_distance(est, ref, DistillConfig(method="consistency_training", loss=loss))
             for loss in ("pseudo_huber", "mrstft")]
    torch.testing.assert_close(consistency_distance(est, ref, both), parts[0] + 0.5 * parts[1])


def test_a_self_conditioned_teacher_distils_into_students_without(tmp_path, monkeypatch):
    """A self-conditioned spectral teacher hands its estimates on within each target it makes;
    the students (and the second round's teacher, a student) get none, and sample."""
    from wavediff.nn import SpectralDenoiser
    from wavediff.train.student import StudentModule

    spectral = ("model.overrides={prior: corpus, frequency_layers: 1, self_conditioning: true, channels: 8, "
                "blocks: 1, kernel_size: 3, expansion: 1, embedding_dim: 8, mlp_dim: 8, frequency_channels: 2}")
    teacher = train(load_recipe("demo", [spectral, *SMALL, *_demo(tmp_path / "demo"), "sample.steps=2",
                                         "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2"]),
                    tmp_path / "teacher", progress=False)
    state = {"teacher": None, "plain": None}
    given: list[tuple[bool, bool]] = []  # per call with an estimate: (by the teacher, its round's teacher is plain)
    bind, forward = StudentModule.bind, SpectralDenoiser.forward

    def spy_bind(self, net, parameterisation, batch, guidance=1.0):
        if net is self.teacher_net:
            state.update(teacher=net, plain=self.teacher_self_conditions)
        return bind(self, net, parameterisation, batch, guidance)

    def spy_forward(self, *args, self_cond=None, **kwargs):
        if self_cond is not None:
            given.append((self is state["teacher"], state["plain"]))
        return forward(self, *args, self_cond=self_cond, **kwargs)

    monkeypatch.setattr(StudentModule, "bind", spy_bind)
    monkeypatch.setattr(SpectralDenoiser, "forward", spy_forward)
    recipe = distill_recipe(tmp_path / "demo", "distill.teacher_steps=4", "distill.target_steps=1", steps=2)
    last = distill(recipe, teacher, tmp_path / "pd", progress=False)
    assert given and set(given) == {(True, True)}  # only the plain teacher of round 1
    assert state["plain"] is False  # round 2's teacher (the round-1 student) got none
    _samples_ok(load_module(last), steps=(1,), class_label=torch.tensor([0, 3]))
