"""The benchmark scripts run and write their JSON (tiny settings: the numbers themselves are
only meaningful from a full run, see benchmarks/RESULTS.md). Nothing here asserts on time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

CASES = {
    "denoiser_speed": ["--device", "cpu", "--preset", "tiny", "--batch", "1", "--frames", "4", "--repeats", "1",
                       "--plain"],
    "vocode_rtf": ["--seconds", "0.3", "--steps", "1", "--long-steps", "2", "--long-seconds", "0.1",
                   "--memory-minutes", "0.05", "--chunk-seconds", "1", "--memory-chunks", "1"],
    "train_speed": ["--batch", "1", "--warmup-batch", "1", "--frames", "2"],
    "ablations": ["--seconds", "0.1", "--repeats", "1", "--only", "gate,layer,upsampler,embedding"],
    "profile_forward": ["--seconds", "0.1", "--rows", "5"],
    "metrics_speed": ["--repeats", "1"],
    "music_level": ["--steps", "1", "--logsnr", "0"],
    "music_variety": ["--held-out", "2", "--train-clips", "3"],
    "music_sampling": ["--untrained", "--variant", "corpus-prior", "--clips", "10",
                       "--settings", "ddpm:1:1.5,ddim:2:1:karras:5"],
    "music_cpu": ["--variants", "tiny,corpus-prior-frequency,harmonic-phase-features,self-conditioning,serial-templates,"
                  "mixture-prior-5,pinned-spectrum-15",
                  "--train-steps", "2", "--clips", "10", "--steps", "1"],
    "receptive_field": ["--cycles", "1", "--steps", "2", "--length", "64"],
    "sampling_grids": ["--schedules", "cosine", "--methods", "ddim", "--steps", "2"],
    "vocoder_cpu": ["--variants", "griffin-lim,griffin-lim-oracle,learned-prior,learned-prior-gl,learned-prior-no-projection", "--train-steps", "2", "--clips", "1", "--sample-steps", "1",
                    "--per-voice", "2"],
}
# benchmarks that need a tool the machine may lack
NEEDS = {"vocoder_cpu": "espeak-ng"}


def _music_sampling():
    """benchmarks/music_sampling.py as a module (it is a script, not a package member)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("music_sampling", BENCHMARKS / "music_sampling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_demo_teacher(tmp_path: Path) -> Path:
    """A demo-recipe checkpoint after 2 steps of a small spectral network."""
    from wavediff.train.config import load_recipe
    from wavediff.train.run import train

    recipe = load_recipe("demo", [
        f"data.root={tmp_path / 'demo'}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
        "model.overrides={prior: corpus, frequency_layers: 1, channels: 8, blocks: 1, kernel_size: 3, expansion: 1, "
        "embedding_dim: 8, mlp_dim: 8, frequency_channels: 2}",
        "data.segment_samples=1024", "data.batch_size=2", "data.valid_clips=2", "sample.steps=1",
        "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2"])
    return train(recipe, tmp_path / "run", progress=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs_and_writes_json(name, tmp_path):
    if name in NEEDS and shutil.which(NEEDS[name]) is None:
        pytest.skip(f"{name} needs {NEEDS[name]} (apt-get install -y {NEEDS[name]})")
    out = tmp_path / f"{name}.json"
    extra = ["--corpus", str(tmp_path / "corpus")] if name == "vocoder_cpu" else []
    if name == "music_level":
        extra = ["--checkpoint", str(_tiny_demo_teacher(tmp_path))]
    run = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *CASES[name], *extra, "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert json.loads(out.read_text())  # a non-empty result


def test_run_all_knows_every_benchmark():
    source = (BENCHMARKS / "run_all.py").read_text()
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")} - {"run_all"}
    assert scripts == set(CASES)  # a new script gets a smoke case here
    for name in set(CASES) - {"metrics_speed", "music_cpu", "music_level", "music_sampling",
                              "music_variety", "receptive_field",
                              "sampling_grids", "vocoder_cpu"}:  # not speed targets
        assert f'"{name}"' in source


@pytest.mark.parametrize("args, message", [
    (["--untrained", "--clips", "12"], "--clips must be a positive multiple of 5"),
    (["--untrained", "--settings", "ddpm:16"], "expected method:steps:guidance[:grid[:rho]]"),
    ([], "give --weights PATH or --untrained"),
])
def test_music_sampling_refuses_bad_options_before_any_work(args, message, monkeypatch, capsys):
    module = _music_sampling()
    monkeypatch.setattr(sys, "argv", ["music_sampling.py", *args])
    monkeypatch.setattr(module, "corpus", lambda *a, **k: pytest.fail("the corpus was built before the refusal"))
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_music_sampling_class_breakdown_reads_variety_between_clips():
    """Real notes against themselves: fd_mel 0 and variety 1 in every class; the same notes
    with every clip of a class replaced by that class's first one: variety 0 (the clips are
    all alike) and fd_mel above 0."""
    import numpy as np

    from wavediff.eval.distribution import DistributionMetrics

    module = _music_sampling()
    audio, labels = module.corpus(3, 3)
    metrics = DistributionMetrics(audio, module.SR, held_out_labels=labels)
    fds, variety = module.class_breakdown(metrics, audio, labels)
    assert np.allclose(fds, 0.0, atol=1e-6) and np.allclose(variety, 1.0)
    alike = audio.clone()
    for k in range(module.CLASSES):
        alike[labels == k] = audio[np.flatnonzero(labels == k)[0]]
    fds_alike, variety_alike = module.class_breakdown(metrics, alike, labels)
    assert np.allclose(variety_alike, 0.0, atol=1e-9)
    assert all(f > 0 for f in fds_alike)
