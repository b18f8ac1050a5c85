"""Do short CPU distillations beat the teacher at the same step count? (demo corpus)

Trains (or reuses) the demo teacher of ``recipes/demo.yaml``, distils it with
``recipes/demo-distill.yaml`` (progressive 16 -> 8 -> 4 -> 2 by default; consistency
distillation on request), then compares, on the same starting noise and the same labels
(guidance 1.5 for the teacher, conditional-only students):

* ``ref_rms``    RMS difference to the teacher's 64-step DDIM sample from the same noise
                 (how well a few-step sampler reproduces the teacher's deterministic map);
* ``ref_mrstft`` multi-resolution STFT distance to that same reference;
* ``fd_mel``     Frechet distance between Gaussian fits of 80-bin log-mel frames of the
                 generated clips and of real held-out clips (distribution level; no
                 same-noise pairing; every held-out clip of the corpus).

for the students at their step count K, and for the teacher at K steps with DDIM (the grid the
progressive students were distilled on) and with DPM-Solver++(2M) (the demo's own sampler).
Lower is better everywhere. Numbers only: nothing here asserts.

Example:
    python benchmarks/distill_demo.py --out runs/distill-bench
    python benchmarks/distill_demo.py --out runs/distill-bench --teacher runs/demo/checkpoints/last.ckpt \\
        --methods progressive,consistency_distillation --json runs/distill-bench/results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from wavediff.audio.mel import LogMel, MelConfig
from wavediff.data.datasets import ClipDataset
from wavediff.diffusion import sample
from wavediff.train.config import load_recipe
from wavediff.train.distill import bind_denoiser, distill, mrstft_loss, sample_student
from wavediff.train.module import load_module
from wavediff.train.run import build_data, train

ROOT = Path(__file__).resolve().parents[1]


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of feature rows ``a`` (n, d) and ``b`` (m, d)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/distill-bench"))
    parser.add_argument("--teacher", type=Path, default=None, help="demo teacher checkpoint (default: train one)")
    parser.add_argument("--teacher-steps", type=int, default=1500, help="training steps of a new teacher")
    parser.add_argument("--methods", default="progressive", help="comma-separated distill methods")
    parser.add_argument("--round-steps", type=int, default=300, help="trainer.max_steps per progressive round")
    parser.add_argument("--cd-steps", type=int, default=600, help="trainer.max_steps of consistency distillation")
    parser.add_argument("--clips", type=int, default=40, help="generated clips per sampler (8 per class)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for this model)")
    parser.add_argument("--reuse", action="store_true",
                        help="evaluate students already in --out instead of distilling again")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    data_root = out / "demo-data"
    timings: dict[str, float] = {}

    teacher = args.teacher
    if teacher is None and args.reuse and (out / "teacher" / "checkpoints" / "last.ckpt").is_file():
        teacher = out / "teacher" / "checkpoints" / "last.ckpt"
    if teacher is None:
        t0 = time.perf_counter()
        recipe = load_recipe(ROOT / "recipes" / "demo.yaml", [f"data.root={data_root}",
                                                             f"trainer.max_steps={args.teacher_steps}"])
        teacher = train(recipe, out / "teacher", progress=False)
        timings["teacher_train_s"] = time.perf_counter() - t0
    students: dict[str, dict[int, Path]] = {}
    for method in [m for m in args.methods.split(",") if m]:
        t0 = time.perf_counter()
        overrides = [f"data.root={data_root}", f"distill.method={method}"]
        if method == "progressive":
            overrides.append(f"trainer.max_steps={args.round_steps}")
        else:
            overrides += [f"trainer.max_steps={args.cd_steps}", f"trainer.val_every={args.cd_steps}"]
        recipe = load_recipe(ROOT / "recipes" / "demo-distill.yaml", overrides)
        if not (args.reuse and (out / method / "distill.json").is_file()):
            distill(recipe, teacher, out / method, progress=False)
            timings[f"{method}_s"] = time.perf_counter() - t0
        if method == "progressive":
            students[method] = {int(p.name.split("_")[1]): p / "checkpoints" / "last.ckpt"
                                for p in sorted((out / method).glob("round_*"))}
        else:
            ckpt = out / method / "checkpoints" / "last.ckpt"
            students[method] = {k: ckpt for k in (1, 2, 4)}

    # -- evaluation ---------------------------------------------------------------------------
    tmod = load_module(teacher)
    recipe = tmod.recipe
    length = 8000
    labels = torch.arange(args.clips) % len(tmod.labels)
    z = torch.randn(args.clips, 1, length, generator=torch.Generator().manual_seed(123))
    guided = bind_denoiser(tmod.ema.model, recipe.diffusion.parameterisation, "class", class_label=labels,
                           guidance=recipe.sample.guidance)
    with torch.inference_mode():
        reference = sample(guided, z.shape, tmod.schedule, 64, "ddim", grid="uniform_t", x_init=z)
    mel_cfg = MelConfig.preset("diffwave", sample_rate=16000)
    extract = LogMel(mel_cfg)
    data = build_data(load_recipe(ROOT / "recipes" / "demo.yaml", [f"data.root={data_root}", "data.valid_clips=100000"]),
                      None)
    real = torch.stack([c["audio"][:, :length] for c in ClipDataset(data.valid)
                        if c["audio"].shape[-1] >= length])
    with torch.inference_mode():
        real_frames = extract(real.reshape(real.shape[0], -1)).transpose(1, 2).reshape(-1, mel_cfg.n_mels).double().numpy()

    def metrics(audio: torch.Tensor) -> dict[str, float]:
        with torch.inference_mode():
            frames = extract(audio.reshape(audio.shape[0], -1).float()).transpose(1, 2).reshape(
                -1, mel_cfg.n_mels).double().numpy()
            return {"ref_rms": float((audio - reference).pow(2).mean().sqrt()),
                    "ref_mrstft": float(mrstft_loss(audio, reference).mean()),
                    "fd_mel": frechet(frames, real_frames)}

    rows = [{"model": "teacher", "sampler": "ddim", "steps": 64, **metrics(reference)}]
    step_counts = sorted({k for per in students.values() for k in per})
    for k in step_counts:
        with torch.inference_mode():
            for sampler in ("ddim", "dpmpp_2m"):
                grid = "uniform_t" if sampler == "ddim" else None
                audio = sample(guided, z.shape, tmod.schedule, k, sampler, grid=grid, x_init=z)
                rows.append({"model": "teacher", "sampler": sampler, "steps": k, **metrics(audio)})
        for method, per in students.items():
            if k not in per:
                continue
            student = load_module(per[k])
            x_init = z if method == "progressive" else z * student.recipe.distill.sigma_max
            audio = sample_student(student, args.clips, length, k, class_label=labels, x_init=x_init,
                                   generator=torch.Generator().manual_seed(7))
            rows.append({"model": method, "sampler": "student", "steps": k, **metrics(audio)})
    print(f"{'model':<26}{'sampler':<10}{'steps':>6}{'ref_rms':>10}{'ref_mrstft':>12}{'fd_mel':>10}")
    for r in rows:
        print(f"{r['model']:<26}{r['sampler']:<10}{r['steps']:>6}{r['ref_rms']:>10.4f}{r['ref_mrstft']:>12.4f}"
              f"{r['fd_mel']:>10.2f}")
    print("timings:", {k: round(v, 1) for k, v in timings.items()})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "timings": timings, "teacher": str(teacher),
                                         "threads": args.threads}, indent=1))


if __name__ == "__main__":
    main()
