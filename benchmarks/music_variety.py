"""Are generated demo notes copies, and how varied are their pitches? Nearest training notes.

For each clip of a set (generated clips saved by ``music_cpu.py --save DIR``: clip ``i`` of
class ``i % 5``; and, always, held-out real notes from another seed of the corpus) this finds
the nearest training note of the same class (L2 distance of log power spectrograms, 512-point
frames, pairs of bins averaged) and prints, per class, the mean distance to it and how many
distinct MIDI pitches the nearest training notes have. A model that copies its training notes
sits far nearer to them than held-out notes do; one that makes few pitches has fewer distinct
nearest pitches than held-out notes of the same count.

    python benchmarks/music_cpu.py --train-steps 1000 --variants mixture-prior-15 --save clips/
    python benchmarks/music_variety.py clips/mixture-prior-15.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from wavediff.data.demo import DEMO_CLASSES, DemoCorpusConfig, generate_demo_corpus

SR = 16000


def features(audio: torch.Tensor) -> torch.Tensor:
    """``(N, 1, T)`` -> ``(N, D)`` log power spectrogram, pairs of bins averaged."""
    spec = torch.stft(audio[:, 0].float(), 512, 128, window=torch.hann_window(512), return_complex=True)
    power = torch.nn.functional.avg_pool1d(spec.abs().square().transpose(1, 2), 2).transpose(1, 2)
    return torch.log(power + 1e-4).flatten(1)


def corpus(seed: int, per_class: int, seconds: float) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    clips = generate_demo_corpus(DemoCorpusConfig(sample_rate=SR, clip_seconds=seconds, seed=seed,
                                                  clips_per_class=per_class))
    audio = torch.from_numpy(np.stack([c.audio for c in clips])[:, None].astype(np.float32))
    return audio, np.array([c.label_index for c in clips]), np.array([c.midi_pitch for c in clips])


def score(audio: torch.Tensor, labels: np.ndarray, train: torch.Tensor, train_labels: np.ndarray,
          train_pitch: np.ndarray) -> dict[str, dict[str, float]]:
    """Per class: mean distance to the nearest training note of the class, and the number of
    distinct pitches among those nearest notes."""
    distance = torch.cdist(features(audio), train)
    out = {}
    for k, name in enumerate(DEMO_CLASSES):
        rows, cols = np.flatnonzero(labels == k), np.flatnonzero(train_labels == k)
        if not len(rows):
            continue
        nearest = distance[rows][:, cols].min(1)
        out[name] = {"clips": len(rows), "nearest_distance": float(nearest.values.mean()),
                     "distinct_pitches": len(set(train_pitch[cols][nearest.indices.numpy()].tolist()))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path, help="saved clips (N, 1, T), clip i of class i %% 5")
    ap.add_argument("--held-out", type=int, default=8, help="real held-out notes per class (corpus seed 1)")
    ap.add_argument("--train-clips", type=int, default=48,
                    help="training notes per class (corpus seed 0, as music_cpu)")
    ap.add_argument("--clip-seconds", type=float, default=0.5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    train_audio, train_labels, train_pitch = corpus(0, args.train_clips, args.clip_seconds)
    train = features(train_audio)
    held_audio, held_labels, _ = corpus(1, args.held_out, args.clip_seconds)
    sets = {"held-out real notes": (held_audio, held_labels)}
    for path in args.clips:
        audio = torch.load(path)
        if audio.dim() != 3 or audio.shape[1] != 1:
            raise SystemExit(f"{path}: expected clips of shape (N, 1, T), got {tuple(audio.shape)}")
        sets[f"{path.parent.name}/{path.stem}"] = (audio[..., : train_audio.shape[-1]], np.arange(len(audio)) % len(DEMO_CLASSES))
    results = {name: score(a, l, train, train_labels, train_pitch) for name, (a, l) in sets.items()}
    print("| clips | " + " | ".join(DEMO_CLASSES) + " | mean distance |")
    print("| --- " * (len(DEMO_CLASSES) + 2) + "|")
    for name, per_class in results.items():
        cells = [f"{v['nearest_distance']:.0f} / {v['distinct_pitches']} of {v['clips']}"
                 for v in per_class.values()]
        mean = np.mean([v["nearest_distance"] for v in per_class.values()])
        print(f"| {name} | " + " | ".join(cells) + f" | {mean:.0f} |")
    print("(each cell: mean distance to the nearest training note of the class / distinct pitches of those notes)")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
