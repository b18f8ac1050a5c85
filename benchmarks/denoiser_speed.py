"""Throughput of the DiffWave-family denoiser: forward and forward+backward.

Measures audio samples per second processed by a denoiser preset (default: ``base`` with
80-bin mel conditioning at hop 256, i.e. 22.05 kHz framing) at several batch sizes, on
the CPU and, when available, on CUDA. Next to the timings it prints the analytic FLOP
count per audio sample, the achieved GFLOP/s and, as a ceiling, the GFLOP/s of a float32
2048 x 2048 x 2048 matmul measured in the same run on the same device (also reported: a
bfloat16 matmul, 512^3 on the CPU where it is slow without native support, and on CUDA the
device-to-device copy bandwidth).

Forward rows use the network as sampling does (no autograd: the fused inference path of
``wavediff.nn.fast``); ``--plain`` adds rows for the plain layer-by-layer modules
(``net.fast_inference = False``), timed interleaved with the fused ones. Forward+backward
rows are training (autograd through the modules).

Numbers only: nothing here asserts on time.

Example:
    python benchmarks/denoiser_speed.py                      # CPU (+ CUDA if present), batch 1 and 16
    python benchmarks/denoiser_speed.py --device cuda --batch 1,16,64 --repeats 10 --json speed.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Any

import torch

from wavediff.nn import DiffWave, build_denoiser

REALTIME_RATE = 22050  # samples per second used for the "x real time" column


# --------------------------------------------------------------------------- FLOPs
def flops_breakdown(net: DiffWave) -> dict[str, float]:
    """Analytic FLOPs of one forward pass per audio sample (2 FLOPs per multiply-add).

    Counted, per output sample: the input 1x1 conv; in every residual layer the dilated
    conv (k * C * 2C), the mel 1x1 projection (mel_bins * 2C) and the output 1x1 conv
    (C * 2C); the two output-head 1x1 convs (C * C and C * out); the mel upsampler's
    transposed convolutions (per mel frame, divided by hop). Not counted: the noise-level
    MLP and the per-layer embedding Linears (once per clip, not per sample), biases and
    elementwise work (gates, residual sums, activations), which are memory-bound.
    """
    c = net.config
    ch = c.residual_channels
    out = {
        "input conv": c.in_channels * ch,
        "dilated convs": c.residual_layers * c.kernel_size * ch * 2 * ch,
        "mel projections": c.residual_layers * (c.mel_bins or 0) * 2 * ch,
        "residual/skip 1x1 convs": c.residual_layers * ch * 2 * ch,
        "output head": ch * ch + ch * c.out_channels,
        "mel upsampler": (net.mel_upsampler.macs_per_frame(c.mel_bins) / c.hop) if net.mel_upsampler else 0.0,
    }
    flops = {k: 2.0 * v for k, v in out.items()}
    total = sum(flops.values())
    assert math.isclose(total, 2.0 * net.macs_per_sample())
    flops["total"] = total
    return flops


# --------------------------------------------------------------------------- helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _available_memory(device: torch.device) -> float | None:
    """Bytes that can be allocated now (None if unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _training_bytes_per_sample(net: DiffWave, device: torch.device, hop: int, mel_bins: int) -> float:
    """Activation bytes kept for backward per audio sample (probe on a short clip)."""
    frames = 8
    x = torch.randn(1, 1, frames * hop, device=device)
    mel = torch.randn(1, mel_bins, frames, device=device)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x, torch.zeros(1, device=device), mel=mel)
    del out
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    return max(sum(storages.values()) - params, 0) / (frames * hop)


def _time(fn, warmup: int, repeats: int, budget_s: float, device: torch.device, warm_fn=None) -> list[float]:
    """Run ``warm_fn`` (default ``fn``) ``warmup`` times, then time ``fn`` ``repeats`` times
    (fewer if ``budget_s`` is exceeded, at least once)."""
    for _ in range(warmup):
        (warm_fn or fn)()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return times


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 3, dtype: torch.dtype = torch.float32) -> float:
    """Median GFLOP/s of an n x n x n matmul (2 n^3 FLOPs) in ``dtype``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = _time(lambda: torch.mm(a, b), warmup=1, repeats=repeats, budget_s=30.0, device=device)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def copy_gbytes(device: torch.device, nbytes: int = 2**30, repeats: int = 5) -> float:
    """Median device-to-device copy bandwidth in GB/s (bytes read + bytes written)."""
    src = torch.empty(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    times = _time(lambda: dst.copy_(src), warmup=1, repeats=repeats, budget_s=30.0, device=device)
    return 2.0 * nbytes / statistics.median(times) / 1e9


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} threads"


# --------------------------------------------------------------------------- benchmark
def bench_device(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    torch.manual_seed(0)
    net = build_denoiser(args.preset, mel_bins=args.mel_bins, hop=args.hop).to(device)
    # The real output head starts at zero; give it random weights so that the backward
    # pass is the one of a trained network (dense work is the same either way).
    with torch.no_grad():
        net.output_proj.weight.normal_(0.0, 0.1)
    length = args.frames * args.hop
    flops = flops_breakdown(net)
    ceiling = matmul_gflops(device)
    # bfloat16: on a CPU without AVX512-BF16/AMX it is emulated and very slow, so a smaller size
    bf16_n = 2048 if device.type == "cuda" else 512
    extra: dict[str, float] = {"matmul_bf16_gflops": matmul_gflops(device, n=bf16_n, repeats=2, dtype=torch.bfloat16)}
    if device.type == "cuda":
        extra["copy_d2d_gbytes_per_s"] = copy_gbytes(device)
    if device.type == "cpu":
        extra_note = f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    else:
        extra_note = f"device-to-device copy {extra['copy_d2d_gbytes_per_s']:.0f} GB/s"
    print(f"ceiling: float32 2048^3 matmul {ceiling:.1f} GFLOP/s; bfloat16 {bf16_n}^3 matmul "
          f"{extra['matmul_bf16_gflops']:.1f} GFLOP/s ({extra_note})", flush=True)
    print(HEADER)
    bytes_per_sample = _training_bytes_per_sample(net, device, args.hop, args.mel_bins)
    available = _available_memory(device)

    rows = []
    for batch in args.batch:
        x = torch.randn(batch, 1, length, device=device)
        logsnr = torch.empty(batch, device=device).uniform_(-20.0, 20.0)
        mel = torch.randn(batch, args.mel_bins, args.frames, device=device)
        target = torch.randn_like(x)

        def forward(n: int = batch, fast: bool = True) -> None:
            net.fast_inference = fast
            with torch.inference_mode():
                net(x[:n], logsnr[:n], mel=mel[:n])

        # Warm-up on the clip length that is timed, one batch element: the CPU path runs
        # long clips one element at a time in cache-sized blocks anyway.
        warm_forward = forward
        if device.type == "cpu":
            warm_forward = lambda: forward(1)  # noqa: E731

        # Largest micro-batch (a divisor of batch) whose activations fit the memory budget;
        # gradients are accumulated over batch / micro micro-batches (same gradient).
        micro = batch
        if available is not None:
            # x2: transient buffers and allocator slack on top of what autograd keeps
            need = lambda b: 2.0 * bytes_per_sample * b * length  # noqa: E731
            while micro > 1 and need(micro) > args.mem_fraction * available:
                micro = max(d for d in range(1, micro) if batch % d == 0)
            fits = need(micro) <= args.mem_fraction * available
        else:
            fits = True

        def forward_backward(n: int = batch) -> None:
            net.zero_grad(set_to_none=True)
            for s in range(0, n, micro):
                out = net(x[s : s + micro], logsnr[s : s + micro], mel=mel[s : s + micro])
                loss = (out - target[s : s + micro]).square().mean() * (micro / batch)
                loss.backward()

        warm_forward_backward = lambda: forward_backward(micro)  # noqa: E731  (one micro-batch)
        measurements = [("forward", forward, warm_forward, 1.0)]
        if args.plain:
            measurements.append(("fwd-plain", lambda: forward(fast=False), lambda: forward(1, fast=False), 1.0))
        measurements.append(("fwd+bwd", forward_backward, warm_forward_backward, 3.0))
        timed: dict[str, list[float]] = {}
        if args.plain:  # the two forward paths interleaved, so that load hits both alike
            for mode, fn, warm_fn, _ in measurements[:2]:
                warm_fn()
            for _ in range(args.repeats):
                for mode, fn, _, _ in measurements[:2]:
                    timed.setdefault(mode, []).extend(_time(fn, 0, 1, args.budget_s, device))
        for mode, fn, warm_fn, flop_factor in measurements:
            row: dict[str, Any] = {"device": device.type, "batch": batch, "mode": mode, "samples": batch * length}
            if mode == "fwd+bwd" and not fits:
                row["skipped"] = (
                    f"needs ~{2 * bytes_per_sample * length / 1e9:.1f} GB per batch element, "
                    f"{(available or 0) / 1e9:.1f} GB available"
                )
                rows.append(row)
                print(_format_row(row, REALTIME_RATE), flush=True)
                continue
            if mode == "fwd+bwd" and micro != batch:
                row["micro_batch"] = micro
            times = timed.get(mode) or _time(fn, args.warmup, args.repeats, args.budget_s, device, warm_fn=warm_fn)
            t = statistics.median(times)
            # backward = gradients w.r.t. activations and w.r.t. weights: 2x the forward work
            gflops = flop_factor * flops["total"] * batch * length / t / 1e9
            row.update(
                seconds=t,
                repeats=len(times),
                samples_per_s=batch * length / t,
                realtime_factor=batch * length / t / REALTIME_RATE,
                gflops=gflops,
                fraction_of_matmul=gflops / ceiling,
            )
            rows.append(row)
            print(_format_row(row, REALTIME_RATE), flush=True)
    net.fast_inference = True
    return {
        "device": device.type,
        "device_name": _device_name(device),
        "matmul_2048_gflops": ceiling,
        **extra,
        "train_bytes_per_sample": bytes_per_sample,
        "rows": rows,
    }


HEADER = (
    f"{'device':<6} {'batch':>5} {'mode':<9} {'samples':>8} {'s/iter':>8} {'samples/s':>11} "
    f"{'x22.05k':>8} {'GFLOP/s':>8} {'%mm':>5}  note"
)


def _format_row(row: dict[str, Any], rate: int) -> str:
    head = f"{row['device']:<6} {row['batch']:>5} {row['mode']:<9} {row['samples']:>8}"
    if "skipped" in row:
        return f"{head} {'-':>8} {'-':>11} {'-':>8} {'-':>8} {'-':>5}  skipped: {row['skipped']}"
    note = f"micro-batch {row['micro_batch']} (accumulated)" if "micro_batch" in row else ""
    note = (note + f" median of {row['repeats']}").strip()
    return (
        f"{head} {row['seconds']:>8.3f} {row['samples_per_s']:>11,.0f} {row['realtime_factor']:>8.2f} "
        f"{row['gflops']:>8.1f} {100 * row['fraction_of_matmul']:>4.0f}%  {note}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=(
            "example:\n"
            "  python benchmarks/denoiser_speed.py --device cpu --batch 1,16 --frames 62 --repeats 2\n"
            "  python benchmarks/denoiser_speed.py --device cuda --batch 1,16,64 --repeats 10 --json speed.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (= cpu, plus cuda when available)")
    p.add_argument("--batch", default="1,16", help="comma-separated batch sizes (default: 1,16)")
    p.add_argument(
        "--frames", type=int, default=62, help="mel frames per segment (default 62 = 15872 samples at hop 256)"
    )
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per measurement (median reported; default 2)")
    p.add_argument(
        "--warmup", type=int, default=1,
        help="untimed warm-up calls per measurement, on one chunk / micro-batch of the timed shapes (default 1)",
    )
    p.add_argument(
        "--budget-s", type=float, default=15.0,
        help="stop repeating once a measurement has run this long, in seconds (default 15)",
    )
    p.add_argument("--preset", default="base", help="denoiser preset (default base)")
    p.add_argument("--mel-bins", type=int, default=80, help="mel bins (default 80)")
    p.add_argument("--hop", type=int, default=256, help="samples per mel frame (default 256)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument("--plain", action="store_true",
                   help="also time the forward of the plain layer-by-layer modules (fwd-plain rows)")
    p.add_argument(
        "--mem-fraction", type=float, default=0.5,
        help="use at most this fraction of the free memory for training activations; larger batches "
        "are split into accumulated micro-batches (default 0.5)",
    )
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON to PATH")
    args = p.parse_args(argv)
    try:
        args.batch = [int(b) for b in str(args.batch).split(",") if b.strip()]
    except ValueError:
        p.error(f"--batch must be comma-separated integers, got {args.batch!r}")
    if not args.batch or min(args.batch) < 1 or args.frames < 1 or args.repeats < 1:
        p.error("--batch, --frames and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            print("CUDA requested but not available", file=sys.stderr)
            return 2

    net = build_denoiser(args.preset, mel_bins=args.mel_bins, hop=args.hop)
    flops = flops_breakdown(net)
    length = args.frames * args.hop
    print(
        f"denoiser {args.preset!r}, mel_bins={args.mel_bins}, hop={args.hop}: {net.num_parameters():,} parameters, "
        f"receptive field {net.receptive_field} samples; segment {args.frames} frames = {length} samples "
        f"({length / REALTIME_RATE:.2f} s at 22.05 kHz)"
    )
    load = f", 1-minute load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs visible{load}")
    print("forward FLOPs per audio sample (2 per multiply-add; fwd+bwd counted as 3x forward):")
    for k, v in flops.items():
        print(f"  {k:<24} {v:>12,.0f} FLOP")
    results: dict[str, Any] = {
        "preset": args.preset,
        "config": net.config.to_dict(),
        "parameters": net.num_parameters(),
        "frames": args.frames,
        "segment_samples": length,
        "flops_per_sample": flops,
        "torch": torch.__version__,
        "devices": [],
    }
    del net
    for name in devices:
        device = torch.device(name)
        print(f"\n[{device.type}] {_device_name(device)}")
        results["devices"].append(bench_device(args, device))
        if device.type == "cpu" and hasattr(os, "getloadavg"):
            # Other processes on the same cores make CPU numbers noisy: say how busy it was.
            load = os.getloadavg()[0]
            results["devices"][-1]["load_average_1min"] = load
            print(f"1-minute load average at the end: {load:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
