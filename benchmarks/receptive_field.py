"""Can a denoiser of a given receptive field learn a pitch? One tone, several networks.

Trains DiffWave-family denoisers that differ only in their dilation cycle (so in their
receptive field, at the same cost per step) on one unit-RMS tone of ``--period`` samples
with random phase, then samples each with DDIM and DDPM and prints the median share of a
sample's energy in the tone's FFT bin and its two neighbours (1 for a clean tone, about
0.01 for an untrained network). A network whose receptive field is shorter than a few
periods makes narrow-band noise around the pitch instead of the tone, however long it
trains: the reason the ``tiny`` preset (receptive field 29 samples) makes noise textures
rather than notes.

Numbers only: nothing here asserts on quality or time.

Example:
    python benchmarks/receptive_field.py                       # cycles 3 and 6, 300 steps
    python benchmarks/receptive_field.py --cycles 3 --steps 1200
    python benchmarks/receptive_field.py --period 64 --cycles 3,6,8 --json rf.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch

from wavediff.diffusion import Denoiser, diffusion_loss, get_schedule, sample
from wavediff.diffusion.weighting import get_weighting
from wavediff.nn import build_denoiser


def tones(n: int, length: int, period: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, length) unit-RMS sines of ``period`` samples with uniform random phase."""
    phase = torch.rand(n, 1, generator=generator) * 2 * math.pi
    return (math.sqrt(2.0) * torch.sin(2 * math.pi * torch.arange(length) / period + phase))[:, None]


def tone_share(x: torch.Tensor, period: int) -> torch.Tensor:
    """(B,) share of each clip's energy in the tone's FFT bin and its two neighbours."""
    power = torch.fft.rfft(x[:, 0].double()).abs() ** 2
    b = round(x.shape[-1] / period)
    return power[:, b - 1:b + 2].sum(1) / power.sum(1)


#: the natural loss of each parameterisation: eps-MSE, x0-MSE, v-MSE (weighting presets of the same names)
NATURAL_WEIGHTING = {"eps": "eps", "x0": "x0", "v": "v"}


def train_tone_denoiser(parameterisation: str = "v", cycle: int = 6, layers: int = 6, steps: int = 300,
                        length: int = 512, period: int = 16, batch: int = 16, seed: int = 0) -> torch.nn.Module:
    """The EMA weights (decay 0.99) of a ``tiny``-width denoiser with ``layers`` residual
    layers and dilation cycle ``cycle``, trained ``steps`` Adam steps (lr 3e-3) on
    :func:`tones` with ``parameterisation`` and its natural loss; in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = build_denoiser("tiny", residual_layers=layers, dilation_cycle=cycle)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    schedule, weighting = get_schedule("cosine"), get_weighting(NATURAL_WEIGHTING[parameterisation])
    for step in range(steps):
        out = diffusion_loss(net, tones(batch, length, period, gen), schedule, parameterisation=parameterisation,
                             weighting=weighting, time_sampling="stratified")
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters()):
                e.lerp_(p, 1 - min(0.99, (1 + step) / (10 + step)))
    return ema.eval()


def run(cycle: int, layers: int, steps: int, length: int, period: int, batch: int, seed: int) -> dict:
    start = time.perf_counter()
    net = train_tone_denoiser("v", cycle, layers, steps, length, period, batch, seed)
    seconds = time.perf_counter() - start
    row = {"dilation_cycle": cycle, "layers": layers, "receptive_field": net.receptive_field,
           "train_steps": steps, "train_s": round(seconds, 1)}
    den = Denoiser(net, "v")
    schedule = get_schedule("cosine")
    for method in ("ddim", "ddpm"):
        with torch.no_grad():
            x = sample(den, (16, 1, length), schedule, steps=16, method=method,
                       generator=torch.Generator().manual_seed(seed + 1))
        row[f"tone_share_{method}"] = round(tone_share(x, period).median().item(), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", default="3,6", help="dilation cycles to compare (default 3,6)")
    parser.add_argument("--layers", type=int, default=6, help="residual layers (default 6, as the tiny preset)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per network (default 300)")
    parser.add_argument("--period", type=int, default=16, help="tone period in samples (default 16)")
    parser.add_argument("--length", type=int, default=512, help="samples per clip (default 512)")
    parser.add_argument("--batch", type=int, default=16, help="clips per training step (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.length % args.period or args.length // args.period < 2:
        parser.error("--length must be a multiple of --period, at least two periods")
    rows = []
    print(f"tone of period {args.period} samples, clips of {args.length}; median tone share of 16 samples "
          f"(16 steps; 1 = a clean tone)")
    print(f"{'cycle':>5} {'receptive field':>15} {'steps':>6} {'train s':>8} {'DDIM':>6} {'DDPM':>6}")
    for cycle in (int(c) for c in args.cycles.split(",")):
        row = run(cycle, args.layers, args.steps, args.length, args.period, args.batch, args.seed)
        rows.append(row)
        print(f"{cycle:>5} {row['receptive_field']:>15} {row['train_steps']:>6} {row['train_s']:>8.1f} "
              f"{row['tone_share_ddim']:>6.3f} {row['tone_share_ddpm']:>6.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"period": args.period, "length": args.length, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
