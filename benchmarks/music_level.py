"""How loud and how calibrated are a trained class-conditional demo teacher's notes?

Loads a checkpoint of the ``demo`` recipe (``wavediff demo --task music`` writes
``OUT/teacher/checkpoints/last.ckpt``) and prints, per class:

* the level (dB RMS) of 4 clips per class drawn with DDPM at each ``--steps`` count (the
  recipe's grid and guidance), against 8 held-out real notes per class (another seed of the
  demo corpus at the recipe's clip length, cut to its training segments), with each class's
  mean periodicity;
* the calibration of the network's estimates: held-out notes noised to each ``--logsnr``,
  the regression slope of the clean notes onto ``x0_hat`` (1 for a calibrated posterior
  mean; above 1: estimates too small) and the power of ``x0_hat`` over the notes'.

    python benchmarks/music_level.py --checkpoint demo-out/teacher/checkpoints/last.ckpt
    python benchmarks/music_level.py --checkpoint CKPT --steps 16,64 --logsnr -6,-3,0,3,6,9
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from wavediff.data.demo import DEMO_CLASSES, DemoCorpusConfig, corpus_to_arrays, generate_demo_corpus
from wavediff.eval.distribution import periodicity
from wavediff.sampling import load_model, sample_model


def level_db(audio: torch.Tensor) -> torch.Tensor:
    """dB RMS of each clip ``(B, 1, T) -> (B,)``."""
    return 10 * torch.log10(audio.pow(2).mean(dim=-1).flatten() + 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="a demo-recipe checkpoint (class-conditional)")
    ap.add_argument("--steps", default="16,64", help="DDPM step counts, comma separated")
    ap.add_argument("--logsnr", default="-6,-3,0,3,6,9", help="noise levels of the calibration, comma separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    module = load_model(args.checkpoint).eval()
    if module.labels is None or sorted(module.labels) != sorted(DEMO_CLASSES):
        raise SystemExit(f"{args.checkpoint}: not a class-conditional model of the demo classes {list(DEMO_CLASSES)}")
    sr = module.sample_rate
    length = module.recipe.data.segment_samples
    clip_seconds = float(dict(module.recipe.data.options or {}).get("clip_seconds", length / sr))
    audio, labels, _ = corpus_to_arrays(generate_demo_corpus(DemoCorpusConfig(
        sample_rate=sr, clip_seconds=clip_seconds, seed=1, clips_per_class=8)))
    real = torch.from_numpy(audio)[..., :length]
    real_class = np.array([DEMO_CLASSES[i] for i in labels])
    result: dict = {"real_db": {c: float(level_db(real[real_class == c]).mean()) for c in DEMO_CLASSES}}
    print("real level dB:", " / ".join(f"{c} {result['real_db'][c]:.1f}" for c in DEMO_CLASSES))

    model_labels = torch.arange(4 * len(DEMO_CLASSES)) % len(DEMO_CLASSES)  # the model's label indices
    generated_class = np.array([module.labels[i] for i in model_labels])
    for steps in (int(s) for s in args.steps.split(",")):
        with torch.no_grad():
            clips = sample_model(module, len(model_labels), length, method="ddpm", steps=steps,
                                 class_label=model_labels, generator=torch.Generator().manual_seed(0))
        period, db = periodicity(clips, sr), level_db(clips)
        row = {c: {"db_vs_real": float(db[generated_class == c].mean()) - result["real_db"][c],
                   "periodicity": float(period[generated_class == c].mean())} for c in DEMO_CLASSES}
        result[f"ddpm_{steps}"] = row
        print(f"DDPM {steps}: level vs real / periodicity:",
              " | ".join(f"{c} {row[c]['db_vs_real']:+.1f} dB / {row[c]['periodicity']:.2f}" for c in DEMO_CLASSES))

    x0 = module.data_transform.encode(real)
    index = torch.tensor([module.labels.index(c) for c in real_class])
    gen = torch.Generator().manual_seed(0)
    result["calibration"] = {}
    for value in (float(v) for v in args.logsnr.split(",")):
        logsnr = torch.full((len(x0),), value)
        alpha, sigma = torch.sigmoid(logsnr).sqrt()[:, None, None], torch.sigmoid(-logsnr).sqrt()[:, None, None]
        x_t = alpha * x0 + sigma * torch.randn(x0.shape, generator=gen)
        with torch.no_grad():
            x0_hat = module.denoiser()(x_t, logsnr, class_label=index)
        slope = float(((x0 * x0_hat).sum(-1) / (x0_hat * x0_hat).sum(-1)).mean())
        power = float(((x0_hat * x0_hat).sum(-1) / (x0 * x0).sum(-1)).mean())
        result["calibration"][value] = {"slope": slope, "power_ratio": power}
        print(f"logsnr {value:+.0f}: slope of x0 onto x0_hat {slope:.2f}, power of x0_hat / x0 {power:.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
