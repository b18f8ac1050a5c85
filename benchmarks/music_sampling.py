"""Which sampling settings suit a demo-notes generator, and how many clips does it take to tell?

Loads the EMA weights that ``music_cpu.py --save DIR`` writes (``DIR/<variant>.weights.pt``),
or with ``--untrained`` the variant's network as built (its corpus prior fitted, the
corrections zero: the prior's posterior mean alone), and draws ``--clips`` clips (class
``i % 5`` for clip ``i``) with each setting ``method:steps:guidance[:grid[:rho]]`` (grid
``uniform_logsnr`` unless named). Each row is scored as in ``music_cpu.py`` against
``--clips`` held-out notes (corpus seed 1): ``fd_mel`` (with the real-vs-real floor: as many
training notes against the same held-out ones), ``class_consistency``, ``periodicity_gap``,
each class's mean periodicity and the level against the held-out notes. Per class it also
prints where ``fd_mel`` comes from: the class's own ``fd_mel`` (its generated frames against
its held-out frames) and its ``variety``, the spread of the clips' mean log-mel between clips
of the class relative to the held-out clips' (per band, averaged; 1 is as varied as real
notes, below 1 the clips are more alike than real ones), each next to the value as many
training notes get.

    python benchmarks/music_cpu.py --train-steps 1000 --variants mixture-prior-15 --save clips/
    python benchmarks/music_sampling.py --weights clips/mixture-prior-15.weights.pt --clips 120 \\
        --settings ddpm:16:1.5,ddpm:16:1.5:karras
    python benchmarks/music_sampling.py --untrained --settings ddpm:16:1,ddpm:64:1,ddpm:256:1,ddim:16:1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import music_cpu  # noqa: E402  (its variants, network builder, corpus, sampling and level)

from music_cpu import corpus, crops, generate, level_db  # noqa: E402

from wavediff.audio.data_transform import DataTransform, suggest_data_scale  # noqa: E402
from wavediff.data.demo import DEMO_CLASSES  # noqa: E402
from wavediff.eval.distribution import DistributionMetrics, frechet_distance, periodicity  # noqa: E402

SR, SEGMENT, CLASSES = music_cpu.SR, music_cpu.SEGMENT, music_cpu.CLASSES


def parse_setting(text: str) -> tuple[str, int, float, str, float]:
    """``method:steps:guidance[:grid[:rho]]`` -> its parts (grid ``uniform_logsnr``, rho 7)."""
    parts = text.split(":")
    if not 3 <= len(parts) <= 5:
        raise ValueError(f"setting {text!r}: expected method:steps:guidance[:grid[:rho]]")
    grid = parts[3] if len(parts) > 3 else "uniform_logsnr"
    rho = float(parts[4]) if len(parts) > 4 else 7.0
    return parts[0], int(parts[1]), float(parts[2]), grid, rho


def class_breakdown(metrics: DistributionMetrics, clips: torch.Tensor,
                    labels: np.ndarray) -> tuple[list[float], list[float]]:
    """Per class: ``fd_mel`` of the class's frames of ``clips`` against its held-out frames (those
    ``metrics`` holds, with its ``held_out_labels``), and its variety: the std between clips of
    each band's clip mean (standardised log-mel), ``clips`` over held-out, averaged over the
    bands that vary between held-out clips."""
    bands = metrics.features.config.n_mels
    made = metrics.features.frames(clips).reshape(len(clips), -1, bands)  # (clips, frames, bands)
    real = metrics.real_frames.reshape(len(metrics.held_out_labels), -1, bands)
    fds, variety = [], []
    for k in range(CLASSES):
        a, b = made[labels == k], real[metrics.held_out_labels == k]
        fds.append(frechet_distance(a.reshape(-1, bands), b.reshape(-1, bands)))
        spread_made, spread_real = a.mean(1).std(0), b.mean(1).std(0)
        varies = spread_real > 1e-3
        variety.append(float((spread_made[varies] / spread_real[varies]).mean()))
    return fds, variety


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="mixture-prior-15", help="the music_cpu.py variant the weights belong to")
    ap.add_argument("--weights", type=Path, default=None, help="EMA weights written by music_cpu.py --save")
    ap.add_argument("--untrained", action="store_true", help="no weights: the variant's prior alone")
    ap.add_argument("--settings", default="ddpm:16:1.5", help="comma-separated method:steps:guidance[:grid[:rho]]")
    ap.add_argument("--clips", type=int, default=40, help="generated and held-out clips (a multiple of 5)")
    ap.add_argument("--seed", type=int, default=1, help="of the sampling noise")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = ap.parse_args()
    if (args.weights is None) == (not args.untrained):
        ap.error("give --weights PATH or --untrained (one of them)")
    if args.variant not in music_cpu.VARIANTS:
        ap.error(f"unknown variant {args.variant!r}; choose from {list(music_cpu.VARIANTS)}")
    if args.clips < CLASSES or args.clips % CLASSES:
        ap.error(f"--clips must be a positive multiple of {CLASSES} (as many clips of every class)")
    try:
        settings = [parse_setting(s) for s in args.settings.split(",")]
    except ValueError as error:
        ap.error(str(error))
    torch.set_num_threads(args.threads)

    audio, labels = corpus(0, 48)
    per_class = max(args.clips // CLASSES, 1)
    held_audio, held_labels = corpus(1, per_class)
    rng = np.random.default_rng(123)
    held = crops(held_audio, np.arange(len(held_audio)), rng)[: args.clips]
    held_labels = held_labels[: args.clips]
    balanced = np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(CLASSES)])
    transform = DataTransform(suggest_data_scale(audio, 0.0), 0.0)
    metrics = DistributionMetrics(held, SR, held_out_labels=held_labels)
    training_notes = crops(audio, balanced, rng)
    floor = metrics.floor(training_notes, labels[balanced])
    real_level = level_db(held)
    train_fd, train_variety = class_breakdown(metrics, training_notes, labels[balanced])
    net = music_cpu.build(args.variant, transform.encode(audio[..., :SEGMENT]), torch.from_numpy(labels))
    if args.weights is not None:
        net.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    net.eval()
    which = "untrained (the prior alone)" if args.untrained else str(args.weights)
    print(f"{args.variant}, {which}; {len(held)} held-out clips; real-vs-real fd_mel {floor['fd_mel']:.1f}, "
          f"periodicity_gap {floor['periodicity_gap']:.3f}", flush=True)

    asked = torch.arange(args.clips) % CLASSES
    results = {"variant": args.variant, "weights": which, "clips": args.clips, "floor": floor, "rows": []}
    for method, steps, guidance, grid, rho in settings:
        start = time.perf_counter()
        clips = generate(net, transform, method, steps, args.clips, guidance=guidance, grid=grid, rho=rho,
                         seed=args.seed)
        values = metrics(clips, asked.numpy())
        period = periodicity(clips, SR)
        row = {"method": method, "steps": steps, "guidance": guidance, "grid": grid, "rho": rho,
               "fd_mel": values["fd_mel"], "class_consistency": values["class_consistency"],
               "periodicity_gap": values["periodicity_gap"],
               "periodicity": {c: float(period[asked.numpy() == k].mean()) for k, c in enumerate(DEMO_CLASSES)},
               "level_db": level_db(clips) - real_level, "seconds": time.perf_counter() - start}
        row["class_fd_mel"], row["class_variety"] = class_breakdown(metrics, clips, asked.numpy())
        results["rows"].append(row)
        print(f"    {method} {steps} ({grid}{'' if grid != 'karras' else f', rho {rho:g}'}), guidance {guidance:g}: "
              f"fd_mel {row['fd_mel']:.1f}, class_consistency {row['class_consistency']:.2f}, periodicity_gap "
              f"{row['periodicity_gap']:.3f}, level {row['level_db']:+.1f} dB", flush=True)

    print(f"\n| sampler | grid | guidance | fd_mel (floor {floor['fd_mel']:.1f}) | class_consistency | periodicity_gap "
          f"(floor {floor['periodicity_gap']:.3f}) | periodicity {' / '.join(DEMO_CLASSES)} | level vs real |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results["rows"]:
        grid = r["grid"] + (f" (rho {r['rho']:g})" if r["grid"] == "karras" else "")
        period = " / ".join(f"{r['periodicity'][c]:.2f}" for c in DEMO_CLASSES)
        print(f"| {r['method'].upper()} {r['steps']} | {grid} | {r['guidance']:g} | {r['fd_mel']:.1f} "
              f"| {r['class_consistency']:.2f} | {r['periodicity_gap']:.3f} | {period} | {r['level_db']:+.1f} dB |")
    print(f"\nper class, fd_mel / variety (training notes: "
          f"{', '.join(f'{c} {f:.1f} / {v:.2f}' for c, f, v in zip(DEMO_CLASSES, train_fd, train_variety))})")
    print(f"| sampler | guidance | {' | '.join(DEMO_CLASSES)} |")
    print("| --- | --- |" + " --- |" * CLASSES)
    for r in results["rows"]:
        cells = " | ".join(f"{f:.1f} / {v:.2f}" for f, v in zip(r["class_fd_mel"], r["class_variety"]))
        print(f"| {r['method'].upper()} {r['steps']} ({r['grid']}) | {r['guidance']:g} | {cells} |")
    results["training_notes"] = {"class_fd_mel": train_fd, "class_variety": train_variety}
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
