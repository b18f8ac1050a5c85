"""Where the time of one denoiser forward goes: a ``torch.profiler`` table by operator.

The network is DiffWave ``base`` with 80-bin mel conditioning at hop 256 (the
ljspeech-vocoder network, untrained), one clip of ``--seconds`` audio, without autograd
(the fused inference path of ``nn/fast.py``; ``--plain`` profiles the layer-by-layer
modules instead). On CUDA the table is sorted by device time. The fused path is profiled
with one stream (``nn.fast.CPU_STREAMS = 1``: its operators split over the intra-op threads)
because the profiler does not see operators run in the worker threads of several streams;
one stream is about 5% slower (``benchmarks/ablations.py --only streams``).

    python benchmarks/profile_forward.py [--seconds 2] [--plain] [--device cpu] [--json PATH]

Numbers only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.profiler import ProfilerActivity, profile

import wavediff.nn.fast as fast
from wavediff.nn import build_denoiser

SAMPLE_RATE = 22050
HOP = 256


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=2.0, help="audio length (default 2)")
    p.add_argument("--plain", action="store_true", help="profile the layer-by-layer modules")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--rows", type=int, default=12, help="operators listed (default 12)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the table as JSON")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    fast.CPU_STREAMS = 1  # every operator in this thread, where the profiler records it
    torch.manual_seed(0)
    net = build_denoiser("base", mel_bins=80, hop=HOP).to(device).eval()
    net.fast_inference = not args.plain
    frames = max(1, int(args.seconds * SAMPLE_RATE) // HOP)
    x = torch.randn(1, 1, frames * HOP, device=device)
    mel = torch.randn(1, 80, frames, device=device)
    logsnr = torch.zeros(1, device=device)
    with torch.inference_mode():
        cond = net.condition(mel=mel)
        net(x, logsnr, cond=cond)  # warm-up: weights folded, thread pools started
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            net(x, logsnr, cond=cond)
            if device.type == "cuda":
                torch.cuda.synchronize()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events) or 1.0
    path = "layer-by-layer modules" if args.plain else "fused path (nn/fast.py)"
    print(f"DiffWave base, {frames * HOP} samples ({args.seconds:g} s), {path}, {device.type}, "
          f"{torch.get_num_threads()} threads; self time by operator (whole forward {total / 1e3:.1f} ms "
          "summed over threads)")
    print(f"{'operator':32s} {'calls':>7s} {'self ms':>9s} {'share':>7s}")
    rows = []
    for e in events[: args.rows]:
        t = getattr(e, key)
        rows.append({"operator": e.key, "calls": e.count, "self_ms": t / 1e3, "share": t / total})
        print(f"{e.key[:32]:32s} {e.count:7d} {t / 1e3:9.1f} {100 * t / total:6.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device.type, "samples": frames * HOP, "plain": args.plain,
                       "total_ms": total / 1e3, "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
