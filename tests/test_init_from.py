"""``wavediff train --init-from``: a new run from another run's weights (fine-tuning), with a
fresh optimiser and schedule, and a named refusal when the networks differ."""

import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from wavediff.train.config import load_recipe
from wavediff.train.init_from import InitFromError, init_from_checkpoint
from wavediff.train.module import load_module
from wavediff.train.run import build_module, resolve_mel, train

PRETRAIN = 150
FINETUNE = 12


def vocoder_recipe(root: Path, seed: int, steps: int, *extra: str):
    """The tiny demo vocoder on a demo corpus written with ``seed`` (other notes, other clips)."""
    return load_recipe("tiny-vocoder", [
        f"data.root={root}", f"data.options={{clips_per_class: 4, seed: {seed}}}", "data.segment_samples=2048",
        "data.valid_clips=2", "trainer.log_every=1", f"trainer.max_steps={steps}", f"trainer.val_every={steps}",
        f"trainer.checkpoint_every={steps}", *extra])


class LossRecorder(L.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("init_from")
    rec = LossRecorder()
    last = train(vocoder_recipe(tmp / "corpus_a", 0, PRETRAIN), tmp / "a", progress=False, extra_callbacks=[rec])
    return {"ckpt": last, "tmp": tmp, "losses": rec.losses}


def test_finetuning_starts_from_the_checkpoints_loss(pretrained, tmp_path):
    tmp = pretrained["tmp"]
    runs = {}
    for name, init in (("scratch", None), ("finetune", pretrained["ckpt"])):
        rec = LossRecorder()
        last = train(vocoder_recipe(tmp / "corpus_b", 1, FINETUNE), tmp_path / name, progress=False,
                     extra_callbacks=[rec], init_from=init)
        runs[name] = (rec.losses, last)
    first = {k: float(np.mean(v[0][:4])) for k, v in runs.items()}
    end_of_a = float(np.mean(pretrained["losses"][-20:]))
    start_of_a = float(np.mean(pretrained["losses"][:4]))
    print(f"loss: A start {start_of_a:.3f}, A end {end_of_a:.3f}; B scratch {first['scratch']:.3f}, "
          f"B from A {first['finetune']:.3f}")
    # B's first steps from A's weights score like A's end, far below B from scratch
    assert first["finetune"] < 0.5 * first["scratch"]
    assert first["finetune"] < 1.5 * end_of_a
    assert first["scratch"] > 0.7 * start_of_a  # scratch really starts from scratch
    # a new run: step counter, optimiser and schedule start anew (FINETUNE steps, not A's + FINETUNE)
    ckpt = torch.load(runs["finetune"][1], map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == FINETUNE
    assert ckpt["optimizer_states"][0]["state"][0]["step"] == FINETUNE
    assert ckpt["hyper_parameters"]["recipe"]["data"]["root"] == str(tmp / "corpus_b")


def test_weights_and_ema_are_copied(pretrained):
    recipe = vocoder_recipe(pretrained["tmp"] / "corpus_a", 0, 1)
    mel = resolve_mel(recipe)
    module = build_module(recipe, 16000, mel, None, None)
    source = load_module(pretrained["ckpt"])
    init_from_checkpoint(module, pretrained["ckpt"])
    for mine, theirs in ((module.net, source.net), (module.ema.model, source.ema.model)):
        for (k, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), k
    assert not torch.equal(module.net.output_proj.weight, module.ema.model.output_proj.weight)
    assert int(module.ema.num_updates) == int(source.ema.num_updates) == PRETRAIN


def test_a_different_network_is_named(pretrained):
    recipe = vocoder_recipe(pretrained["tmp"] / "corpus_a", 0, 1,
                            "model.overrides={residual_channels: 8, dilation_cycle: 2}")
    module = build_module(recipe, 16000, resolve_mel(recipe), None, None)
    with pytest.raises(InitFromError) as info:
        init_from_checkpoint(module, pretrained["ckpt"])
    msg = str(info.value)
    assert "dilation_cycle: checkpoint 3, recipe 2" in msg and "residual_channels: checkpoint 16, recipe 8" in msg
    assert "input_proj.weight: checkpoint shape (16, 1, 1), recipe shape (8, 1, 1)" in msg
    assert "... and" in msg and "without --init-from" in msg
    other_mel = vocoder_recipe(pretrained["tmp"] / "corpus_a", 0, 1, "mel={preset: hifigan, fmax: 7000.0}")
    module = build_module(other_mel, 16000, resolve_mel(other_mel), None, None)
    with pytest.raises(InitFromError, match=r"mel.fmax: checkpoint 8000.0, recipe 7000.0"):
        init_from_checkpoint(module, pretrained["ckpt"])


def test_bad_files_and_the_command_line(pretrained, tmp_path):
    junk = tmp_path / "junk.ckpt"
    torch.save({"model": {}, "params": {}}, junk)
    recipe = vocoder_recipe(pretrained["tmp"] / "corpus_a", 0, 1)
    module = build_module(recipe, 16000, resolve_mel(recipe), None, None)
    with pytest.raises(InitFromError, match="not a wavediff checkpoint.*wavediff import diffwave"):
        init_from_checkpoint(module, junk)
    with pytest.raises(FileNotFoundError, match="--init-from checkpoint .* not found"):
        init_from_checkpoint(module, tmp_path / "nope.ckpt")
    cli = [sys.executable, "-m", "wavediff.cli", "train", "--config", "tiny-vocoder",
           "--init-from", str(pretrained["ckpt"]), "--resume", str(pretrained["ckpt"]), "--out", str(tmp_path / "x"),
           f"data.root={pretrained['tmp'] / 'corpus_a'}", "data.options={clips_per_class: 4}"]
    run = subprocess.run(cli, capture_output=True, text=True)
    assert run.returncode == 2 and "give one of them" in run.stderr


def test_a_checkpoint_that_would_run_code_is_refused(pretrained, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this ran",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload()}, evil)
    recipe = vocoder_recipe(pretrained["tmp"] / "corpus_a", 0, 1)
    module = build_module(recipe, 16000, resolve_mel(recipe), None, None)
    with pytest.raises(ValueError, match="holds more than weights and settings"):
        init_from_checkpoint(module, evil)
