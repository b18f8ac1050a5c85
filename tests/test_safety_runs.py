"""Training runs lose nothing: the final step is always on disk, a crash loses at most the
steps since the last save, one run owns its folder, a full disk or a bad ``--resume`` is a
one-line message that damages nothing already written, bad settings are refused before
anything starts."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from tiny_runs import ROOT, TINY_NET, SMALL
from wavediff.checkpoint_io import load_checkpoint
from wavediff.cli import main
from wavediff.train.config import RecipeError, load_recipe
from wavediff.train.module import load_module
from wavediff.train.run import train
from wavediff.train.run_folder import RunFolderBusy, run_folder_lock

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPE = "demo"


def _overrides(demo: Path, steps: int, *extra: str) -> list[str]:
    return [*TINY_NET, *SMALL, f"data.root={demo}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
            "sample.steps=2", f"trainer.max_steps={steps}", *extra]


def _cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _step(path: Path) -> int:
    return int(load_checkpoint(path)["global_step"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "logs" not in p.parts and p.name != ".wavediff.lock"}


@pytest.mark.parametrize("steps, every", [(8, 4), (6, 4)])
def test_the_final_step_is_on_disk_whatever_the_cadence(tmp_path, steps, every):
    """``checkpoint_every`` dividing ``max_steps`` or not, no validation at all: the last step
    is in ``last.ckpt`` and in its own ``step*.ckpt``."""
    recipe = load_recipe(RECIPE, _overrides(tmp_path / "demo", steps, f"trainer.checkpoint_every={every}",
                                            "trainer.val_every=1000"))
    last = train(recipe, tmp_path / "run", progress=False)
    assert _step(last) == steps
    assert _step(tmp_path / "run" / "checkpoints" / f"step{steps:07d}.ckpt") == steps
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == sorted(
        {"last.ckpt", f"step{every:07d}.ckpt", f"step{steps:07d}.ckpt"})


class _Crash(L.Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.at:
            raise RuntimeError("simulated crash")


def test_a_crash_loses_only_the_steps_since_the_last_save_and_resume_finishes(tmp_path):
    extra = ("trainer.checkpoint_every=2", "trainer.val_every=1000", "optim.lr_schedule=constant")
    recipe = load_recipe(RECIPE, _overrides(tmp_path / "demo", 7, *extra))
    full = train(recipe, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(recipe, tmp_path / "crash", progress=False, extra_callbacks=[_Crash(5)])
    last = tmp_path / "crash" / "checkpoints" / "last.ckpt"
    assert _step(last) == 4  # steps 1-4 kept, step 5 lost
    # a stray temporary of an interrupted write is cleaned up on the next start
    stray = last.parent / ".last.ckpt.abc123.tmp"
    stray.write_bytes(b"partial")
    resumed = train(recipe, tmp_path / "crash", resume=last, progress=False)
    assert _step(resumed) == 7 and not stray.exists()
    a, b = load_module(full).state_dict(), load_module(resumed).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


_KILLED_RUN = """
import os, signal, sys
import lightning as L
from wavediff.train.config import load_recipe
from wavediff.train.run import train

class Kill(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 5:
            os.kill(os.getpid(), signal.SIGKILL)

train(load_recipe(sys.argv[1], sys.argv[3:]), sys.argv[2], progress=False, extra_callbacks=[Kill()])
"""


def test_a_killed_run_resumes_to_its_final_step(tmp_path):
    """``kill -9`` at step 5 with a save every 2 steps: steps 1-4 survive, the folder is not
    locked, and the resumed run ends with step 7 on disk, equal to an uninterrupted run."""
    overrides = _overrides(tmp_path / "demo", 7, "trainer.checkpoint_every=2", "trainer.val_every=1000",
                           "optim.lr_schedule=constant")
    full = train(load_recipe(RECIPE, overrides), tmp_path / "full", progress=False)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(RECIPE), str(out), *overrides], env=env)
    assert proc.returncode == -9
    last = out / "checkpoints" / "last.ckpt"
    assert _step(last) == 4
    resumed = train(load_recipe(RECIPE, overrides), out, resume=last, progress=False)
    assert _step(resumed) == 7 and _step(out / "checkpoints" / "step0000007.ckpt") == 7
    a, b = load_module(full).state_dict(), load_module(resumed).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_killed_run_does_not_leave_its_folder_locked(tmp_path):
    out = tmp_path / "run"
    code = (f"import os, signal; from pathlib import Path; from wavediff.train.run_folder import run_folder_lock\n"
            f"with run_folder_lock(Path({str(out)!r})):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == -9 and (out / ".wavediff.lock").exists()
    with run_folder_lock(out):  # the kernel released the dead process's lock
        pass


def test_one_run_per_folder(tmp_path, capsys, tiny_class_run):
    out = tiny_class_run["out"]
    before = _snapshot(out)
    # a second fresh run into a used folder: refused, nothing changes
    code, err = _cli(capsys, "train", "--config", RECIPE, "--out", out, *tiny_class_run["overrides"])
    assert code == 2 and "--resume" in err and "already holds a run" in err
    # a concurrent run (the folder's lock is held): refused, nothing changes
    with run_folder_lock(out):
        code, err = _cli(capsys, "train", "--config", RECIPE, "--out", out, "--resume", tiny_class_run["ckpt"],
                         *tiny_class_run["overrides"])
        with pytest.raises(RunFolderBusy, match="in use by process"):
            with run_folder_lock(out):
                pass
    assert code == 2 and "in use" in err
    # a --resume with another recipe: refused before recipe.yaml is touched
    other = [o.replace("residual_channels: 8", "residual_channels: 4") for o in tiny_class_run["overrides"]]
    code, err = _cli(capsys, "train", "--config", RECIPE, "--out", out, "--resume", tiny_class_run["ckpt"], *other)
    assert code == 2 and "another 'model' section" in err
    assert _snapshot(out) == before
    assert not list(out.rglob("*-v1.ckpt"))


def test_bad_resume_checkpoints_are_messages(tmp_path, capsys, tiny_class_run):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(1000))
    weights = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, weights)
    for bad, message in ((garbage, "not a PyTorch checkpoint"), (weights, "not a wavediff training checkpoint"),
                         (tmp_path / "missing.ckpt", "not found")):
        code, err = _cli(capsys, "train", "--config", RECIPE, "--out", tmp_path / "run", "--resume", bad,
                         *tiny_class_run["overrides"])
        assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("trainer.val_every=0", "trainer.val_every must be positive"),
    ("trainer.checkpoint_every=-1", "trainer.checkpoint_every must be positive"),
    ("optim.warmup_steps=-5", "optim.warmup_steps must be >= 0"),
    ("data.valid_clips=0", "data.valid_clips must be at least 1"),
])
def test_bad_settings_are_refused_before_anything_starts(tmp_path, capsys, override, message):
    code, err = _cli(capsys, "train", "--config", RECIPE, "--out", tmp_path / "run", override)
    assert code == 2 and message in err
    assert not (tmp_path / "run").exists()


def test_overrides_may_follow_options(capsys):
    assert main(["train", "--config", str(RECIPE), "optim.lr=0.0123", "--print-config", "data.batch_size=3"]) == 0
    printed = capsys.readouterr().out
    assert "lr: 0.0123" in printed and "batch_size: 3" in printed
    with pytest.raises(SystemExit):
        main(["sample", "x.ckpt", "stray=1"])  # only train/distill take overrides


def _resume_to_8(out: Path, tiny_class_run) -> list:
    overrides = [o for o in tiny_class_run["overrides"] if not o.startswith("trainer.")]
    return ["train", "--config", RECIPE, "--out", out, "--resume", out / "checkpoints" / "last.ckpt",
            *overrides, "trainer.max_steps=8", "trainer.val_every=1000", "trainer.checkpoint_every=1000"]


def test_a_failing_checkpoint_writer_is_a_message_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch,
                                                                                  tiny_class_run):
    """torch's C++ writer reports a full disk as ``basic_ios::clear``: the message says disk."""
    import wavediff.checkpoint_io as cio

    def failing_save(obj, handle, *args, **kwargs):
        handle.write(b"PK partial")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0: basic_ios::clear")

    out = tmp_path / "run"
    shutil.copytree(tiny_class_run["out"], out)
    monkeypatch.setattr(cio.torch, "save", failing_save)
    last = out / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    code, err = _cli(capsys, *_resume_to_8(out, tiny_class_run))
    assert code == 2 and "disk" in err and "--resume" in err and "Traceback" not in err
    assert last.read_bytes() == before and not list(last.parent.glob(".*.tmp"))


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs (skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                 capture_output=True).returncode == 0
    except OSError:  # no mount command
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (the patched-writer test covers this case)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes remain."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize - leave
    if free > 0:
        with open(folder / "filler", "wb") as handle:
            try:
                handle.write(b"\0" * free)
            except OSError as err:
                assert err.errno == errno.ENOSPC


def test_a_full_disk_is_a_message_and_damages_nothing(tmp_path, capsys, full_disk, tiny_class_run):
    out = full_disk / "run"
    overrides = [o for o in tiny_class_run["overrides"] if not o.startswith("trainer.")]
    common = ["train", "--config", RECIPE, *overrides, "trainer.val_every=1000", "trainer.checkpoint_every=1000"]
    assert _cli(capsys, *common, "--out", out, "trainer.max_steps=2")[0] == 0
    last = out / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    _fill(full_disk, 48 * 1024)  # room for the small files, not for a ~100 KB checkpoint
    code, err = _cli(capsys, *common, "--out", out, "--resume", last, "trainer.max_steps=4")
    assert code == 2 and "no space left" in err and "Traceback" not in err, err
    assert last.read_bytes() == before and _step(last) == 2
    assert not list(last.parent.glob(".*.tmp"))


def test_a_second_demo_into_the_same_folder_is_refused_before_any_work(tmp_path, capsys, tiny_class_run):
    shutil.copytree(tiny_class_run["out"], tmp_path / "demo" / "teacher")
    before = _snapshot(tmp_path / "demo")
    code, err = _cli(capsys, "demo", "--out", tmp_path / "demo", "--minutes", "0.01")
    assert code == 2 and "earlier demo run" in err
    assert _snapshot(tmp_path / "demo") == before and not (tmp_path / "demo" / "data").exists()


def test_a_second_distillation_into_a_used_folder_needs_resume(tmp_path, capsys, tiny_class_run):
    out = tmp_path / "pd"
    (out / "round_2" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_class_run["ckpt"], out / "round_2" / "checkpoints" / "last.ckpt")
    (out / "recipe.yaml").write_text("name: earlier\n")
    before = _snapshot(out)
    code, err = _cli(capsys, "distill", "--config", "demo-distill", "--teacher",
                     tiny_class_run["ckpt"], "--out", out, *tiny_class_run["overrides"])
    assert code == 2 and f"--resume {out / 'round_2' / 'checkpoints' / 'last.ckpt'}" in err
    assert _snapshot(out) == before
