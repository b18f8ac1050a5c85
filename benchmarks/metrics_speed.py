"""Cost of each copy-synthesis metric, as a real-time factor.

Scores a noisy copy of a speech clip against the clip with every metric in
``wavediff.audio.metrics.COPY_SYNTHESIS_METRICS`` whose packages are installed, one metric at a time,
and prints the seconds of compute per second of audio (median of ``--repeats`` runs
after one warm-up call, so one-off costs such as loading the DNSMOS models are left
out). The clip is the recorded utterance shipped with pysptk when it is installed,
otherwise 4 s of synthetic harmonic tone at 16 kHz.

Numbers only: nothing here asserts on time.

Example:
    python benchmarks/metrics_speed.py
    python benchmarks/metrics_speed.py --repeats 5 --json metrics_speed.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from wavediff.audio.metrics import (COPY_SYNTHESIS_METRICS, METRICS, available_metrics, copy_synthesis_metrics,
                                    real_time_factor)


def load_clip() -> tuple[np.ndarray, int, str]:
    spec = importlib.util.find_spec("pysptk")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "example_audio_data" / "arctic_a0007.wav"
        if path.is_file():
            audio, sr = sf.read(path, dtype="float32")
            return audio, sr, path.name
    sr = 16000
    t = np.arange(4 * sr) / sr
    tone = 0.3 * sum(np.sin(2 * np.pi * k * 180.0 * t) / k for k in range(1, 11))
    return tone.astype(np.float32), sr, "synthetic 180 Hz harmonic tone"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per metric (median reported)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    audio, sr, source = load_clip()
    noisy = audio + 0.01 * np.random.default_rng(0).standard_normal(audio.size).astype(np.float32)
    seconds = audio.size / sr
    print(f"clip: {source}, {seconds:.2f} s at {sr} Hz; repeats={args.repeats}")
    rows = {}
    for name in available_metrics():
        if name in ("dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "f0_rmse_cents", "voicing_error"):
            continue  # computed by the same call as dnsmos / f0_rmse
        rtf = real_time_factor(
            lambda n=name: copy_synthesis_metrics(noisy, audio, sr, names=[n]),
            audio_seconds=seconds,
            device="cpu",
            repeats=args.repeats,
        )
        rows[name] = rtf
        print(f"  {name:<16} RTF {rtf:8.4f}   ({METRICS[name].description})")
    missing = sorted(set(COPY_SYNTHESIS_METRICS) - set(available_metrics()))
    if missing:
        print(f"not installed (pip install 'wavediff[eval]'): {missing}")
    if args.json is not None:
        args.json.write_text(json.dumps({"clip": source, "seconds": seconds, "sample_rate": sr, "rtf": rows}, indent=2))


if __name__ == "__main__":
    main()
