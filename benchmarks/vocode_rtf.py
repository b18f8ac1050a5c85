"""Vocoding speed and memory with the ljspeech-vocoder recipe's network (DiffWave base,
22.05 kHz, 80-bin mel, hop 256). The weights are untrained: speed and memory do not
depend on them.

* **Real-time factor** (compute seconds per audio second, lower is faster) of
  ``Vocoder.vocode`` at each step count of ``--steps`` on ``--seconds`` of audio (default
  1, 2, 4 and 6 DDIM steps on 10 s). Each time includes everything a call does: mel
  checks, conditioning (once per clip), starting noise, every network evaluation and the
  sampler's arithmetic.
* **The 50-step row** (``--long-steps``) runs the full 50-step sampler on shorter audio
  (``--long-seconds``, default 1 s): on 10 s it alone would take minutes on a 2-core CPU.
  The per-step cost per audio second does not depend on the length once clips are longer
  than the network's cache blocks (2048 samples), so the RTF carries over to 10 s; the
  table also gives ``conditioning + 50 x per-step`` estimated from the 10 s rows.
* **Peak memory of a 10-minute file** (``--memory-minutes``): a synthetic 10-minute WAV is
  vocoded by ``Vocoder.vocode_file`` (copy-synthesis: read, mel, chunked vocoding, result
  written to a WAV) in a fresh subprocess with ``--memory-steps`` steps and
  ``--chunk-seconds`` chunks, and the peak resident set size (``VmHWM``, which includes
  torch itself and the model) is reported. By default it stops after 2 chunks
  (``--memory-chunks``; 0 vocodes the whole file, ~6 minutes here): the peak is the same,
  because the full-file arrays (input audio, its mel, the output) exist from the start and
  every chunk allocates the same buffers; benchmarks/RESULTS.md has a full run to compare.

    python benchmarks/vocode_rtf.py                                   # the default table
    python benchmarks/vocode_rtf.py --seconds 2 --steps 1,6 --long-steps 0 --memory-minutes 0
    python benchmarks/vocode_rtf.py --device cuda --json rtf.json

Numbers only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from wavediff.train.config import load_recipe
from wavediff.train.run import build_module, resolve_mel
from wavediff.vocoder import Vocoder



def build_vocoder(device: str = "cpu") -> Vocoder:
    """An untrained ``ljspeech-vocoder`` vocoder (DiffWave base, 80-bin mel at 22.05 kHz)."""
    recipe = load_recipe("ljspeech-vocoder")
    mel_cfg = resolve_mel(recipe)
    torch.manual_seed(0)
    return Vocoder(build_module(recipe, mel_cfg.sample_rate, mel_cfg, None, None).eval().to(device))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_vocode(voc: Vocoder, mel: torch.Tensor, steps: int, method: str, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    voc.vocode(mel, steps, method, grid="uniform_t" if method in ("ddim", "ddpm") else None)
    _sync(device)
    return time.perf_counter() - start


def synthetic_speechlike(seconds: float, sample_rate: int, seed: int = 0) -> torch.Tensor:
    """(1, T) audio in [-1, 1]: harmonic tones with a moving pitch and syllable-rate envelope."""
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * sample_rate)
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    f0 = 120 + 30 * torch.sin(2 * torch.pi * 0.3 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    voice = sum(torch.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 * (1 + torch.sin(2 * torch.pi * 4 * t)) * (torch.rand(n // 4410 + 1, generator=g) > 0.2
                                                               ).double().repeat_interleave(4410)[:n]
    noise = 0.02 * torch.randn(n, generator=g, dtype=torch.float64)
    return (0.3 * voice * envelope + noise).clamp(-1, 1).float()[None]


def _child_memory(args: argparse.Namespace) -> int:
    """Vocode ``args.memory_child`` and print peak memory as JSON (runs in a fresh process)."""
    start = time.perf_counter()
    voc = build_vocoder(args.device)
    chunk = max(1, int(args.chunk_seconds * voc.sample_rate) // voc.hop) if args.chunk_seconds else None
    progress = None
    if args.memory_chunks:
        class _Stop(Exception):
            pass

        def progress(done: int, total: int) -> None:
            if done >= args.memory_chunks:
                raise _Stop
    vocoded = False
    try:
        audio, sr = voc.vocode_file(args.memory_child, steps=args.memory_steps, method=args.method,
                                    chunk_frames=chunk, progress=progress)
        from wavediff.audio.io import save_audio

        save_audio(Path(args.memory_child).with_name("vocoded.wav"), audio, sr)
        vocoded = True
    except Exception as err:  # noqa: BLE001 - only the early stop is expected
        if type(err).__name__ != "_Stop":
            raise
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                status[key] = int(value.split()[0]) * 1024
    print(json.dumps({"peak_rss_bytes": status.get("VmHWM"), "complete": vocoded,
                      "seconds": time.perf_counter() - start}))
    return 0


def measure_memory(args: argparse.Namespace, sample_rate: int) -> dict[str, Any]:
    from wavediff.audio.io import save_audio

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "long.wav"
        save_audio(wav, synthetic_speechlike(args.memory_minutes * 60, sample_rate), sample_rate)
        cmd = [sys.executable, __file__, "--memory-child", str(wav), "--memory-steps", str(args.memory_steps),
               "--method", args.method, "--chunk-seconds", str(args.chunk_seconds or 0),
               "--memory-chunks", str(args.memory_chunks), "--device", args.device]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"memory child failed:\n{run.stderr[-3000:]}")
        return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length of the RTF rows (default 10)")
    parser.add_argument("--steps", default="1,2,4,6", help="comma-separated step counts (default 1,2,4,6)")
    parser.add_argument("--long-steps", type=int, default=50, help="step count of the long row (0: skip; default 50)")
    parser.add_argument("--long-seconds", type=float, default=1.0, help="audio length of the long row (default 1)")
    parser.add_argument("--method", default="ddim", help="sampler (default ddim)")
    parser.add_argument("--memory-minutes", type=float, default=10.0,
                        help="length of the peak-memory run in minutes (0: skip; default 10)")
    parser.add_argument("--memory-steps", type=int, default=1, help="steps of the peak-memory run (default 1)")
    parser.add_argument("--memory-chunks", type=int, default=2,
                        help="stop the peak-memory run after this many chunks (default 2; 0: the whole file)")
    parser.add_argument("--chunk-seconds", type=float, default=10.0,
                        help="chunk length of the peak-memory run (default 10; 0: the vocoder's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        return _child_memory(args)

    voc = build_vocoder(args.device)
    sr, hop = voc.sample_rate, voc.hop
    print(f"vocoder: DiffWave base, {voc.net.num_parameters():,} parameters, {sr} Hz, hop {hop}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"1-minute load {os.getloadavg()[0]:.2f}")
    g = torch.Generator().manual_seed(0)
    mel_of = lambda seconds: torch.rand(1, voc.mel_config.n_mels, int(seconds * sr) // hop,  # noqa: E731
                                        generator=g).to(args.device)
    # warm-up at the timed length: allocator, kernels, and the first touch of full-size buffers
    voc.vocode(mel_of(args.seconds), 1, args.method)
    rows: list[dict[str, Any]] = []
    print(f"{'method':<7} {'steps':>5} {'audio s':>8} {'compute s':>10} {'RTF':>7}  note")
    mel = mel_of(args.seconds)
    audio_s = mel.shape[-1] * hop / sr
    for steps in [int(s) for s in args.steps.split(",") if s.strip()]:
        seconds = time_vocode(voc, mel, steps, args.method, args.device)
        rows.append({"method": args.method, "steps": steps, "audio_s": audio_s, "compute_s": seconds,
                     "rtf": seconds / audio_s})
        print(f"{args.method:<7} {steps:>5} {audio_s:>8.2f} {seconds:>10.2f} {seconds / audio_s:>7.3f}", flush=True)
    if args.long_steps:
        short = mel_of(args.long_seconds)
        short_s = short.shape[-1] * hop / sr
        seconds = time_vocode(voc, short, args.long_steps, args.method, args.device)
        row = {"method": args.method, "steps": args.long_steps, "audio_s": short_s, "compute_s": seconds,
               "rtf": seconds / short_s}
        note = ""
        by_steps = {r["steps"]: r["rtf"] for r in rows}
        if len(by_steps) >= 2:
            lo, hi = min(by_steps), max(by_steps)
            per_step = (by_steps[hi] - by_steps[lo]) / (hi - lo)
            row["rtf_estimate_for_rtf_rows"] = by_steps[lo] + (args.long_steps - lo) * per_step
            note = (f"estimate for {audio_s:.0f} s from the rows above: "
                    f"{row['rtf_estimate_for_rtf_rows']:.2f} ({per_step:.3f} per step)")
        rows.append(row)
        print(f"{args.method:<7} {args.long_steps:>5} {short_s:>8.2f} {seconds:>10.2f} {seconds / short_s:>7.3f}  {note}",
              flush=True)
    memory = None
    if args.memory_minutes:
        memory = measure_memory(args, sr)
        memory.update(minutes=args.memory_minutes, steps=args.memory_steps, chunk_seconds=args.chunk_seconds,
                      stopped_after_chunks=args.memory_chunks or None)
        extent = "whole file" if memory["complete"] else f"first {args.memory_chunks} chunks"
        print(f"peak memory (VmHWM) vocoding a {args.memory_minutes:g}-minute WAV in {args.chunk_seconds:g} s chunks, "
              f"{args.memory_steps} step(s), {extent}: {memory['peak_rss_bytes'] / 2**30:.2f} GiB "
              f"({memory['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "device": args.device, "rows": rows, "memory": memory,
            "load_average_1min": os.getloadavg()[0]}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
