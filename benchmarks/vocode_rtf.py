"""Real-time factor of vocoding with the ljspeech-vocoder recipe's network (DiffWave base,
22.05 kHz, 80-bin mel): seconds of compute per second of audio. The weights are untrained;
speed does not depend on them.

    python benchmarks/vocode_rtf.py --seconds 2 --steps 1,6 [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from wavediff.train.config import load_recipe
from wavediff.train.run import build_module, resolve_mel
from wavediff.vocoder import Vocoder

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="audio length (default 2)")
    parser.add_argument("--steps", default="1,6", help="comma-separated step counts (default 1,6)")
    parser.add_argument("--method", default="ddim", help="sampler (default ddim)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    recipe = load_recipe(ROOT / "recipes" / "ljspeech-vocoder.yaml")
    mel_cfg = resolve_mel(recipe)
    voc = Vocoder(build_module(recipe, mel_cfg.sample_rate, mel_cfg, None, None).eval().to(args.device))
    frames = int(args.seconds * mel_cfg.sample_rate) // mel_cfg.hop_length
    audio_seconds = frames * mel_cfg.hop_length / mel_cfg.sample_rate
    mel = torch.rand(1, mel_cfg.n_mels, frames, device=args.device)
    rows = []
    voc.vocode(mel[..., :8], 1, args.method)  # warm-up
    for steps in [int(s) for s in args.steps.split(",")]:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        voc.vocode(mel, steps, args.method)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rows.append({"steps": steps, "audio_s": audio_seconds, "compute_s": seconds, "rtf": seconds / audio_seconds})
        print(f"{args.device} {args.method} steps={steps:3d}  {audio_seconds:.2f} s audio in {seconds:.2f} s  "
              f"RTF {seconds / audio_seconds:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                         "threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
