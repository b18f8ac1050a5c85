"""``wavediff demo``: it runs the packaged demo recipes, shares the training budget as planned,
leaves the caller's warning filters and logger levels as they were, and runs end to end on
a tiny budget."""

import json
import logging
import warnings
from pathlib import Path

import pytest

from wavediff.cli import main
from wavediff.eval.demo import STAGE_COST, SUMMARY_METRICS, best_by_steps, plan, summary_table
from wavediff.train.config import load_recipe


def test_the_demo_runs_the_packaged_recipe_and_restores_warnings_and_loggers(tmp_path, monkeypatch):
    """The teacher's recipe is the packaged ``demo`` recipe with this run's data folder, step
    counts and device; inside the run Lightning's console is quietened, and afterwards the
    logger levels and warning filters are the caller's again (also when a stage fails)."""
    import lightning.pytorch  # noqa: F401  (its import sets its logger's level)

    from wavediff.eval.demo import run_demo

    seen = {}

    class Stop(Exception):
        pass

    def train(recipe, out, progress=True):
        seen.update(recipe=recipe, level=logging.getLogger("lightning.pytorch").level, filters=list(warnings.filters))
        raise Stop

    monkeypatch.setattr("wavediff.eval.demo.time_teacher_step", lambda device, recipe, net, steps=8: 0.5)
    monkeypatch.setattr("wavediff.data.demo.write_demo_corpus", lambda root, config: None)
    monkeypatch.setattr("wavediff.train.run.train", train)
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    try:
        logger.setLevel(logging.DEBUG)
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)
            filters = list(warnings.filters)
            with pytest.raises(Stop):
                run_demo(tmp_path / "demo", say=lambda _: None)
            assert list(warnings.filters) == filters
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(level)
    assert seen["level"] == logging.WARNING and len(seen["filters"]) > len(filters)
    got, shipped = seen["recipe"].to_dict(), load_recipe("demo").to_dict()
    for section in ("name", "model", "diffusion", "optim", "sample", "distill"):
        assert got[section] == shipped[section], section
    assert got["data"] == {**shipped["data"], "root": str(tmp_path / "demo" / "data")}
    teacher_steps = plan(5.0, 0.5).teacher_steps
    assert got["trainer"] == {**shipped["trainer"], "max_steps": teacher_steps, "val_every": teacher_steps // 2,
                              "checkpoint_every": teacher_steps // 2, "accelerator": "cpu"}


def test_the_budget_is_shared_between_the_stages():
    p = plan(6.0, 0.2)  # 6 minutes = 360 s
    spent = 0.2 * (p.teacher_steps * STAGE_COST["teacher"] + 2 * p.round_steps * STAGE_COST["progressive"]
                   + p.consistency_steps * STAGE_COST["consistency"])
    assert spent == pytest.approx(360, rel=0.02)
    assert p.teacher_steps > 2 * p.round_steps
    tiny = plan(0.01, 0.2)  # floors keep every stage meaningful
    assert (tiny.teacher_steps, tiny.round_steps, tiny.consistency_steps) == (20, 10, 10)


def _row(model, method, steps, **metrics):
    return {"model": model, "method": method, "steps": steps, "metrics": metrics}


def test_the_summary_picks_the_best_value_in_each_metrics_direction():
    """fd_mel: the smallest of a model's samplers; coverage and class_consistency: the
    largest; each table says which way is better and the real-vs-real floor where known."""
    report = {"rows": [
        _row("teacher", "ddim", 4, fd_mel=200.0, coverage=0.25, class_consistency=0.5, mrstft_to_teacher=1.2),
        _row("teacher", "ddpm", 4, fd_mel=120.0, coverage=0.125, class_consistency=0.25, mrstft_to_teacher=1.5),
        _row("teacher", "ddim", 16, fd_mel=150.0, coverage=0.5, class_consistency=float("nan")),
        _row("consistency", "consistency", 4, fd_mel=250.0, coverage=0.375, class_consistency=0.75),
    ], "baseline": {"fd_mel": 40.8, "coverage": 0.8125}}
    assert best_by_steps(report, "fd_mel") == {4: {"teacher": 120.0, "consistency": 250.0}, 16: {"teacher": 150.0}}
    assert best_by_steps(report, "coverage") == {4: {"teacher": 0.25, "consistency": 0.375}, 16: {"teacher": 0.5}}
    assert best_by_steps(report, "class_consistency") == {4: {"teacher": 0.5, "consistency": 0.75}}  # NaN skipped
    assert best_by_steps(report, "mrstft_to_teacher") == {4: {"teacher": 1.2}}
    with pytest.raises(ValueError, match="no better direction"):
        best_by_steps(report, "nn_train_ratio")  # a target value (about 1), not a direction

    # the default metrics are the registry's highlighted distribution metrics, which the rows hold
    assert SUMMARY_METRICS == ("fd_mel", "coverage", "class_consistency", "periodicity_gap")
    text = summary_table(report)
    assert "fd_mel (lower is better; teacher: the best of its samplers; real vs real 40.800)" in text
    assert "coverage (higher is better; teacher: the best of its samplers; real vs real 0.812)" in text
    assert "class_consistency (higher is better; teacher: the best of its samplers)" in text
    assert "mrstft_to_teacher" not in text  # fidelity to the teacher: shown in the report, not summarised
    lines = text.splitlines()
    coverage_at_4 = lines[lines.index(next(l for l in lines if l.startswith("coverage"))) + 2]
    assert coverage_at_4.split() == ["4", "0.250", "0.375"]
    assert summary_table({"rows": [_row("teacher", "ddim", 4, fd_mel=1.0)]}).startswith("fd_mel (lower")


def test_demo_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--task", "music", "--out", str(out), "--minutes", "0.01", "--clips", "6"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report" / "report.json").read_text())
    models = {r["model"] for r in report["rows"]}
    assert models == {"teacher", "progressive", "consistency"}
    assert {r["steps"] for r in report["rows"] if r["model"] == "progressive"} == {4, 8}
    assert {r["steps"] for r in report["rows"] if r["model"] == "consistency"} == {1, 2, 4}
    html = (out / "gallery.html").read_text()
    assert html.count("<audio") >= len(report["rows"])
    summary = json.loads((out / "demo.json").read_text())
    assert summary["plan"]["teacher_steps"] == 20 and Path(summary["gallery"]).is_file()
    assert "fd_mel" in printed and "gallery.html" in printed
    assert "consistency" in summary_table(report)


def test_bad_options_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0"]) == 2
    assert "--minutes must be positive" in capsys.readouterr().err
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["demo", "--out", str(out), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "use --device cpu" in err
    assert not out.exists()  # nothing written


def test_model_chooses_the_teacher_network(tmp_path, capsys, monkeypatch):
    from wavediff.cli import build_parser
    from wavediff.eval.demo import run_demo
    from wavediff.nn import PRESETS

    seen = {}

    class Stop(Exception):
        pass

    def timed(device, recipe, net, steps=8):
        seen["timed"] = (recipe.model.preset, recipe.model.overrides)
        return 0.5

    def train(recipe, out, progress=True):
        seen["trained"] = (recipe.model.preset, recipe.model.overrides)
        raise Stop  # the teacher's recipe is all this test needs

    monkeypatch.setattr("wavediff.eval.demo.time_teacher_step", timed)
    monkeypatch.setattr("wavediff.train.run.train", train)
    with pytest.raises(Stop):
        run_demo(tmp_path / "demo", model="base")
    assert seen == {"timed": ("base", {}), "trained": ("base", {})}  # the preset as it is
    printed = capsys.readouterr().out
    assert "teacher network base: " in printed and "receptive field 6139 samples" in printed
    with pytest.raises(Stop):  # by default: the recipe's network, overrides and all
        run_demo(tmp_path / "default")
    shipped = load_recipe("demo").model
    assert seen == {"timed": (shipped.preset, shipped.overrides), "trained": (shipped.preset, shipped.overrides)}
    assert "teacher network spectral: " in capsys.readouterr().out
    # the command line offers every preset, and refuses others before any work
    demo = next(a for a in build_parser()._subparsers._group_actions[0].choices["demo"]._actions if a.dest == "model")
    assert demo.choices == list(PRESETS) and demo.default is None  # None: the demo recipe's network
    with pytest.raises(SystemExit) as refused:
        main(["demo", "--task", "music", "--out", str(tmp_path / "other"), "--model", "huge"])
    assert refused.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err and not (tmp_path / "other").exists()
    with pytest.raises(ValueError, match="unknown --model 'huge'"):
        run_demo(tmp_path / "other", model="huge")
    assert not (tmp_path / "other").exists()
