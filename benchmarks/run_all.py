"""Run every speed benchmark with its defaults, one after the other, and keep the JSON.

    python benchmarks/run_all.py [--out runs/bench] [--device cpu]

Writes ``OUT/<name>.json`` and ``OUT/<name>.log`` for ``denoiser_speed`` (with the plain
layer-by-layer forward for comparison), ``vocode_rtf``, ``train_speed``, ``ablations`` and
``profile_forward``,
then prints how long each took (under 10 minutes in all on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    # fewer repeats than each script's default keep the whole run under 10 minutes on 2 cores
    "denoiser_speed": ["--plain", "--repeats", "1"],
    "vocode_rtf": ["--long-seconds", "0.5"],
    "train_speed": ["--warmup-batch", "1"],
    # "path" (plain vs fused forward) is left to denoiser_speed's fwd-plain rows
    "ablations": ["--repeats", "2", "--only", "blocks,streams,mel_rows,layer,gate,upsampler,conditioning,"
                  "grad_mode,threads,embedding,layout,bf16"],
    "profile_forward": [],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/bench"), help="output folder (default runs/bench)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    total, failed = 0.0, []
    for name in names:
        cmd = [sys.executable, str(HERE / f"{name}.py"), *BENCHMARKS[name], "--json", str(args.out / f"{name}.json")]
        if name != "ablations":
            cmd += ["--device", args.device]
        print(f"$ {' '.join(cmd[1:])}   (1-minute load {os.getloadavg()[0]:.2f})", flush=True)
        start = time.perf_counter()
        with open(args.out / f"{name}.log", "w") as log:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            log.write(run.stdout)
        seconds = time.perf_counter() - start
        total += seconds
        print(run.stdout.rstrip())
        print(f"--- {name}: {seconds:.0f} s (exit {run.returncode})\n", flush=True)
        if run.returncode != 0:
            failed.append(name)
    print(f"all benchmarks: {total:.0f} s{'; failed: ' + ', '.join(failed) if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
