"""Training end to end on tiny settings: recipes, exact resume, NaN handling, checkpoints."""

import lightning as L
import pytest
import torch

from wavediff.train.config import RecipeError, load_recipe
from wavediff.train.module import NonFiniteLossError, load_module
from wavediff.train.run import train

TINY = ["model.preset=tiny", "model.overrides={residual_layers: 2, residual_channels: 8, embedding_dim: 16, mlp_dim: 32}",
        "data.segment_samples=1024", "data.batch_size=2", "data.valid_clips=2",
        "trainer.log_every=1", "sample.steps=2"]


def tiny_recipe(tmp_path, *extra, steps=4):
    demo = tmp_path / "demo"
    return load_recipe("demo", TINY + [
        f"data.root={demo}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
        f"trainer.max_steps={steps}", f"trainer.val_every={steps}", f"trainer.checkpoint_every={steps}",
        *extra])


def _weights(path):
    module = load_module(path)
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_train_writes_checkpoint_with_everything(tmp_path):
    last = train(tiny_recipe(tmp_path), tmp_path / "run", progress=False)
    assert last.is_file() and last.name == "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["model_config"]["residual_layers"] == 2
    assert hp["recipe"]["diffusion"]["parameterisation"] == "v"
    assert hp["labels"] == ["bell", "bowed", "drum", "hat", "pluck"]
    assert set(hp["split"]) >= {"train", "valid", "test"}
    assert ckpt["wavediff"]["schedule"]["name"] == "cosine" and ckpt["wavediff"]["sample_rate"] == 16000
    assert (tmp_path / "run" / "recipe.yaml").is_file() and (tmp_path / "run" / "split.json").is_file()
    assert sorted(p.name for p in (tmp_path / "run" / "samples" / "step_0000004").glob("*.wav"))
    module = load_module(last)
    audio = module.generate(2, 512, class_label=torch.tensor([0, 3]), steps=2,
                            generator=torch.Generator().manual_seed(0))
    assert audio.shape == (2, 1, 512) and torch.isfinite(audio).all()


def test_resume_continues_exactly(tmp_path):
    """2N steps in one go == N steps, stop, resume, N more steps (same weights, EMA too)."""
    constant = ["optim.lr_schedule=constant", "optim.warmup_steps=2"]
    full = train(tiny_recipe(tmp_path, *constant, steps=6), tmp_path / "full", progress=False)
    half = train(tiny_recipe(tmp_path, *constant, steps=3), tmp_path / "half", progress=False)
    resumed = train(tiny_recipe(tmp_path, *constant, steps=6), tmp_path / "half", resume=half, progress=False)
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and the run really moved: weights differ from the 3-step checkpoint (the resumed run
    # continues the folder's own last.ckpt; step 3 stays in its step file)
    assert resumed == half
    c = _weights(half.parent / "step0000003.ckpt")
    assert any(not torch.equal(a[k], c[k]) for k in a if k.startswith("net."))


class _Crash(L.Callback):
    def __init__(self, at):
        self.at = at

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.at:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_with_cosine_schedule(tmp_path):
    full = train(tiny_recipe(tmp_path, "trainer.checkpoint_every=2", steps=6), tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_recipe(tmp_path, "trainer.checkpoint_every=2", steps=6), tmp_path / "crash", progress=False,
              extra_callbacks=[_Crash(3)])
    ckpt = tmp_path / "crash" / "checkpoints" / "step0000002.ckpt"
    assert ckpt.is_file()
    resumed = train(tiny_recipe(tmp_path, "trainer.checkpoint_every=2", steps=6), tmp_path / "crash",
                    resume=ckpt, progress=False)
    a, b = _weights(full), _weights(resumed)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_nan_loss_stops_with_step_and_checkpoint(tmp_path):
    recipe = tiny_recipe(tmp_path, "optim.lr=1e30", "optim.grad_clip=0", "optim.warmup_steps=1",
                         "trainer.checkpoint_every=1", steps=6)
    with pytest.raises(NonFiniteLossError, match=r"at step \d+\. Last good checkpoint: .*ckpt"):
        train(recipe, tmp_path / "nan", progress=False)


def test_nan_loss_skipped_when_recipe_says_so(tmp_path, capsys):
    recipe = tiny_recipe(tmp_path, "optim.lr=1e30", "optim.grad_clip=0", "optim.warmup_steps=1",
                         "trainer.nan_policy=skip", steps=5)
    last = train(recipe, tmp_path / "skip", progress=False)
    assert last.is_file()
    assert "batch skipped" in capsys.readouterr().out


def test_recipe_errors_are_clear(tmp_path):
    with pytest.raises(RecipeError, match="unknown field"):
        load_recipe("demo", ["optim.learning_rate=1"])
    with pytest.raises(RecipeError, match="choose one of"):
        load_recipe("demo", ["diffusion.parameterisation=score"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1, 2\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="no 'mel' section"):
        load_recipe(None, ["model.conditioning=mel"])


def test_cli_train_print_config_and_tiny_run(tmp_path):
    import subprocess
    import sys

    base = [sys.executable, "-m", "wavediff.cli", "train", "--config", "demo"]
    shown = subprocess.run(base + ["--print-config", "optim.lr=3e-4"], capture_output=True, text=True, check=True)
    assert "lr: 0.0003" in shown.stdout
    bad = subprocess.run(base + ["optim.lrr=1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown field" in bad.stderr and "Traceback" not in bad.stderr
    run = subprocess.run(base + ["--out", str(tmp_path / "run"), "--max-steps", "2", *TINY,
                                 f"data.root={tmp_path / 'demo'}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
                                 "trainer.val_every=2", "trainer.checkpoint_every=2"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "training finished: step 2" in run.stdout and "last.ckpt" in run.stdout


def test_a_short_demo_run_beats_the_untrained_model(tmp_path):
    """The demo corpus has learnable structure: after a short run, held-out clips get a much
    better likelihood bound (bits per sample) than under the untrained network."""
    from wavediff.data.datasets import ClipDataset
    from wavediff.diffusion import vdm_bound
    from wavediff.train.run import build_data, build_module

    recipe = load_recipe("demo", [
        f"data.root={tmp_path / 'demo'}", "data.options={clips_per_class: 8, clip_seconds: 0.5}",
        "data.segment_samples=2000", "data.batch_size=8", "trainer.max_steps=60", "trainer.val_every=60",
        "trainer.checkpoint_every=60", "optim.warmup_steps=10", "sample.steps=4", "optim.lr=2e-3", "data.valid_clips=4",
        # bits of the audio itself: with the recipe's unit-RMS x_0 the untrained network is
        # already matched to the data's scale, which is most of what 60 steps would learn
        "diffusion.data_scale=1", "diffusion.pre_emphasis=0"])
    trained = load_module(train(recipe, tmp_path / "run", progress=False))
    data = build_data(recipe, None)
    untrained = build_module(recipe, 16000, None, data.labels, None).eval()
    clips = torch.stack([ClipDataset(data.valid)[i]["audio"][:, :4000] for i in range(4)])
    assert trained.data_transform.is_identity
    labels = torch.tensor([ClipDataset(data.valid)[i]["label"] for i in range(4)])

    def bits(module):
        den = module.denoiser()
        # the recipe pins each clip's prior to one note of its class's mixture: the one it belongs to
        note = module.net.corpus_component(clips, labels)
        return float(vdm_bound(lambda x, l: den(x, l, class_label=labels, prior_component=note), clips,
                               module.schedule, num_t=32, generator=torch.Generator().manual_seed(0))["total"].mean())

    with torch.inference_mode():
        before, after = bits(untrained), bits(trained)
    print(f"bits per sample: untrained {before:.3f}, trained {after:.3f}")
    assert after < before - 1.0


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    from wavediff.train.callbacks import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, path)

    def broken_save(obj, f, *args, **kwargs):  # f: the open temporary file
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.slow
def test_torch_compile_option_trains(tmp_path):
    last = train(tiny_recipe(tmp_path, "trainer.compile=true", steps=2), tmp_path / "run", progress=False)
    state = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]
    assert not any("_orig_mod" in k for k in state)  # plain keys: loadable without compile


def test_ddp_on_two_cpu_processes(tmp_path):
    """Lightning's DDP (gloo on CPU): two ranks, each with its own shard of the step sampler."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "wavediff.cli", "train", "--config", "demo",
           "--out", str(tmp_path / "run"), "--max-steps", "3", *TINY, f"data.root={tmp_path / 'demo'}",
           "data.options={clips_per_class: 2, clip_seconds: 0.25}", "trainer.val_every=3",
           "trainer.checkpoint_every=3", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "training finished: step 3" in run.stdout
    module = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert int(module.ema.num_updates) == 3


def test_cli_sample_writes_wavs_and_settings(tmp_path):
    import json
    import subprocess
    import sys

    from wavediff.audio.io import load_audio

    last = train(tiny_recipe(tmp_path, steps=2), tmp_path / "run", progress=False)
    cli = [sys.executable, "-m", "wavediff.cli", "sample", str(last)]
    run = subprocess.run(cli + ["--num", "3", "--steps", "2", "--class", "bell", "--guidance", "2",
                                "--seconds", "0.1", "--out", str(tmp_path / "s")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    settings = json.loads((tmp_path / "s" / "samples.json").read_text())
    assert settings["labels"] == ["bell"] * 3 and settings["guidance"] == 2.0 and settings["seed"] == 0
    audio, sr = load_audio(tmp_path / "s" / settings["files"][0])
    assert sr == 16000 and audio.shape[-1] == 1600
    assert settings["method"] == "ddpm" and settings["grid"] == "uniform_logsnr"  # the demo recipe's pair
    bad = subprocess.run(cli + ["--class", "violin", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown class 'violin'" in bad.stderr
    run = subprocess.run(cli + ["--num", "1", "--method", "ddpm", "--grid", "diffwave6", "--seconds", "0.05",
                                "--out", str(tmp_path / "d6")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    d6 = json.loads((tmp_path / "d6" / "samples.json").read_text())
    assert (d6["grid"], d6["steps"]) == ("diffwave6", 6)
    bad = subprocess.run(cli + ["--steps", "4", "--grid", "diffwave6", "--out", str(tmp_path / "y")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--grid diffwave6 has 6 steps" in bad.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()



def test_high_guidance_keeps_samples_finite(tmp_path):
    """Classifier-free guidance extrapolates past the data's range for a large weight; the
    guided x0 is clamped to the range audio encodes to. Without the clamp, DDPM with the demo
    recipe's network (2 training steps) at guidance 5 overflowed to non-finite samples."""
    from wavediff.sampling import plan_sampling, sample_model

    recipe = load_recipe("demo", [f"data.root={tmp_path / 'demo'}",
                                  "data.options={clips_per_class: 2, clip_seconds: 0.25}", "data.segment_samples=4000",
                                  "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2"])
    module = load_module(train(recipe, tmp_path / "run", progress=False))
    for guidance in (5.0, 30.0):
        plan = plan_sampling(module, steps=16, method="ddpm", guidance=guidance)
        audio = sample_model(module, 4, 4000, plan, class_label=torch.arange(4),
                             generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0
