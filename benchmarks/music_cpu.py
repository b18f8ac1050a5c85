"""Which class-conditional generator of the demo notes can a CPU train in minutes? Variants side by side.

Every variant trains for the same wall-clock budget on the built-in demo corpus (5 classes,
48 notes each; by default 0.5 s clips, each note starting near its beginning), then draws 40
clips (8 per class, guidance 1.5) with DDPM and DDIM at 16 steps, scored against 40 held-out
notes (another seed of the corpus) by the report's distribution metrics: ``fd_mel`` (with
the real-vs-real floor: 40 training clips against the same held-out ones),
``class_consistency`` (chance 0.2), ``coverage`` and ``periodicity_gap``, plus each class's
mean periodicity (real notes: pluck 0.98, bowed 1.0, bell 0.88, drum 0.56, hat 0.21) and the
level of the generated clips against the real ones (dB RMS).

* ``tiny``: the DiffWave ``tiny`` preset (receptive field 29 samples), lr 3e-3;
* ``spectral``: the frame-rate STFT network (4 ConvNeXt blocks) without a prior (unit power per bin);
* ``corpus-prior``: the same with ``prior="corpus"``: each class's mean power per bin and
  frame, fitted from the training clips before training;
* ``corpus-prior-frequency``: the same plus the time-frequency branch (``frequency_layers=3``:
  2-D convolutions shared across frequency) beside the frame stack, the ``demo`` recipe's
  network until ``serial-branches``; the variants below change this one;
* ``frequency-nfft1024``: the same on STFT frames of 1024 samples (hop 256);
* ``phase-features``: with each bin's phase coherence with the
  neighbouring frames as inputs (``phase_features``);
* ``harmonic-features``: with a harmonic stack (each bin's log
  magnitude at 1/3, 1/2, 2 and 3 times its frequency) as inputs of the time-frequency branch;
* ``harmonic-phase-features``: both;
* ``self-conditioning``: reading its previous estimate of ``x_0``
  (``self_conditioning``; half the training examples get a first pass's estimate, and each
  sampling step the guided estimate of the step before);
* ``lr-2e-3``: twice the learning rate;
* ``serial-branches``: the time-frequency branch reads the frame stack's correction and 4
  more per-bin maps of it (``frequency_reads_stack=4``), instead of running beside it (the
  ``demo`` recipe's network, with the prior below);
* ``harmonic-templates``: the frame stack chooses a fundamental per frame (softmax over 24
  candidates per octave) and the branch reads the comb of its harmonics;
* ``serial-templates``: both;
* ``smooth-prior-4``, ``smooth-prior-8``, ``serial-smooth-prior-4``: the corpus prior averaged
  over +-4 or +-8 bins (``prior_smoothing``), the comb of every note's harmonics removed;
* ``dilated-frequency``: the branch's layers dilated 1, 2, 4 over bins (``frequency_dilation=2``);
* ``mixture-prior-5``, ``mixture-prior-15``: ``serial-branches`` with each class's corpus prior
  a mixture of 5 or 15 components (``prior_components``: k-means of the training clips' log
  power), the base estimate its exact posterior mean given ``x_t``;
* ``pinned-mixture-15``: ``mixture-prior-15`` with each labelled example's prior pinned to one
  component (``pin_components``): in training its own segment's, in sampling one drawn from
  its class's weights (the ``demo`` recipe's network); ``pinned-mixture-24``: the same with 24
  components per class; ``spectrum-mixture-15`` and
  ``pinned-spectrum-15``: the components found by k-means of the segments' spectra
  (``prior_clustering="spectrum"``) instead of their spectrograms, without and with pinning.

Training is a plain PyTorch loop (AdamW, warm-up then cosine learning rate, EMA 0.995,
stratified noise levels, class dropout 0.1), the same seed for every variant.

    python benchmarks/music_cpu.py                                   # 240 s per variant, 2 threads
    python benchmarks/music_cpu.py --variants corpus-prior-frequency --seconds 480
    python benchmarks/music_cpu.py --clip-seconds 1.0                # 1 s clips, random 0.5 s crops
    python benchmarks/music_cpu.py --notes 5                         # 5 notes per class instead of 15
    python benchmarks/music_cpu.py --train-steps 1000 --seed 1       # a step budget: the same work at any speed
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from wavediff.audio.data_transform import DataTransform, suggest_data_scale
from wavediff.data.demo import DEMO_CLASSES, DemoCorpusConfig, corpus_to_arrays, generate_demo_corpus
from wavediff.diffusion import (Denoiser, SelfConditioning, diffusion_loss, get_schedule, sample,
                                self_conditioned_training)
from wavediff.diffusion.guidance import classifier_free_guidance
from wavediff.eval.distribution import DistributionMetrics, periodicity
from wavediff.nn import build_denoiser
from wavediff.train.ema import EMA

SR = 16000
SEGMENT = 8000
CLASSES = len(DEMO_CLASSES)
# variant: (preset, overrides, lr)
VARIANTS = {
    "tiny": ("tiny", {}, 3e-3),
    "spectral": ("spectral", {"prior": "none", "blocks": 4}, 1e-3),
    "corpus-prior": ("spectral", {"prior": "corpus", "blocks": 4}, 1e-3),
    "corpus-prior-frequency": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3}, 1e-3),
    "phase-features": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3, "phase_features": True},
                       1e-3),
    "harmonic-features": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                       "harmonic_features": True}, 1e-3),
    "harmonic-phase-features": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                             "harmonic_features": True, "phase_features": True}, 1e-3),
    "self-conditioning": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                       "self_conditioning": True}, 1e-3),
    "lr-2e-3": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3}, 2e-3),
    "serial-branches": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                     "frequency_reads_stack": 4}, 1e-3),
    "mixture-prior-5": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                     "frequency_reads_stack": 4, "prior_components": 5}, 1e-3),
    "mixture-prior-15": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                      "frequency_reads_stack": 4, "prior_components": 15}, 1e-3),
    "pinned-mixture-15": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                       "frequency_reads_stack": 4, "prior_components": 15,
                                       "pin_components": True}, 1e-3),
    "pinned-mixture-24": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                       "frequency_reads_stack": 4, "prior_components": 24,
                                       "pin_components": True}, 1e-3),
    "spectrum-mixture-15": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                         "frequency_reads_stack": 4, "prior_components": 15,
                                         "prior_clustering": "spectrum"}, 1e-3),
    "pinned-spectrum-15": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                        "frequency_reads_stack": 4, "prior_components": 15,
                                        "prior_clustering": "spectrum", "pin_components": True}, 1e-3),
    "smooth-prior-4": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3, "prior_smoothing": 4},
                       1e-3),
    "smooth-prior-8": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3, "prior_smoothing": 8},
                       1e-3),
    "serial-smooth-prior-4": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                           "prior_smoothing": 4, "frequency_reads_stack": 4}, 1e-3),
    "harmonic-templates": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                        "harmonic_templates": True}, 1e-3),
    "serial-templates": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                      "frequency_reads_stack": 4, "harmonic_templates": True}, 1e-3),
    "dilated-frequency": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3,
                                       "frequency_dilation": 2}, 1e-3),
    "frequency-nfft1024": ("spectral", {"prior": "corpus", "blocks": 4, "frequency_layers": 3, "n_fft": 1024,
                                        "stft_hop": 256}, 1e-3),
}


def _pins(net: torch.nn.Module) -> bool:
    return bool(getattr(getattr(net, "config", None), "pin_components", False))


def crops(audio: torch.Tensor, index: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """One random SEGMENT-sample crop of each clip ``audio[index]`` -> (len(index), 1, SEGMENT)."""
    starts = rng.integers(0, audio.shape[-1] - SEGMENT + 1, size=len(index))
    return torch.stack([audio[i, :, s:s + SEGMENT] for i, s in zip(index, starts)])


def build(variant: str, x0: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> torch.nn.Module:
    preset, overrides, _ = VARIANTS[variant]
    torch.manual_seed(seed)
    extra = dict(overrides)
    if preset == "spectral":
        extra.update(parameterisation="v")
        if extra.get("prior") == "corpus":
            extra["prior_frames"] = SEGMENT // extra.get("stft_hop", 128) + 1
    net = build_denoiser(preset, num_classes=CLASSES, **extra)
    if extra.get("prior") == "corpus":
        net.fit_corpus_prior(x0, labels)
    return net


def train(net: torch.nn.Module, lr: float, audio: torch.Tensor, labels: np.ndarray, transform: DataTransform,
          seconds: float, batch: int = 8, seed: int = 0,
          max_steps: int | None = None) -> tuple[torch.nn.Module, int, float]:
    """Train for ``seconds`` of wall clock, or exactly ``max_steps`` steps when given (the
    learning-rate schedule follows whichever is the budget)."""
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    ema = EMA(net, 0.995)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    schedule = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=15.0)
    start, step, losses = time.perf_counter(), 0, []
    while (step < max_steps) if max_steps else (time.perf_counter() - start < seconds):
        index = rng.integers(0, len(audio), size=batch)
        x0 = transform.encode(crops(audio, index, rng))
        label = torch.from_numpy(labels[index])
        label = torch.where(torch.rand(batch, generator=gen) < 0.1, torch.full_like(label, CLASSES), label)
        done = step / max_steps if max_steps else min((time.perf_counter() - start) / seconds, 1.0)
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))
        fn = self_conditioned_training(net, "v", gen)
        cond = {"class_label": label}
        if _pins(net):  # a labelled example's own component; a dropped label keeps the mixture
            cond["prior_component"] = torch.where(label < CLASSES, net.corpus_component(x0, label), -1)
        out = diffusion_loss(fn, x0, schedule, parameterisation="v", weighting="v", time_sampling="stratified",
                             generator=gen, cond=cond)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        ema.update(net)
        losses.append(out.loss.item())
        step += 1
        if step % 250 == 0:
            print(f"    step {step}: loss {np.mean(losses[-250:]):.4f}, {time.perf_counter() - start:.0f} s", flush=True)
    return ema.model, step, (time.perf_counter() - start) / max(step, 1)


def corpus(seed: int, per_class: int, clip_seconds: float = 0.5,
           notes: int = 15) -> tuple[torch.Tensor, np.ndarray]:
    """The demo corpus of ``seed``: ``per_class`` clips of every class, ``(N, 1, T)`` audio and labels."""
    cfg = DemoCorpusConfig(sample_rate=SR, clip_seconds=clip_seconds, seed=seed, clips_per_class=per_class,
                           notes=notes)
    audio, labels, _ = corpus_to_arrays(generate_demo_corpus(cfg))
    return torch.from_numpy(audio), labels


def generate(net: torch.nn.Module, transform: DataTransform, method: str, steps: int, n: int, *,
             guidance: float = 1.5, grid: str = "uniform_logsnr", rho: float = 7.0, seed: int = 1) -> torch.Tensor:
    """``n`` guided clips (class ``i % 5`` for clip ``i``), decoded to audio in [-1, 1]; a network
    that pins components gets one per clip, drawn from its class's weights."""
    labels = torch.arange(n) % CLASSES
    network = SelfConditioning(net, transform.x0_bound) if getattr(net, "self_conditioning", False) else net
    cond, uncond = {"class_label": labels}, {"class_label": torch.full_like(labels, CLASSES)}
    if _pins(net):
        cond["prior_component"] = net.draw_component(labels, generator=torch.Generator().manual_seed(seed + 1))
        uncond["prior_component"] = torch.full_like(labels, -1)
    guided = classifier_free_guidance(Denoiser(network, "v"), guidance, cond, uncond)
    schedule = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=15.0)
    with torch.inference_mode():
        x = sample(guided, (n, 1, SEGMENT), schedule, steps, method, grid=grid, rho=rho,
                   generator=torch.Generator().manual_seed(seed),
                   callback=(lambda i, x_t, x0: network.remember(x0)) if network is not net else None)
    return transform.decode(x).clamp(-1, 1)


def level_db(audio: torch.Tensor) -> float:
    return float(20 * torch.log10(audio.pow(2).mean().sqrt() + 1e-12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seconds", type=float, default=240.0, help="training budget per variant (wall clock)")
    ap.add_argument("--train-steps", type=int, default=None,
                    help="train each variant this many steps instead (same work whatever the machine's speed)")
    ap.add_argument("--seed", type=int, default=0, help="of the initial weights and the training batches")
    ap.add_argument("--clip-seconds", type=float, default=0.5, help="demo clip length (0.5 s crops are trained on)")
    ap.add_argument("--notes", type=int, default=15, help="notes of each class's scale in the corpus (1..15)")
    ap.add_argument("--pre-emphasis", type=float, default=0.0, help="the demo recipe's: 0")
    ap.add_argument("--clips", type=int, default=40, help="generated and held-out clips (8 per class at 40)")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", type=Path, default=None, help="write each variant's DDPM clips (.pt) and EMA weights (.weights.pt) here")
    ap.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = ap.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    torch.set_num_threads(args.threads)

    audio, labels = corpus(0, 48, args.clip_seconds, args.notes)
    held_audio, held_labels = corpus(1, max(args.clips // CLASSES, 2), args.clip_seconds, args.notes)
    rng = np.random.default_rng(123)
    held = crops(held_audio, np.arange(len(held_audio)), rng)[: args.clips]
    held_labels = held_labels[: args.clips]
    # the floor: as many training clips, as many of each class as the held-out ones
    per_class = max(args.clips // CLASSES, 1)
    balanced = np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(CLASSES)])
    train_real = crops(audio, balanced, rng)
    transform = DataTransform(suggest_data_scale(audio, args.pre_emphasis), args.pre_emphasis)
    metrics = DistributionMetrics(held, SR, held_out_labels=held_labels)
    floor = metrics.floor(train_real, labels[balanced])
    real_level = level_db(held)
    print(f"{len(audio)} training clips of {args.clip_seconds} s, {len(held)} held-out; data_scale "
          f"{transform.data_scale:.1f}; real-vs-real fd_mel {floor['fd_mel']:.1f}, periodicity_gap "
          f"{floor['periodicity_gap']:.3f}", flush=True)
    results = {"floor": floor, "seconds": args.seconds, "train_steps": args.train_steps, "seed": args.seed,
               "clip_seconds": args.clip_seconds, "notes": args.notes,
               "pre_emphasis": args.pre_emphasis, "variants": {}}
    fit_x0 = transform.encode(audio[..., :SEGMENT])
    for variant in variants:
        print(f"{variant}:", flush=True)
        net = build(variant, fit_x0, torch.from_numpy(labels), args.seed)
        ema, steps, per_step = train(net, VARIANTS[variant][2], audio, labels, transform, args.seconds,
                                     seed=args.seed, max_steps=args.train_steps)
        row = {"train_steps": steps, "ms_per_step": 1000 * per_step}
        for method in ("ddpm", "ddim"):
            clips = generate(ema, transform, method, args.steps, args.clips)
            values = metrics(clips, (torch.arange(args.clips) % CLASSES).numpy())
            period = periodicity(clips, SR)
            values["periodicity"] = {c: float(period[np.arange(args.clips) % CLASSES == k].mean())
                                     for k, c in enumerate(DEMO_CLASSES)}
            values["level_db"] = level_db(clips) - real_level
            row[method] = values
            if args.save is not None and method == "ddpm":
                args.save.mkdir(parents=True, exist_ok=True)
                torch.save(clips, args.save / f"{variant}.pt")
                torch.save(ema.state_dict(), args.save / f"{variant}.weights.pt")
            print(f"    {method} {args.steps}: fd_mel {values['fd_mel']:.1f}, class_consistency "
                  f"{values['class_consistency']:.2f}, periodicity_gap {values['periodicity_gap']:.3f}, "
                  f"level {values['level_db']:+.1f} dB", flush=True)
        results["variants"][variant] = row

    budget = f"{args.train_steps} steps" if args.train_steps else f"{args.seconds:.0f} s"
    print(f"\n| variant | training steps (budget {budget}) | sampler | fd_mel (floor {floor['fd_mel']:.1f}) "
          f"| class_consistency | periodicity_gap (floor {floor['periodicity_gap']:.3f}) | periodicity "
          f"{' / '.join(DEMO_CLASSES)} | level vs real |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for variant, row in results["variants"].items():
        for method in ("ddpm", "ddim"):
            v = row[method]
            period = " / ".join(f"{v['periodicity'][c]:.2f}" for c in DEMO_CLASSES)
            print(f"| {variant} | {row['train_steps']} ({row['ms_per_step']:.0f} ms) | {method.upper()} {args.steps} "
                  f"| {v['fd_mel']:.1f} | {v['class_consistency']:.2f} | {v['periodicity_gap']:.3f} | {period} "
                  f"| {v['level_db']:+.1f} dB |")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
