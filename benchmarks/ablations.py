"""Before/after timings of each speed idea, measured A/B in one process.

Every comparison runs its variants interleaved (A, B, A, B, ...) and reports the fastest
run of each, so that other load on the machine hits all variants alike. The network is
DiffWave base with 80-bin mel conditioning at hop 256 (the ljspeech-vocoder network),
untrained (speed does not depend on the weights).

    python benchmarks/ablations.py [--seconds 2] [--repeats 3] [--only NAME,...] [--json PATH]

Comparisons (``--only`` takes these names):

* ``path``: whole forward, the plain layer-by-layer modules (``net.fast_inference =
  False``: dilated conv1d + mel matmul + tanh/sigmoid + 1x1 conv per layer) vs the fused
  inference path (nn/fast.py);
* ``blocks``: fused path with one block for the whole clip vs cache-sized blocks;
* ``streams``: fused path with intra-op threads (2 OpenMP threads split every per-block
  operation) vs worker streams (each thread runs its own range of blocks single-threaded);
* ``mel_rows``: fused forward of the mel-conditioned network vs the same network without
  mel conditioning: the most that moving the per-layer mel projection out of the audio-rate
  matmul (e.g. projecting at frame rate) could save;
* ``layer``: one residual layer on a 2048-sample block: conv1d + mel matmul vs stacked
  shifted views + one matmul with the mel rows;
* ``gate``: ``tanh(a) * sigmoid(b)`` vs one in-place sigmoid + addcmul on a (128, 2048) block;
* ``upsampler``: the mel upsampler (10 s of frames) with ``conv_transpose2d`` vs the
  windowed matmul now used;
* ``conditioning``: 2 DDIM steps recomputing the upsampled mel at every step vs once per
  clip;
* ``grad_mode``: ``torch.no_grad`` vs ``torch.inference_mode`` around the fused forward;
* ``threads``: fused forward with 1 vs 2 intra-op threads;
* ``embedding``: cost of the noise-level embedding (MLP + per-layer projections) per call,
  i.e. what precomputing it for a fixed grid would save;
* ``layout``: the main matmul in channels-first (2C x K) @ (K x n) vs channels-last
  (n x K) @ (K x 2C) form;
* ``bf16``: float32 vs bfloat16 512^3 matmul (bf16 pays only with AVX512-BF16/AMX).

Numbers only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from wavediff.nn import build_denoiser
from wavediff.nn.conditioners import LEAKY_RELU_SLOPE

SAMPLE_RATE = 22050


def interleaved(variants: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Fastest wall time of each variant over ``repeats`` interleaved rounds (after one warm-up)."""
    for fn in variants.values():
        fn()
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_denoiser("base", mel_bins=80, hop=256).eval()
    with torch.no_grad():
        net.output_proj.weight.normal_(0.0, 0.1)
    return net


def _inputs(net, seconds: float, batch: int = 1):
    frames = int(seconds * SAMPLE_RATE) // 256
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, frames * 256, generator=g)
    mel = torch.rand(batch, 80, frames, generator=g)
    with torch.inference_mode():
        cond = net.condition(mel=mel)
    return x, torch.zeros(batch), mel, cond


def ab_path(args) -> dict[str, float]:
    net = _net()
    x, logsnr, _, cond = _inputs(net, args.seconds)

    def run(fast: bool) -> Callable[[], Any]:
        def fn():
            net.fast_inference = fast
            with torch.inference_mode():
                net(x, logsnr, cond=cond)
        return fn

    return interleaved({"plain modules": run(False), "fused path": run(True)}, args.repeats)


def _fused_variants(args) -> tuple[Callable[..., Callable[[], Any]], int]:
    """``variant(**options)``: a closure running ``fast_forward(..., **options)`` on the
    benchmark clip (conditioning prepared once), and the clip length in samples."""
    from wavediff.nn.fast import fast_forward

    net = _net()
    x, logsnr, _, cond = _inputs(net, args.seconds)
    with torch.inference_mode():
        emb = net.noise_embedding(logsnr)
        feats = cond.mel_for_length(x.shape[-1])

    def variant(**options: Any) -> Callable[[], Any]:
        def fn():
            with torch.inference_mode():
                fast_forward(net, x, emb, feats, **options)
        return fn

    return variant, x.shape[-1]


def ab_blocks(args) -> dict[str, float]:
    variant, length = _fused_variants(args)
    variants = {"one block (whole clip)": variant(max_columns=length)}
    for columns in (768, 1440, 2048, 4096):
        variants[f"{columns}-sample blocks"] = variant(max_columns=columns)
    return interleaved(variants, args.repeats)


def ab_streams(args) -> dict[str, float]:
    variant, _ = _fused_variants(args)
    threads = torch.get_num_threads()
    return interleaved({f"{threads} intra-op threads, 1 stream": variant(streams=1),
                        f"{threads} streams, 1 thread each": variant(streams=threads)}, args.repeats)


def ab_mel_rows(args) -> dict[str, float]:
    net = _net()
    x, logsnr, _, cond = _inputs(net, args.seconds)
    torch.manual_seed(0)
    plain = build_denoiser("base").eval()

    def conditioned():
        with torch.inference_mode():
            net(x, logsnr, cond=cond)

    def unconditioned():
        with torch.inference_mode():
            plain(x, logsnr)

    return interleaved({"mel rows in every layer's matmul": conditioned,
                        "no mel rows (lower bound)": unconditioned}, args.repeats)


def ab_layer(args) -> dict[str, float]:
    c, m, n, d = 64, 80, 2048, 8
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, c, n + 2 * d, generator=g)
    feats = torch.randn(1, m, n, generator=g)
    w = torch.randn(2 * c, c, 3, generator=g) * 0.1
    wm = torch.randn(2 * c, m, generator=g) * 0.1
    bias = torch.randn(2 * c, 1, generator=g)
    wcat = torch.cat([w[:, :, 0], w[:, :, 1], w[:, :, 2], wm], 1)
    stacked = torch.empty(1, 3 * c + m, n)
    y = torch.empty(2 * c, n)
    shift = torch.randn(1, c, 1, generator=g)

    def conv_then_mel():
        with torch.inference_mode():
            h = x + shift
            out = F.conv1d(h, w, bias[:, 0], dilation=d)
            out.baddbmm_(wm.expand(1, -1, -1), feats)

    def one_matmul():
        with torch.inference_mode():
            for j in range(3):
                torch.add(x[..., j * d: j * d + n], shift, out=stacked[:, j * c:(j + 1) * c])
            stacked[:, 3 * c:].copy_(feats)
            torch.addmm(bias, wcat, stacked[0], out=y)

    return interleaved({"conv1d + mel matmul": conv_then_mel, "stacked views, one matmul": one_matmul},
                       args.repeats * 20)


def ab_gate(args) -> dict[str, float]:
    y = torch.randn(128, 2048, generator=torch.Generator().manual_seed(0))
    work = torch.empty_like(y)
    g = torch.empty(64, 2048)

    def tanh_sigmoid():
        with torch.inference_mode():
            work.copy_(y)
            torch.tanh(work[:64]) * torch.sigmoid(work[64:])

    def sigmoid_addcmul():
        with torch.inference_mode():
            work.copy_(y)
            work.sigmoid_()
            torch.addcmul(work[64:], work[:64], work[64:], value=-2.0, out=g)

    return interleaved({"tanh * sigmoid": tanh_sigmoid, "sigmoid + addcmul": sigmoid_addcmul}, args.repeats * 50)


def ab_upsampler(args) -> dict[str, float]:
    net = _net()
    _, _, mel, _ = _inputs(net, 10.0)
    stages = net.mel_upsampler.stages

    def transposed_conv():
        with torch.inference_mode():
            x = mel.unsqueeze(1)
            for stage in stages:
                n, f = x.shape[-1], stage.factor
                x = F.leaky_relu(stage.conv(x)[..., f // 2: f // 2 + n * f], LEAKY_RELU_SLOPE)

    def windowed_matmul():
        with torch.inference_mode():
            net.mel_upsampler(mel)

    return interleaved({"conv_transpose2d (10 s)": transposed_conv, "windowed matmul (10 s)": windowed_matmul},
                       args.repeats)


def ab_conditioning(args) -> dict[str, float]:
    from wavediff.diffusion import get_schedule, sample

    net = _net()
    x, _, mel, _ = _inputs(net, args.seconds)
    sched = get_schedule("linear_beta", beta_start=1e-4, beta_end=0.05, num_betas=50)

    def per_step():
        with torch.inference_mode():
            sample(lambda xt, l: net(xt, l, mel=mel), x.shape, sched, steps=2, method="ddim", x_init=x)

    def once():
        with torch.inference_mode():
            cond = net.condition(mel=mel)
            sample(lambda xt, l: net(xt, l, cond=cond), x.shape, sched, steps=2, method="ddim", x_init=x)

    return interleaved({"2 steps, mel upsampled every step": per_step, "2 steps, once per clip": once},
                       max(1, args.repeats - 1))


def ab_grad_mode(args) -> dict[str, float]:
    net = _net()
    x, logsnr, _, cond = _inputs(net, args.seconds)

    def no_grad():
        with torch.no_grad():
            net(x, logsnr, cond=cond)

    def inference():
        with torch.inference_mode():
            net(x, logsnr, cond=cond)

    return interleaved({"no_grad": no_grad, "inference_mode": inference}, args.repeats)


def ab_threads(args) -> dict[str, float]:
    net = _net()
    x, logsnr, _, cond = _inputs(net, args.seconds)
    previous = torch.get_num_threads()

    def run(threads: int) -> Callable[[], Any]:
        def fn():
            torch.set_num_threads(threads)
            try:
                with torch.inference_mode():
                    net(x, logsnr, cond=cond)
            finally:
                torch.set_num_threads(previous)
        return fn

    return interleaved({f"{t} thread(s)": run(t) for t in sorted({1, 2, previous})}, args.repeats)


def ab_embedding(args) -> dict[str, float]:
    from wavediff.nn.fast import folded_weights

    net = _net()
    x, logsnr, _, cond = _inputs(net, args.seconds)
    fw = folded_weights(net)

    def embedding():
        with torch.inference_mode():
            F.linear(net.noise_embedding(logsnr), fw.embed_w, fw.embed_b)

    def forward():
        with torch.inference_mode():
            net(x, logsnr, cond=cond)

    return interleaved({"noise-level embedding only": embedding, "whole forward": forward}, args.repeats)


def ab_layout(args) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    k, n = 272, 2048
    w = torch.randn(128, k, generator=g)
    x_cf = torch.randn(k, n, generator=g)
    x_cl = torch.randn(n, k, generator=g)
    out_cf, out_cl = torch.empty(128, n), torch.empty(n, 128)
    wt = w.t().contiguous()
    return interleaved({"channels-first W @ X": lambda: torch.mm(w, x_cf, out=out_cf),
                        "channels-last X @ W^T": lambda: torch.mm(x_cl, wt, out=out_cl)}, args.repeats * 50)


def ab_bf16(args) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    a32, b32 = torch.randn(512, 512, generator=g), torch.randn(512, 512, generator=g)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    return interleaved({"float32 matmul 512^3": lambda: torch.mm(a32, b32),
                        "bfloat16 matmul 512^3": lambda: torch.mm(a16, b16)}, args.repeats)


COMPARISONS = {
    "path": ab_path, "blocks": ab_blocks, "streams": ab_streams, "mel_rows": ab_mel_rows, "layer": ab_layer, "gate": ab_gate, "upsampler": ab_upsampler,
    "conditioning": ab_conditioning, "grad_mode": ab_grad_mode, "threads": ab_threads,
    "embedding": ab_embedding, "layout": ab_layout, "bf16": ab_bf16,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=2.0, help="audio length of the whole-forward comparisons (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3; more for the small ops)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(COMPARISONS)}")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument("--json", metavar="PATH", default=None)
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(COMPARISONS)
    unknown = [n for n in names if n not in COMPARISONS]
    if unknown:
        p.error(f"unknown comparison(s) {unknown}; choose from {list(COMPARISONS)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, 1-minute load {os.getloadavg()[0]:.2f}; "
          f"whole-forward comparisons on {args.seconds:g} s at 22.05 kHz")
    results: dict[str, Any] = {}
    for name in names:
        times = COMPARISONS[name](args)
        base = next(iter(times.values()))
        results[name] = times
        print(f"\n[{name}]")
        for variant, t in times.items():
            print(f"  {variant:<38} {1e3 * t:>10.2f} ms   x{base / t:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "seconds": args.seconds,
                       "load_average_1min": os.getloadavg()[0], "best_seconds": results}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
