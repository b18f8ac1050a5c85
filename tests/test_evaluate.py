"""``wavediff evaluate``: a teacher and its students compared on the same noise and clips,
a vocoder's copy-synthesis report, the report folder layout, and the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavediff.audio.metrics import metric_info
from wavediff.cli import main
from wavediff.eval.evaluate import EvalOptions, EvaluationError, evaluate
from wavediff.eval.models import resolve_model
from wavediff.train.config import load_recipe
from wavediff.train.distill import distill
from wavediff.train.run import train

from tiny_runs import TINY_NET, SMALL

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """A tiny class-conditional teacher, a progressive student (4 -> 2) and a consistency
    student, a few training steps each."""
    tmp = tmp_path_factory.mktemp("family")
    demo = [f"data.root={tmp / 'demo'}", "data.options={clips_per_class: 3, clip_seconds: 0.25}"]
    recipe = load_recipe("demo", [*TINY_NET, *SMALL, *demo, "sample.steps=4", "sample.method=dpmpp_2m",
                                                          "trainer.max_steps=3",
                                                          "trainer.val_every=3", "trainer.checkpoint_every=3"])
    teacher = train(recipe, tmp / "teacher", progress=False)
    common = [*SMALL, *demo, "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2",
              "distill.val_clips=2", "optim.warmup_steps=1"]
    distill(load_recipe("demo-distill",
                        [*common, "distill.teacher_steps=4", "distill.target_steps=2"]), teacher, tmp / "progressive",
            progress=False)
    distill(load_recipe("demo-distill",
                        [*common, "distill.method=consistency_distillation", "distill.sample_steps=[1, 2]"]),
            teacher, tmp / "consistency", progress=False)
    return tmp


def test_models_resolve_from_files_and_run_folders(family):
    teacher = resolve_model(family / "teacher")
    assert teacher.kind == "plain" and teacher.name == "demo"
    prog = resolve_model(family / "progressive")
    assert prog.kind == "progressive" and sorted(prog.checkpoints) == [2]
    cd = resolve_model(family / "consistency" / "checkpoints" / "last.ckpt")
    assert cd.kind == "consistency" and cd.name == "consistency_distillation"
    with pytest.raises(FileNotFoundError, match="checkpoints/last.ckpt or distill.json"):
        resolve_model(family / "demo")


def test_compare_report_pairs_models_on_the_same_noise(family, tmp_path):
    out = tmp_path / "report"
    report = evaluate([family / "teacher", family / "progressive", family / "consistency"], family / "demo", out,
                      EvalOptions(steps=[1, 2, 4], num=6, save_clips=2, reference_steps=4, train_clips=10,
                                  progress=None))
    rows = {(r["model"], r["method"], r["steps"]): r for r in report["rows"]}
    # teacher: DDIM and its own sampler at every step count; students at theirs
    assert set(rows) == {("teacher", m, k) for m in ("ddim", "dpmpp_2m") for k in (1, 2, 4)} | {
        ("progressive", "progressive", 2), ("consistency_distillation", "consistency", 1),
        ("consistency_distillation", "consistency", 2)}
    # guidance 1.5: the teacher evaluates two branches per step; the students one
    assert rows[("teacher", "dpmpp_2m", 4)]["nfe"] == 8 and rows[("progressive", "progressive", 2)]["nfe"] == 2
    # the reference is the teacher's 4-step DDIM sample from the same noise and labels:
    # the teacher's own 4-step DDIM row must reproduce it
    assert rows[("teacher", "ddim", 4)]["metrics"]["mrstft_to_teacher"] < 1e-3
    assert rows[("teacher", "ddim", 1)]["metrics"]["mrstft_to_teacher"] > 0.01
    for r in report["rows"]:
        m = r["metrics"]
        assert {"fd_mel", "coverage", "class_consistency", "copy_fraction", "mrstft_to_teacher"} <= set(m)
        assert all(np.isfinite(v) for v in m.values())
        assert r["rtf"] > 0 and len(r["audio"]) == 2 == len(r["spectrograms"])
        for rel in r["audio"] + r["spectrograms"]:
            assert (out / rel).is_file()
        audio, sr = sf.read(out / r["audio"][0])
        assert sr == 16000 and len(audio) == 1024
    assert report["kind"] == "class" and report["clips"][1]["label"] == "bowed"
    # reference clip i is a held-out clip of the class generated clip i was asked for (where the
    # held-out clips have one: this corpus's few held-out segments hold no bell)
    assert report["references"][1]["label"] == "bowed" == report["clips"][1]["label"]
    # every metric is described by the registry; the teacher distance and the copy check are never highlighted
    info = report["metric_info"]
    assert set(info) == {k for r in report["rows"] for k in r["metrics"]}
    assert {k for k, v in info.items() if not v["highlight"]} == {"mrstft_to_teacher", "copy_fraction", "nn_train_ratio"}
    assert set(report["baseline"]) == {"fd_mel", "coverage", "periodicity_gap"}
    saved = json.loads((out / "report.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(report["rows"]))
    assert {"quality_vs_nfe.png", "rtf_vs_nfe.png", "real_vs_generated.png"} <= {Path(p).name for p in saved["plots"]}
    for rel in saved["plots"]:
        assert (out / rel).stat().st_size > 5000
    summary = (out / "summary.md").read_text()
    assert "| progressive | progressive | 2 | 2 |" in summary and "not comparable to published FAD" in summary


def test_same_seed_same_clips(family, tmp_path):
    opts = dict(steps=[2], num=4, save_clips=1, methods=["ddim"], train_clips=4, progress=None)
    evaluate([family / "teacher"], family / "demo", tmp_path / "a", EvalOptions(**opts))
    evaluate([family / "teacher"], family / "demo", tmp_path / "b", EvalOptions(**opts))
    evaluate([family / "teacher"], family / "demo", tmp_path / "c", EvalOptions(**opts, seed=1))
    a, b, c = (sf.read(tmp_path / d / "audio/demo/ddim-2/000.wav")[0] for d in "abc")
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_vocoder_copy_synthesis_report(family, tmp_path):
    demo = tmp_path / "demo"
    recipe = load_recipe("tiny-vocoder", [
        f"data.root={demo}", "data.options={clips_per_class: 2, clip_seconds: 0.25}", *TINY_NET, *SMALL,
        "data.segment_samples=2048", "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2"])
    ckpt = train(recipe, tmp_path / "voc", progress=False)
    report = evaluate([ckpt], demo, tmp_path / "report",
                      EvalOptions(steps=[1, 2], num=3, seconds=0.2, methods=["ddim"], save_clips=3, progress=None))
    # the two model rows, then the Griffin-Lim baseline on the same mels (no network: NFE 0)
    assert report["kind"] == "vocoder" and len(report["rows"]) == 3
    gl = report["rows"][-1]
    assert (gl["model"], gl["method"], gl["steps"], gl["nfe"]) == ("griffin-lim", "griffin_lim", 64, 0)
    assert len(gl["audio"]) == 3 and any("Griffin-Lim" in n for n in report["notes"])
    assert report["metric_info"] == metric_info(["mrstft_distance", "mel_l1", "lsd"])
    for r in report["rows"]:
        assert set(r["metrics"]) == {"mrstft_distance", "mel_l1", "lsd"}
        assert all(np.isfinite(v) for v in r["metrics"].values())
    # Griffin-Lim inverts the mel up to phase: its mel L1 is far below an untrained network's
    assert gl["metrics"]["mel_l1"] < 0.5 * report["rows"][0]["metrics"]["mel_l1"]
    hop = 256
    ref, _ = sf.read(tmp_path / "report" / report["references"][0]["audio"])
    gen, _ = sf.read(tmp_path / "report" / report["rows"][0]["audio"][0])
    assert len(ref) == len(gen) and len(ref) % hop == 0  # clip i resynthesises reference i
    # a vocoder and a class-conditional model cannot be compared on the same clips
    with pytest.raises(EvaluationError, match="differ in .*compare models of the same corpus and conditioning"):
        evaluate([family / "teacher", ckpt], demo, tmp_path / "mixed", EvalOptions(steps=[1], progress=None))


def test_bad_input_is_refused_with_a_clear_message(family, tmp_path, capsys):
    with pytest.raises(EvaluationError, match="not a folder"):
        evaluate([family / "teacher"], tmp_path / "missing", tmp_path / "r", EvalOptions(progress=None))
    with pytest.raises(EvaluationError, match="nothing to evaluate"):
        evaluate([family / "progressive"], family / "demo", tmp_path / "r", EvalOptions(steps=[8], progress=None))
    with pytest.raises(EvaluationError, match="names"):
        evaluate([family / "teacher"], family / "demo", tmp_path / "r", EvalOptions(names=["a", "b"], progress=None))
    assert main(["evaluate", str(family / "teacher"), "--data", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_evaluate_cli_writes_a_report(family, tmp_path, capsys):
    out = tmp_path / "cli-report"
    assert main(["evaluate", str(family / "teacher"), str(family / "progressive"), "--data", str(family / "demo"),
                 "--steps", "2", "--num", "4", "--methods", "ddim", "--save-clips", "1", "--reference-steps", "2",
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [(r["model"], r["steps"]) for r in report["rows"]] == [("teacher", 2), ("progressive", 2)]
    assert "wavediff gallery" in capsys.readouterr().out


def test_methods_may_name_their_grid(family, tmp_path):
    opts = dict(steps=[2, 6], num=4, save_clips=1, train_clips=4, progress=None)
    report = evaluate([family / "teacher"], family / "demo", tmp_path / "r", EvalOptions(
        methods=["ddpm:uniform_t", "ddpm:uniform_logsnr", "ddpm:diffwave6", "ddim"], **opts))
    rows = {(r["method"], r["steps"]): r for r in report["rows"]}
    # a named grid runs at its own step count only
    assert set(rows) == {(m, k) for m in ("ddpm:uniform_t", "ddpm:uniform_logsnr", "ddim") for k in (2, 6)} | {
        ("ddpm:diffwave6", 6)}
    assert rows[("ddpm:uniform_logsnr", 2)]["settings"]["grid"] == "uniform_logsnr"
    assert rows[("ddpm:uniform_t", 2)]["settings"]["sampler"] == "ddpm"
    assert rows[("ddim", 2)]["settings"]["grid"] == "uniform_t"
    assert rows[("ddpm:uniform_t", 2)]["nfe"] == 4  # guidance: two branches per step
    # the grid is really used: same noise, different grid, different clips
    a, b = (sf.read(tmp_path / "r" / rows[(m, 2)]["audio"][0])[0] for m in ("ddpm:uniform_t", "ddpm:uniform_logsnr"))
    assert np.abs(a - b).max() > 1e-4
    for bad, match in (("ddpx", "unknown sampler 'ddpx'"), ("ddpm:zigzag", "unknown grid 'zigzag'")):
        with pytest.raises(EvaluationError, match=match):
            evaluate([family / "teacher"], family / "demo", tmp_path / "bad", EvalOptions(methods=[bad], **opts))
    with pytest.raises(EvaluationError, match="add 6 to --steps"):
        evaluate([family / "teacher"], family / "demo", tmp_path / "bad",
                 EvalOptions(**{**opts, "steps": [2]}, methods=["ddpm:diffwave6"]))
    assert not (tmp_path / "bad").exists()  # refused before anything is written
