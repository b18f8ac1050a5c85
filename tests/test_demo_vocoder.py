"""`wavediff demo --task vocoder` (the default task): espeak-ng speech, the demo-vocoder
teacher, progressive and consistency students, a report with the Griffin-Lim row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wavediff.cli import main
from wavediff.data.espeak import espeak_available
from wavediff.eval.demo_vocoder import ROUNDS, STAGE_COST, plan, vocoder_table

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
SMALL = ("model.overrides={prior: learned, projection_iterations: 4, channels: 16, blocks: 1, kernel_size: 3, "
         "expansion: 1, embedding_dim: 16, mlp_dim: 16, magnitude_channels: 16, magnitude_blocks: 1}")


def test_the_budget_is_shared_between_the_stages():
    p = plan(6.0, 0.2)
    spent = 0.2 * (p.teacher_steps * STAGE_COST["teacher"] + ROUNDS * p.round_steps * STAGE_COST["progressive"]
                   + p.consistency_steps * STAGE_COST["consistency"])
    assert spent == pytest.approx(360, rel=0.02)
    assert p.teacher_steps > ROUNDS * p.round_steps
    assert (plan(0.001, 0.2).teacher_steps, plan(0.001, 0.2).round_steps) == (20, 10)


def test_without_espeak_the_message_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "espeak-ng" in err and "apt-get install espeak-ng" in err and "--task music" in err
    assert not out.exists()
    assert main(["demo", "--out", str(out), "--model", "base"]) == 2  # a music-task option
    assert "--model chooses the music demo's teacher" in capsys.readouterr().err


@needs_espeak
def test_vocoder_demo_end_to_end(tmp_path, capsys, one_thread):
    from wavediff.eval.demo_vocoder import run_vocoder_demo

    out = tmp_path / "demo"
    report = run_vocoder_demo(out, minutes=0.001, num_clips=2, overrides=[SMALL], progress=False)
    printed = capsys.readouterr().out
    rows = report["rows"]
    assert {r["model"] for r in rows} == {"teacher", "progressive", "consistency", "griffin-lim"}
    assert {r["steps"] for r in rows if r["model"] == "teacher"} == {1, 2, 6}
    assert {r["steps"] for r in rows if r["model"] == "progressive"} == {1, 2}
    assert {r["steps"] for r in rows if r["model"] == "consistency"} == {1, 2, 6}
    for r in rows:
        assert {"pesq", "stoi", "mrstft_distance"} <= set(r["metrics"]), r
    split = json.loads((out / "data" / "split.json").read_text())
    assert split["valid"] and all(p.split("/")[0] in ("en-029+m1", "en-us-nyc+f3") for p in split["valid"])
    html = (out / "gallery.html").read_text()
    assert html.count("<audio") >= len(rows)
    summary = json.loads((out / "demo.json").read_text())
    assert summary["task"] == "vocoder" and Path(summary["gallery"]).is_file()
    assert "teacher network spectral (SpectralDenoiser)" in printed and "griffin-lim" in printed
    assert "pesq (higher is better)" in vocoder_table(report)
