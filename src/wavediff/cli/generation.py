"""``wavediff sample``, ``vocode`` and ``tune-schedule``: audio from a checkpoint (sampled
through ``wavediff.sampling``), mel to waveform, and a vocoder's tuned few-step grid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_command, positive_float


def _run_sample(args: argparse.Namespace) -> int:
    import json

    import torch

    from ..audio.io import save_audio
    from ..sampling import load_model, plan_sampling, sample_model
    from ..train.config import write_text_atomic

    module = load_model(args.checkpoint, args.device)
    if module.conditioning == "mel":
        raise ValueError(f"{args.checkpoint} is a vocoder (mel-conditioned): use `wavediff vocode CKPT INPUT`")
    labels = None
    if args.class_ is not None:
        if module.conditioning != "class":
            raise ValueError("--class given but this model is not class-conditional")
        names = list(module.labels)
        index = names.index(args.class_) if args.class_ in names else None
        if index is None and args.class_.isdigit() and int(args.class_) < len(names):
            index = int(args.class_)
        if index is None:
            raise ValueError(f"unknown class {args.class_!r}; this model knows {names}")
        labels = torch.full((args.num,), index, dtype=torch.long)
    elif module.conditioning == "class":
        labels = torch.arange(args.num) % len(module.labels)  # cycle through the classes
    length = int(args.seconds * module.sample_rate)
    gen = torch.Generator().manual_seed(args.seed)
    source = None
    if args.from_ is not None:  # variations of a sound: every clip starts from the input
        from ..audio.io import load_audio
        from ..audio_to_audio import audio_to_audio, sampler_settings

        source, _ = load_audio(args.from_, module.sample_rate, mono="mix")
        method, grid, steps = sampler_settings(module, args.mode, args.method, args.grid, args.steps)
        audio = audio_to_audio(module, source.expand(args.num, -1).unsqueeze(1), args.strength, steps=args.steps,
                               method=args.method, grid=args.grid, mode=args.mode, class_label=labels,
                               guidance=args.guidance, generator=gen)
        guidance = None if labels is None else (module.recipe.sample.guidance if args.guidance is None
                                                else args.guidance)
    else:
        plan = plan_sampling(module, steps=args.steps, method=args.method, grid=args.grid, guidance=args.guidance)
        audio = sample_model(module, args.num, length, plan, class_label=labels, generator=gen)
        if plan.kind == "plain":
            method, grid = plan.method, plan.grid
        else:  # students sample as distilled: no sampler or grid of their own to name
            method, grid = "student", None
        steps, guidance = plan.steps, plan.guidance
    out = args.out
    files = []
    for i in range(args.num):
        name = f"{i:03d}" + (f"_{module.labels[int(labels[i])]}" if labels is not None else "") + ".wav"
        save_audio(out / name, audio[i].float().cpu().clamp(-1, 1), module.sample_rate)
        files.append(name)
    settings = {"checkpoint": str(args.checkpoint), "num": args.num, "seconds": args.seconds,
                "sample_rate": module.sample_rate, "steps": steps, "method": method, "grid": grid,
                "guidance": guidance, "seed": args.seed,
                "labels": [module.labels[int(l)] for l in labels] if labels is not None else None, "files": files}
    if source is not None:
        settings.update({"from": str(args.from_), "strength": args.strength, "mode": args.mode,
                         "seconds": source.shape[-1] / module.sample_rate})
    write_text_atomic(out / "samples.json", json.dumps(settings, indent=1))
    print(f"{args.num} sample(s) written to {out}")
    return 0


def _run_vocode(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..audio.io import READ_FORMATS, save_audio
    from ..vocode_outputs import FolderReport, check_writable, folder_outputs, single_output
    from ..vocoder import MEL_FILE_SUFFIXES, Vocoder

    if not args.input.exists():
        raise FileNotFoundError(f"input {args.input} not found")
    if args.input.is_dir():
        suffixes = set(READ_FORMATS) | set(MEL_FILE_SUFFIXES)
        inputs = sorted(p for p in args.input.rglob("*") if p.suffix.lower() in suffixes)
        if not inputs:
            raise ValueError(f"{args.input}: no audio ({', '.join(sorted(READ_FORMATS))}) or mel "
                             f"({', '.join(MEL_FILE_SUFFIXES)}) files found")
        out_dir = args.out or Path("vocoded")
        targets = folder_outputs(inputs, args.input, out_dir, args.overwrite)
        check_writable(out_dir)
    else:
        out = single_output(args.input, args.out, args.overwrite)
        check_writable(out.parent)
    voc = Vocoder.from_checkpoint(args.checkpoint, device=args.device)
    options = dict(steps=args.steps, method=args.method, grid=args.grid, seed=args.seed,
                   mel_convention=args.mel_convention,
                   chunk_frames=None if args.chunk_seconds is None
                   else max(1, int(args.chunk_seconds * voc.sample_rate) // voc.hop))
    if args.input.is_dir():
        report = FolderReport()
        for path, target in zip(tqdm(inputs, desc="vocoding", unit="file"), targets):
            try:  # a bad input is reported at the end; the good ones are all vocoded
                audio, sr = voc.vocode_file(path, **options)
            except ValueError as err:
                report.failed.append((path, str(err).replace(f"{path}: ", "").splitlines()[0]))
                continue
            save_audio(target, audio, sr)
            report.written.append(target)
        print(f"{len(report.written)} of {len(inputs)} file(s) vocoded into {out_dir}")
        if report.failed:
            for line in report.lines():
                print(f"wavediff: error: {line}", file=sys.stderr)
            print(f"wavediff: error: {len(report.failed)} file(s) could not be vocoded (listed above)", file=sys.stderr)
            return 2
        return 0
    try:
        audio, sr = voc.vocode_file(args.input, **options)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if str(args.input) in message else f"{args.input}: {message}") from None
    save_audio(out, audio, sr)
    print(f"vocoded {args.input} -> {out} ({audio.shape[-1] / sr:.2f} s at {sr} Hz)")
    return 0


def _run_tune_schedule(args: argparse.Namespace) -> int:
    from ..audio.io import READ_FORMATS, load_audio
    from ..tune import save_tuned_grid, tune_grid
    from ..vocoder import Vocoder

    voc = Vocoder.from_checkpoint(args.checkpoint)
    files = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in READ_FORMATS)[: args.clips]
    if not files:
        raise ValueError(f"{args.data}: no audio files ({', '.join(sorted(READ_FORMATS))}) found")
    length = int(args.seconds * voc.sample_rate)
    clips = [load_audio(f, voc.sample_rate)[0][:, :length] for f in files]
    grid, start, best = tune_grid(voc, clips, args.steps, args.method, candidates=args.candidates,
                                  passes=args.passes, progress=print)
    target = save_tuned_grid(args.checkpoint, args.method, args.steps, grid, args.out)
    print(f"tuned {args.method} grid ({args.steps} steps): mel L1 {start:.4f} -> {best:.4f}; "
          f"logsnr {[round(v, 3) for v in grid]}; saved in {target}")
    return 0


def add_sample(sub: argparse._SubParsersAction) -> None:
    """``wavediff sample``."""
    sa = add_command(
        sub, "sample", "generate audio with an unconditional or class-conditional model (or a distilled student)",
        "  wavediff sample runs/demo/checkpoints/last.ckpt --num 8 --steps 16 --out samples/\n"
        "  wavediff sample runs/demo/checkpoints/last.ckpt --num 4 --class bell --guidance 2 --out bells/\n"
        "  wavediff sample runs/demo/checkpoints/last.ckpt --steps 8 --method ddpm --grid uniform_logsnr --out ddpm8/\n"
        "  wavediff sample runs/demo-distill/round_2/checkpoints/last.ckpt --num 8 --out student/\n"
        "  wavediff sample runs/demo/checkpoints/last.ckpt --from kick.wav --strength 0.4 --num 4 --class drum --out kicks/\n"
        "  wavediff sample runs/demo/checkpoints/last.ckpt --from pluck.wav --mode encode --strength 0.7 --class bell\n",
        _run_sample)
    sa.add_argument("checkpoint", type=Path, help="model checkpoint (.ckpt) or exported model folder")
    sa.add_argument("--num", type=int, default=8, help="number of clips (default 8)")
    sa.add_argument("--steps", type=int, default=None, help="sampling steps (default: the recipe's)")
    sa.add_argument("--method", default=None, help="ddpm, ddim, euler, heun, sde, dpmpp_2m (default: the recipe's)")
    sa.add_argument("--grid", default=None, help="uniform_t, uniform_logsnr, karras or diffwave6 (default: the "
                    "recipe's for its sampler, else the sampler's own)")
    sa.add_argument("--class", dest="class_", default=None, help="class name or index (default: cycle through all)")
    sa.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (1 = none)")
    sa.add_argument("--seconds", type=float, default=1.0, help="clip length (default 1 s)")
    sa.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sa.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    sa.add_argument("--out", type=Path, default=Path("samples"), help="output folder (default samples/)")
    sa.add_argument("--from", dest="from_", type=Path, default=None,
                    help="audio-to-audio: variations of this audio file (its whole length; --seconds is ignored)")
    sa.add_argument("--strength", type=float, default=0.5,
                    help="with --from: noise level t the input is taken to, 0..1 (0 keeps it, 1 is a fresh sample; "
                         "default 0.5)")
    sa.add_argument("--mode", choices=("noise", "encode"), default="noise",
                    help="with --from: add noise (default), or encode with the probability-flow ODE (then "
                         "--method ddim, euler or heun)")


def add_vocode(sub: argparse._SubParsersAction) -> None:
    """``wavediff vocode``."""
    vo = add_command(
        sub, "vocode", "mel -> waveform with a vocoder checkpoint (audio file: copy-synthesis; .npy/.pt: a mel)",
        "  wavediff vocode runs/ljspeech-vocoder/checkpoints/last.ckpt speech.wav --steps 6 --out speech_voc.wav\n"
        "  wavediff vocode CKPT mel.npy --steps 4 --method dpmpp_2m --out out.wav\n"
        "  wavediff vocode CKPT tts_mels/ --mel-convention hifigan --out vocoded/   # a folder, batched\n"
        "  wavediff vocode CKPT long.flac --chunk-seconds 10 --out long_voc.wav      # bounded memory\n",
        _run_vocode)
    vo.add_argument("checkpoint", type=Path, help="vocoder checkpoint (.ckpt) or exported model folder")
    vo.add_argument("input", type=Path, help="audio file (WAV/FLAC/OGG/MP3/AIFF), .npy/.pt mel, or a folder of them")
    vo.add_argument("--out", type=Path, default=None, help="output WAV (or folder for a folder input)")
    vo.add_argument("--steps", type=int, default=None, help="sampling steps (default: the recipe's)")
    vo.add_argument("--method", default=None, help="ddpm, ddim, euler, heun, sde, dpmpp_2m (default: the recipe's)")
    vo.add_argument("--grid", default=None, help="uniform_t, uniform_logsnr, karras, diffwave6 or tuned")
    vo.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    vo.add_argument("--chunk-seconds", type=positive_float, default=None,
                    help="vocode in chunks of this length (exact)")
    vo.add_argument("--mel-convention", choices=("diffwave", "hifigan"), default=None,
                    help="convert a mel made with this front-end's log/normalisation convention")
    vo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    vo.add_argument("--overwrite", action="store_true", help="replace output files that exist already")


def add_tune_schedule(sub: argparse._SubParsersAction) -> None:
    """``wavediff tune-schedule``."""
    ts = add_command(
        sub, "tune-schedule", "search a few-step logsnr grid for a vocoder on held-out clips; saved in the checkpoint",
        "  wavediff tune-schedule runs/ljspeech-vocoder/checkpoints/last.ckpt --data data/ljspeech/wavs --steps 6\n"
        "  wavediff tune-schedule CKPT --data held_out/ --steps 4 --method dpmpp_2m --out tuned.ckpt\n",
        _run_tune_schedule)
    ts.add_argument("checkpoint", type=Path, help="vocoder checkpoint (.ckpt) or exported model folder")
    ts.add_argument("--data", type=Path, required=True, help="folder of held-out audio")
    ts.add_argument("--steps", type=int, required=True, help="number of grid points")
    ts.add_argument("--method", default="ddim", help="sampler the grid is tuned for (default ddim)")
    ts.add_argument("--clips", type=int, default=4, help="held-out clips used (default 4)")
    ts.add_argument("--seconds", type=float, default=2.0, help="seconds of each clip (default 2)")
    ts.add_argument("--candidates", type=int, default=12, help="values tried per position (default 12)")
    ts.add_argument("--passes", type=int, default=1, help="passes over the positions (default 1)")
    ts.add_argument("--out", type=Path, default=None, help="write the tuned checkpoint here (default: in place)")
