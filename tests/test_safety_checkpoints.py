"""Loading a checkpoint never runs code from it: a malicious pickle given to every command
that loads a checkpoint is refused (exit 2, one line) and its payload never runs; wavediff's
own checkpoints load with ``weights_only=True``; damaged files are messages, not
tracebacks; ``wavediff export`` writes safetensors + JSON that every command takes."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from wavediff.checkpoint_io import CheckpointError, load_checkpoint, plain
from wavediff.files import atomic_torch_save
from wavediff.cli import main
from wavediff.train.callbacks import AtomicCheckpointIO
from wavediff.train.module import load_module

pytestmark = pytest.mark.usefixtures("one_thread")


class Payload:
    """Unpickling this creates ``marker``: the stand-in for any code hidden in a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious(tmp: Path, marker: Path, real: Path) -> dict[str, Path]:
    """Three ways to hide the payload: a torch zip checkpoint of it, a bare pickle file, and a
    real wavediff checkpoint with the payload added next to its weights."""
    files = {"zip": tmp / "evil_zip.ckpt", "pickle": tmp / "evil_pickle.ckpt", "inside": tmp / "evil_inside.ckpt"}
    torch.save({"state_dict": {}, "x": Payload(marker)}, files["zip"])
    with open(files["pickle"], "wb") as handle:
        pickle.dump(Payload(marker), handle)
    ckpt = torch.load(real, map_location="cpu", weights_only=True)
    ckpt["wavediff"]["note"] = Payload(marker)
    torch.save(ckpt, files["inside"])
    return files


def _cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_the_payload_runs_when_unpickled_unsafely(tmp_path, tiny_class_run):
    """The test's own check: each malicious file does create the marker under a plain
    ``torch.load``, so the refusals below are not vacuous."""
    for kind, path in _malicious(tmp_path, tmp_path / "marker", tiny_class_run["ckpt"]).items():
        marker = tmp_path / "marker"
        marker.unlink(missing_ok=True)
        try:
            torch.load(path, map_location="cpu", weights_only=False)
        except Exception:  # noqa: BLE001 - the bare pickle is not a dict; the payload ran already
            pass
        assert marker.exists(), kind


def _commands(tmp: Path, ckpt: Path, run: dict, vocoder_demo: Path) -> dict[str, list]:
    wav = next(vocoder_demo.rglob("*.wav"))
    recipe = "demo"
    distill_recipe = "demo-distill"
    return {
        "sample": ["sample", ckpt, "--num", "1", "--seconds", "0.1", "--out", tmp / "s"],
        "vocode": ["vocode", ckpt, wav, "--out", tmp / "v.wav"],
        "evaluate": ["evaluate", ckpt, "--data", run["demo"], "--out", tmp / "report"],
        "tune-schedule": ["tune-schedule", ckpt, "--data", vocoder_demo, "--steps", "2"],
        "export": ["export", ckpt, "--out", tmp / "exported"],
        "distill --teacher": ["distill", "--config", distill_recipe, "--teacher", ckpt, "--out", tmp / "d",
                              *run["overrides"]],
        "distill --resume": ["distill", "--config", distill_recipe, "--teacher", run["ckpt"], "--resume", ckpt,
                             "--out", tmp / "d2", *run["overrides"]],
        "train --resume": ["train", "--config", recipe, "--resume", ckpt, "--out", tmp / "t", *run["overrides"]],
    }


COMMANDS = ["sample", "vocode", "evaluate", "tune-schedule", "export", "distill --teacher", "distill --resume",
            "train --resume"]


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_runs_code_from_a_checkpoint(command, tmp_path, capsys, tiny_class_run, tiny_vocoder_run):
    marker = tmp_path / "marker"
    for kind, evil in _malicious(tmp_path, marker, tiny_class_run["ckpt"]).items():
        args = _commands(tmp_path, evil, tiny_class_run, tiny_vocoder_run["demo"])[command]
        code, err = _cli(capsys, *args)
        assert not marker.exists(), f"{command} ran the payload of the {kind} checkpoint"
        assert code == 2, (command, kind, err)
        assert str(evil) in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err


def test_lightning_resume_loads_through_the_safe_path(tmp_path, tiny_class_run):
    marker = tmp_path / "marker"
    evil = _malicious(tmp_path, marker, tiny_class_run["ckpt"])["inside"]
    with pytest.raises(CheckpointError, match="never runs code"):
        AtomicCheckpointIO().load_checkpoint(evil, weights_only=False)  # what trainer.fit(ckpt_path=) calls
    assert not marker.exists()


def test_own_checkpoints_are_plain_and_load_weights_only(tiny_class_run, tiny_vocoder_run):
    for path in (tiny_class_run["ckpt"], tiny_vocoder_run["ckpt"]):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        assert plain(ckpt) is not None and "wavediff" in ckpt and "optimizer_states" in ckpt
    with pytest.raises(TypeError, match="not a plain value"):
        plain({"a": [1, object()]})


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (os.urandom(4096), "not a PyTorch checkpoint"),
])
def test_damaged_checkpoints_are_messages(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    code, err = _cli(capsys, "sample", bad, "--out", tmp_path / "s")
    assert code == 2 and message in err and str(bad) in err and "Traceback" not in err


def test_truncated_and_folder_checkpoints_are_messages(tmp_path, capsys, tiny_class_run):
    data = tiny_class_run["ckpt"].read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    code, err = _cli(capsys, "sample", cut, "--out", tmp_path / "s")
    assert code == 2 and str(cut) in err
    code, err = _cli(capsys, "sample", tiny_class_run["out"], "--out", tmp_path / "s")
    assert code == 2 and "run folder" in err and "checkpoints/last.ckpt" in err
    code, err = _cli(capsys, "sample", tmp_path, "--out", tmp_path / "s")
    assert code == 2 and "is a folder" in err
    not_ours = tmp_path / "other.ckpt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    code, err = _cli(capsys, "sample", not_ours, "--out", tmp_path / "s")
    assert code == 2 and "not a wavediff checkpoint" in err
    assert not (tmp_path / "s").exists()


def test_checkpoint_writes_are_fsynced_and_atomic(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    target = tmp_path / "x.ckpt"
    atomic_torch_save({"a": torch.ones(2)}, target)
    assert len(synced) >= 1 and zipfile.is_zipfile(target)
    assert torch.equal(load_checkpoint(target)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.ckpt"]


def test_export_is_safetensors_and_json_and_every_command_takes_it(tmp_path, capsys, tiny_class_run,
                                                                   tiny_vocoder_run):
    out = tmp_path / "model"
    code, err = _cli(capsys, "export", tiny_class_run["ckpt"], "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    a, b = load_module(tiny_class_run["ckpt"]), load_module(out)
    gen = lambda m: m.generate(2, 256, class_label=torch.tensor([0, 1]), steps=2,  # noqa: E731
                               generator=torch.Generator().manual_seed(0))
    assert torch.equal(gen(a), gen(b))
    code, err = _cli(capsys, "export", tiny_class_run["ckpt"], "--out", out)
    assert code == 2 and "--overwrite" in err
    code, err = _cli(capsys, "sample", out, "--num", "2", "--seconds", "0.05", "--out", tmp_path / "s")
    assert code == 0 and len(list((tmp_path / "s").glob("*.wav"))) == 2, err
    code, err = _cli(capsys, "evaluate", out, "--data", tiny_class_run["demo"], "--steps", "1", "--num", "2",
                     "--save-clips", "0", "--seconds", "0.1", "--methods", "ddim", "--out", tmp_path / "report")
    assert code == 0 and (tmp_path / "report" / "report.json").is_file(), err
    code, err = _cli(capsys, "train", "--config", "demo", "--resume", out,
                     "--out", tmp_path / "t", *tiny_class_run["overrides"])
    assert code == 2 and "exported model" in err and not (tmp_path / "t").exists()
    voc = tmp_path / "vocoder"
    assert _cli(capsys, "export", tiny_vocoder_run["ckpt"], "--out", voc)[0] == 0
    wav = next(tiny_vocoder_run["demo"].rglob("*.wav"))
    code, err = _cli(capsys, "vocode", voc, wav, "--steps", "2", "--out", tmp_path / "v.wav")
    assert code == 0 and (tmp_path / "v.wav").is_file(), err
    held = tmp_path / "held"
    held.mkdir()
    (held / "a.wav").write_bytes(wav.read_bytes())
    code, err = _cli(capsys, "tune-schedule", voc, "--data", held, "--steps", "2", "--clips", "1",
                     "--seconds", "0.2", "--candidates", "2")
    assert code == 0, err
    assert load_module(voc).tuned_grids.keys() == {"ddim:2"}
