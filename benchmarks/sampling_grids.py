"""Which step grid should each sampler use by default, on each schedule?

On a two-Gaussian mixture whose exact denoiser E[x0 | x_t] is known in closed form
(``tests/exact_denoisers.py``), every sampler runs at 8, 12 and 16 steps on every grid
kind and every schedule; the error is the largest miss of the mixture's statistics (the
weight of the left mode, the mean and the standard deviation). The defaults in
``wavediff.diffusion.samplers`` (``default_grid``) are the grids with the smallest error
summed over the step counts; the test ``test_default_grids_reproduce_the_mixture`` pins them.

    python benchmarks/sampling_grids.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from exact_denoisers import GaussianMixture  # noqa: E402

from wavediff.diffusion import SAMPLERS, get_schedule, sample  # noqa: E402
from wavediff.diffusion.samplers import default_grid  # noqa: E402

MIX = GaussianMixture([0.3, 0.7], [-0.6, 0.5], [0.1, 0.2])
SCHEDULES = {"cosine": {}, "linear_beta": {}, "edm": {}}
GRIDS = ("uniform_t", "uniform_logsnr", "karras")
STEPS = (8, 12, 16)
SHAPE = (2000, 1, 8)


def error(schedule_name: str, method: str, grid: str, steps: int, seed: int = 1) -> float:
    """Largest miss of the mixture's statistics by ``method`` on ``grid`` at ``steps`` steps."""
    schedule = get_schedule(schedule_name, **SCHEDULES[schedule_name])
    x = sample(MIX.denoise, SHAPE, schedule, steps, method, grid=grid, generator=torch.Generator().manual_seed(seed),
               dtype=torch.float64)
    return MIX.statistics_miss(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schedules", default=",".join(SCHEDULES))
    ap.add_argument("--methods", default=",".join(SAMPLERS))
    ap.add_argument("--steps", default=",".join(map(str, STEPS)))
    ap.add_argument("--json", type=Path, default=None, help="also write the errors here")
    a = ap.parse_args()
    steps = [int(s) for s in a.steps.split(",")]
    print("| schedule | sampler | " + " | ".join(f"{g} ({'/'.join(map(str, steps))} steps)" for g in GRIDS)
          + " | best | default |")
    print("| --- | --- | " + " | ".join("---" for _ in GRIDS) + " | --- | --- |")
    results = []
    for name in a.schedules.split(","):
        for method in a.methods.split(","):
            errors = {g: [error(name, method, g, s) for s in steps] for g in GRIDS}
            best = min(GRIDS, key=lambda g: sum(errors[g]))
            cells = [" / ".join(f"{e:.3f}" for e in errors[g]) for g in GRIDS]
            print(f"| {name} | {method} | " + " | ".join(cells) + f" | {best} | {default_grid(method, name)} |",
                  flush=True)
            results.append({"schedule": name, "method": method, "steps": steps, "errors": errors, "best": best,
                            "default": default_grid(method, name)})
    if a.json is not None:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
