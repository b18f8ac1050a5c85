"""Which mel vocoder can a CPU train in minutes? Variants side by side against Griffin-Lim.

Every variant vocodes the same held-out clips from their mels (copy synthesis) and is scored
against the originals with PESQ-WB, STOI and the multi-resolution STFT distance:

* ``griffin-lim``: 64 iterations on the same mels, no training (``wavediff.audio.griffin_lim``);
* ``griffin-lim-oracle``: 64 iterations from the clip's true STFT magnitude (not from the mel):
  the ceiling of any vocoder whose phase comes from Griffin-Lim;
* ``diffwave-tiny``: the DiffWave ``tiny`` preset as the old ``tiny-vocoder`` recipe trains it
  (v-prediction, x_0 = audio, lr 2e-3);
* ``spectral-untrained``: the ``spectral`` preset before any training: its answer is the
  Gaussian posterior mean under the mel's per-bin power (the Wiener prior);
* ``spectral``: the same network after training (x0-prediction with the v loss, x_0 = 3 x audio);
* ``spectral+gl``: the trained spectral network sampling from Griffin-Lim's output noised
  to logsnr ``--gl-start`` (shallow diffusion) instead of from pure noise;
* ``learned-prior``: the ``demo-vocoder`` network: the spectral network with its learned
  prior (trained by regression beside the diffusion loss) and 16 Griffin-Lim iterations per
  estimate onto the prior's magnitude at inference;
* ``learned-prior-gl``: the same trained prior's magnitude, Griffin-Lim from random phases,
  no diffusion (what the prior alone gives);
* ``learned-prior-no-projection``: the same trained network sampled without the projection
  (what the denoiser and its Wiener estimate give by themselves).

Training is a plain PyTorch loop (AdamW, cosine learning rate, EMA 0.995, stratified noise
levels) on random 0.5 s segments, one thread, the same seed and budget for every variant.

Data: an espeak-ng speech corpus at 16 kHz with two held-out voices and eight held-out
sentences (written to ``--corpus`` when missing; needs ``espeak-ng``), evaluated on its
valid split (unseen voices speaking unseen sentences), plus recorded speech: the CMU ARCTIC
utterance shipped inside the ``pysptk`` wheel (``--recorded`` for others).

    python benchmarks/vocoder_cpu.py                      # 1500 steps per trained variant
    python benchmarks/vocoder_cpu.py --train-steps 300 --clips 4 --variants griffin-lim,spectral
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from wavediff.audio.griffin_lim import griffin_lim, griffin_lim_magnitude, stft_magnitude
from wavediff.audio.io import load_audio
from wavediff.audio.mel import MelConfig, log_mel, nominal_range
from wavediff.audio.metrics import mrstft_distance
from wavediff.diffusion import Denoiser, diffusion_loss, get_schedule, sample
from wavediff.diffusion.weighting import get_weighting
from wavediff.nn import build_denoiser

SR = 16000
MEL = MelConfig.preset("hifigan", sample_rate=SR, fmax=8000.0)
HELD_OUT_VOICES = ("en-029+m1", "en-us-nyc+f3")
VARIANTS = ("griffin-lim", "griffin-lim-oracle", "diffwave-tiny", "spectral-untrained", "spectral", "spectral+gl",
            "learned-prior", "learned-prior-gl", "learned-prior-no-projection")
# (preset, parameterisation, data_scale, lr, overrides) of each trained network
NETWORKS = {"diffwave-tiny": ("tiny", "v", 1.0, 2e-3, {}), "spectral": ("spectral", "x0", 3.0, 1e-3, {}),
            "learned-prior": ("spectral", "x0", 3.0, 1e-3, {"prior": "learned", "projection_iterations": 16})}


def arctic_path() -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("pysptk")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "example_audio_data" / "arctic_a0007.wav"
    return path if path.is_file() else None


def load_corpus(root: Path, per_voice: int = 30) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if not (root / "split.json").is_file():
        from wavediff.data.espeak import EspeakCorpusConfig, write_espeak_corpus

        write_espeak_corpus(root, EspeakCorpusConfig(sample_rate=SR, held_out_voices=HELD_OUT_VOICES,
                                                     held_out_sentences=8, utterances_per_voice=per_voice))
    split = json.loads((root / "split.json").read_text())
    read = lambda rel: load_audio(root / rel, SR)[0][0]  # noqa: E731
    return [read(p) for p in split["train"]], [read(p) for p in split["valid"]]


def network_key(variant: str) -> str:
    if variant.startswith("learned-prior"):
        return "learned-prior"
    return "spectral" if variant.startswith("spectral") else variant


def build(variant: str) -> tuple[torch.nn.Module, str, float]:
    preset, parameterisation, scale, _, overrides = NETWORKS[network_key(variant)]
    lo, hi = nominal_range(MEL)
    extra = dict(overrides)
    if preset == "spectral":
        extra.update(mel_config=MEL.to_dict(), data_scale=scale, parameterisation=parameterisation)
    torch.manual_seed(0)
    net = build_denoiser(preset, mel_bins=MEL.n_mels, hop=MEL.hop_length, mel_offset=(lo + hi) / 2,
                         mel_scale=(hi - lo) / 2, **extra)
    return net, parameterisation, scale


def segments(clips: list[torch.Tensor], n: int, length: int, gen: torch.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        clip = clips[int(torch.randint(len(clips), (1,), generator=gen))]
        if clip.shape[-1] <= length:
            clip = torch.nn.functional.pad(clip, (0, length + 1 - clip.shape[-1]))
        start = int(torch.randint(clip.shape[-1] - length, (1,), generator=gen))
        out.append(clip[start : start + length])
    return torch.stack(out)[:, None]


def train(net: torch.nn.Module, parameterisation: str, scale: float, lr: float, clips: list[torch.Tensor],
          steps: int, batch: int = 8, length: int = 8192, seed: int = 0) -> tuple[torch.nn.Module, float]:
    gen = torch.Generator().manual_seed(seed)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    schedule, weighting = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=15.0), get_weighting("v")
    t0 = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            warm = min(1.0, (step + 1) / 50)
            group["lr"] = lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        audio = segments(clips, batch, length, gen)
        mel = log_mel(audio[:, 0], MEL)
        out = diffusion_loss(net, audio * scale, schedule, parameterisation=parameterisation, weighting=weighting,
                             time_sampling="stratified", generator=gen, cond={"mel": mel})
        prior_loss = net.auxiliary_loss(audio * scale, mel) if hasattr(net, "auxiliary_loss") else None
        loss = out.loss if prior_loss is None else out.loss + prior_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(0.995, (1 + step) / (10 + step))
            for e, p in zip(ema.parameters(), net.parameters()):
                e.lerp_(p, 1 - decay)
        if (step + 1) % 250 == 0:
            extra = "" if prior_loss is None else f", prior loss {prior_loss.item():.4f}"
            print(f"    step {step + 1}: loss {out.loss.item():.4f}{extra}, {time.perf_counter() - t0:.0f} s", flush=True)
    return ema.eval(), (time.perf_counter() - t0) / max(steps, 1)


def vocode(net: torch.nn.Module, parameterisation: str, scale: float, clip: torch.Tensor, steps: int,
           gl_start: float | None = None) -> torch.Tensor:
    schedule = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=15.0)
    mel = log_mel(clip[None], MEL)
    cond = net.condition(mel=mel)
    den = Denoiser(lambda x, logsnr: net(x, logsnr, cond=cond), parameterisation)
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        if gl_start is None:
            x = sample(den, (1, 1, clip.shape[-1]), schedule, steps=steps, method="ddim", generator=gen)
        else:  # shallow diffusion: Griffin-Lim's output noised to gl_start, then `steps` DDIM steps
            t_start = float(schedule.t_from_logsnr(torch.tensor(gl_start)))
            grid = schedule.logsnr(t_start * (1 - torch.arange(steps, dtype=torch.float64) / steps))
            alpha, sigma = math.sqrt(torch.sigmoid(torch.tensor(gl_start))), math.sqrt(torch.sigmoid(torch.tensor(-gl_start)))
            start = griffin_lim(mel, MEL, length=clip.shape[-1])[:, None] * scale
            x_init = alpha * start + sigma * torch.randn(start.shape, generator=gen)
            x = sample(den, (1, 1, clip.shape[-1]), schedule, method="ddim", logsnr_grid=grid, x_init=x_init,
                       generator=gen)
    return x[0, 0] / scale


def score(estimates: list[torch.Tensor], references: list[torch.Tensor]) -> dict[str, float]:
    from wavediff.audio.speech_metrics import pesq_wb, stoi

    pairs = list(zip(estimates, references))
    return {"pesq": float(np.mean([float(pesq_wb(e.clamp(-1, 1), r, SR)) for e, r in pairs])),
            "stoi": float(np.mean([float(stoi(e, r, SR)) for e, r in pairs])),
            "mrstft": float(np.mean([float(mrstft_distance(e[None], r[None])) for e, r in pairs]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("data/espeak-16k-heldout"))
    ap.add_argument("--recorded", type=Path, nargs="*", default=None, help="recorded speech files (default: ARCTIC)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--sample-steps", default="1,2,6")
    ap.add_argument("--clips", type=int, default=8, help="held-out clips scored (3 s at most each)")
    ap.add_argument("--gl-start", type=float, default=8.0, help="logsnr where spectral+gl starts")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-voice", type=int, default=30, help="utterances per voice of a corpus written here")
    ap.add_argument("--json", type=Path, default=None, help="also write the table here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    variants = a.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    train_clips, valid = load_corpus(a.corpus, a.per_voice)
    held = [c[: min(c.shape[-1], 3 * SR) // 256 * 256] for c in valid[: a.clips]]
    recorded_paths = a.recorded if a.recorded is not None else [p for p in [arctic_path()] if p is not None]
    recorded = [load_audio(p, SR)[0][0] for p in recorded_paths]
    recorded = [c[: c.shape[-1] // 256 * 256] for c in recorded]
    sets = {"espeak held-out": held, **({"recorded": recorded} if recorded else {})}
    print(f"{len(train_clips)} training clips; scoring {len(held)} held-out clips, {len(recorded)} recorded")
    rows: list[tuple[str, str, dict[str, dict[str, float]]]] = []
    trained: dict[str, tuple[torch.nn.Module, str, float]] = {}
    for variant in variants:
        print(f"== {variant}", flush=True)
        if variant == "griffin-lim-oracle":  # the clip's own STFT magnitude: what a perfect prior would give
            rows.append((variant, "64 it.", {name: score([griffin_lim_magnitude(stft_magnitude(c[None], MEL), MEL,
                                                                                length=c.shape[-1])[0]
                                                          for c in clips], clips) for name, clips in sets.items()}))
            continue
        if variant == "griffin-lim":
            rows.append((variant, "64 it.", {name: score([griffin_lim(log_mel(c[None], MEL), MEL, length=c.shape[-1])[0]
                                                          for c in clips], clips) for name, clips in sets.items()}))
            continue
        key = network_key(variant)
        if key not in trained:
            net, param, scale = build(key)
            if key != "spectral-untrained":
                net, per_step = train(net, param, scale, NETWORKS[key][3], train_clips, a.train_steps)
                print(f"  {a.train_steps} steps, {per_step * 1000:.0f} ms per step", flush=True)
            trained[key] = (net.eval(), param, scale)
        net, param, scale = trained[key]
        if variant == "learned-prior-gl":  # the trained prior's magnitude, Griffin-Lim, no diffusion
            rows.append((variant, "64 it.", {
                name: score([net.prior_waveform(log_mel(c[None], MEL), c.shape[-1])[0, 0] / scale for c in clips], clips)
                for name, clips in sets.items()}))
            print(f"  {rows[-1][2]}", flush=True)
            continue
        if variant == "learned-prior-no-projection":
            net = copy.deepcopy(net)
            net.config = net.config.replace(projection_iterations=0)
        for steps in map(int, a.sample_steps.split(",")):
            start = a.gl_start if variant == "spectral+gl" else None
            result = {name: score([vocode(net, param, scale, c, steps, start) for c in clips], clips)
                      for name, clips in sets.items()}
            rows.append((variant, f"DDIM {steps}", result))
            print(f"  {steps} steps: {result}", flush=True)
    print(f"\n| variant | sampler | " + " | ".join(f"{s} PESQ / STOI / MR-STFT" for s in sets) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in sets) + " |")
    for variant, sampler, result in rows:
        cells = [f"{r['pesq']:.2f} / {r['stoi']:.3f} / {r['mrstft']:.2f}" for r in result.values()]
        print(f"| {variant} | {sampler} | " + " | ".join(cells) + " |")
    if a.json is not None:
        a.json.write_text(json.dumps([{"variant": v, "sampler": s, "scores": r} for v, s, r in rows], indent=1))


if __name__ == "__main__":
    main()
