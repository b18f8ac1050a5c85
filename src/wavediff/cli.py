"""The ``wavediff`` command line: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__

EPILOG = """examples:
  wavediff demo                               # the whole pipeline on built-in data (~10 min on CPU)
  wavediff data demo --out data/demo          # write the built-in demo corpus
  wavediff recipes                            # the recipes shipped with wavediff
  wavediff train --config demo                # train a model from a recipe
  wavediff sample runs/demo/checkpoints/last.ckpt --num 8 --out samples/
  wavediff <command> --help                   # options and examples of one command
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _add_command(sub: argparse._SubParsersAction, name: str, help_text: str, examples: str,
                 run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text,
                            epilog="examples:\n" + examples, formatter_class=_formatter)
    parser.set_defaults(run=run)
    return parser


def _run_data_demo(args: argparse.Namespace) -> int:
    from .data.demo import DemoCorpusConfig, write_demo_corpus

    cfg = DemoCorpusConfig(sample_rate=args.sample_rate, clip_seconds=args.seconds,
                           clips_per_class=args.clips_per_class, seed=args.seed)
    out = write_demo_corpus(args.out, cfg, overwrite=args.overwrite)
    print(f"demo corpus written to {out}")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _run_data_soundfont(args: argparse.Namespace) -> int:
    from .data.soundfont import SoundfontCorpusConfig, write_soundfont_corpus

    cfg = SoundfontCorpusConfig(
        sample_rate=args.sample_rate, clip_seconds=args.seconds, programs=args.programs,
        pitches=args.pitches, pitch_step=args.pitch_step, velocities=args.velocities,
        phrases=args.phrases, label=args.label, seed=args.seed,
        sf2=str(args.sf2) if args.sf2 else None)
    try:
        out = write_soundfont_corpus(args.out, cfg, overwrite=args.overwrite)
    except ImportError as err:
        raise ValueError(str(err)) from err
    print(f"SoundFont corpus written to {out}")
    return 0


def _run_data_espeak(args: argparse.Namespace) -> int:
    from .data.espeak import EspeakCorpusConfig, EspeakError, write_espeak_corpus

    kwargs = {"voices": tuple(args.voices.split(","))} if args.voices else {}
    cfg = EspeakCorpusConfig(sample_rate=args.sample_rate, utterances_per_voice=args.per_voice,
                             seed=args.seed, **kwargs)
    try:
        out = write_espeak_corpus(args.out, cfg, overwrite=args.overwrite)
    except EspeakError as err:
        raise ValueError(str(err)) from err
    print(f"espeak-ng speech corpus written to {out}")
    return 0


def _cli_recipe(args: argparse.Namespace):
    """The recipe of ``train``/``distill`` with overrides; printed (and None returned) for
    ``--print-config``."""
    from .train.config import load_recipe

    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f"trainer.max_steps={args.max_steps}")
    recipe = load_recipe(args.config, overrides)
    if args.print_config:
        print(recipe.to_yaml(), end="")
        return None
    return recipe


def _run_train(args: argparse.Namespace) -> int:
    recipe = _cli_recipe(args)
    if recipe is None:
        return 0
    from .train.run import train

    train(recipe, args.out or Path("runs") / recipe.name, resume=args.resume, init_from=args.init_from)
    return 0


def _run_distill(args: argparse.Namespace) -> int:
    recipe = _cli_recipe(args)
    if recipe is None:
        return 0
    from .train.distill import distill

    distill(recipe, args.teacher, args.out or Path("runs") / recipe.name, resume=args.resume)
    return 0


def _run_recipes(args: argparse.Namespace) -> int:
    from .recipes import recipe_names, recipe_summary, recipe_text

    if args.name is not None:
        print(recipe_text(args.name), end="")
        return 0
    width = max(map(len, recipe_names()))
    for name in recipe_names():
        print(f"{name:<{width}}  {recipe_summary(name)}")
    return 0


def _run_sample(args: argparse.Namespace) -> int:
    import json

    import torch

    from .audio.io import save_audio
    from .diffusion.grids import named_grid_steps
    from .diffusion.samplers import default_grid
    from .train.config import write_text_atomic
    from .train.distill import sample_student
    from .train.module import load_module

    module = load_module(args.checkpoint, map_location=args.device)
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
    s = module.recipe.sample
    distilled = module.recipe.distill.method != "none"
    source = None
    if args.from_ is not None:  # variations of a sound: every clip starts from the input
        from .audio.io import load_audio
        from .audio_to_audio import audio_to_audio, sampler_settings

        source, _ = load_audio(args.from_, module.sample_rate, mono="mix")
        method, grid, fixed = sampler_settings(module, args.mode, args.method, args.grid, args.steps)
        audio = audio_to_audio(module, source.expand(args.num, -1).unsqueeze(1), args.strength, steps=args.steps,
                               method=args.method, grid=args.grid, mode=args.mode, class_label=labels,
                               guidance=args.guidance, generator=gen)
    elif distilled:
        if args.guidance is not None or args.method is not None or args.grid is not None:
            raise ValueError("a distilled student samples with its own method and grid (and guidance distilled "
                             "in); drop --method/--grid/--guidance")
        audio = sample_student(module, args.num, length, args.steps, class_label=labels, generator=gen)
        grid, fixed = None, None
    else:
        grid = args.grid or s.grid_for(args.method, args.steps) or default_grid(args.method or s.method,
                                                                                  module.schedule)
        fixed = named_grid_steps(grid)
        if fixed is not None and args.steps not in (None, fixed):
            raise ValueError(f"--grid {grid} has {fixed} steps: drop --steps or pass --steps {fixed}")
        audio = module.generate(args.num, length, steps=args.steps, method=args.method, class_label=labels,
                                guidance=args.guidance, generator=gen, grid=grid)
    out = args.out
    files = []
    for i in range(args.num):
        name = f"{i:03d}" + (f"_{module.labels[int(labels[i])]}" if labels is not None else "") + ".wav"
        save_audio(out / name, audio[i].float().cpu().clamp(-1, 1), module.sample_rate)
        files.append(name)
    settings = {"checkpoint": str(args.checkpoint), "num": args.num, "seconds": args.seconds,
                "sample_rate": module.sample_rate,
                "steps": fixed or args.steps or s.steps,
                "method": "student" if distilled else (args.method or s.method), "grid": grid,
                "guidance": None if labels is None or distilled else (args.guidance if args.guidance is not None else s.guidance),
                "seed": args.seed, "labels": [module.labels[int(l)] for l in labels] if labels is not None else None,
                "files": files}
    if source is not None:
        settings.update({"from": str(args.from_), "strength": args.strength, "mode": args.mode, "method": method,
                         "seconds": source.shape[-1] / module.sample_rate})
    write_text_atomic(out / "samples.json", json.dumps(settings, indent=1))
    print(f"{args.num} sample(s) written to {out}")
    return 0


def _run_vocode(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .audio.io import READ_FORMATS, save_audio
    from .vocode_outputs import FolderReport, check_writable, folder_outputs, single_output
    from .vocoder import MEL_FILE_SUFFIXES, Vocoder

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
    from .audio.io import READ_FORMATS, load_audio
    from .tune import save_tuned_grid, tune_grid
    from .vocoder import Vocoder

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


def _run_export(args: argparse.Namespace) -> int:
    from .export import export_model

    out = export_model(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"exported {args.checkpoint} -> {out} (model.safetensors: EMA weights, config.json: settings)")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from .eval.evaluate import EvalOptions, evaluate

    opts = EvalOptions(
        steps=args.steps, methods=args.methods.split(",") if args.methods else None, num=args.num,
        seconds=args.seconds, seed=args.seed, save_clips=args.save_clips,
        metrics=args.metrics.split(",") if args.metrics else None, reference_steps=args.reference_steps,
        batch=args.batch, device=args.device, names=args.names.split(",") if args.names else None)
    evaluate(args.checkpoints, args.data, args.out, opts)
    print(f"open {args.out / 'summary.md'}, or make a web page: wavediff gallery {args.out} --out gallery.html")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    if args.task == "vocoder":
        from .eval.demo_vocoder import run_vocoder_demo

        if args.model is not None:
            raise ValueError("--model chooses the music demo's teacher; the vocoder demo trains the "
                             "demo-vocoder recipe's network (drop --model, or add --task music)")
        run_vocoder_demo(args.out or Path("demo-vocoder-out"), device=args.device, minutes=args.minutes,
                         num_clips=args.clips or 8)
        return 0
    from .eval.demo import run_demo

    run_demo(args.out or Path("demo-out"), device=args.device, minutes=args.minutes, num_clips=args.clips or 32,
             model=args.model or "tiny")
    return 0


def _run_import_diffwave(args: argparse.Namespace) -> int:
    from .importers import import_diffwave

    out = import_diffwave(args.checkpoint, args.out, name=args.name)
    print(f"converted {args.checkpoint} -> {out}; vocode, evaluate, tune-schedule and distill take it.\n"
          f"Its recipe, to fine-tune it: wavediff train --config {out.with_suffix('.yaml')} --init-from {out} "
          f"data.root=FOLDER_OF_AUDIO")
    return 0


def _run_gallery(args: argparse.Namespace) -> int:
    from .eval.gallery import write_gallery

    out = write_gallery(args.report, args.out or args.report / "gallery.html", embed=not args.link, title=args.title)
    print(f"gallery written to {out}" + (" (files linked: keep it next to the report folder)" if args.link else ""))
    return 0


def _run_analyze_noise(args: argparse.Namespace) -> int:
    from .eval.noise import analyze_noise, save_noise_analysis

    if args.data is None and args.config is None:
        raise ValueError("give --data DIR (a folder of audio), --config RECIPE, or both")
    result = analyze_noise(args.data, config=args.config, sample_rate=args.sample_rate, max_clips=args.max_clips,
                           max_seconds=args.max_seconds, n_fft=args.n_fft, progress=True)
    out = args.out or Path("noise_analysis")
    json_path, png_path = save_noise_analysis(result, out)
    bands = ", ".join(f"{b['name']} {b['crossing_logsnr']:.1f}" for b in result["bands"])
    print(f"{result['clips']} clip(s) at {result['sample_rate']} Hz; logsnr where each octave band's SNR is 0 dB: {bands}")
    scales = ", ".join(f"{v:.3g} (pre_emphasis {c})" for c, v in result["suggested_data_scale"].items())
    print(f"diffusion.data_scale for unit-RMS x_0: {scales}")
    print(f"written {json_path} and {png_path}")
    return 0


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavediff",
        description="Diffusion models of raw audio waveforms: train, distil, sample, vocode, evaluate.",
        epilog=EPILOG, formatter_class=_formatter)
    parser.add_argument("--version", action="version", version=f"wavediff {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    dm = _add_command(
        sub, "demo", "the whole pipeline on built-in data: teacher, students, evaluation, gallery",
        "  wavediff demo                                  # a speech vocoder (needs espeak-ng), ~8 min on 2 cores\n"
        "  wavediff demo --minutes 3                      # a shorter training budget\n"
        "  wavediff demo --task music                     # class-conditional notes on the synthetic demo corpus\n"
        "  wavediff demo --device cuda --minutes 10       # on a GPU\n"
        "  wavediff demo --task music --device cuda --model base   # a teacher whose receptive field holds notes\n",
        _run_demo)
    dm.add_argument("--task", choices=["vocoder", "music"], default="vocoder",
                    help="vocoder (default): a mel vocoder on espeak-ng speech, judged against the originals "
                         "and Griffin-Lim on unseen speakers and sentences; music: a class-conditional "
                         "generator of the synthetic demo notes")
    dm.add_argument("--out", type=Path, default=None,
                    help="output folder (default demo-vocoder-out/ or demo-out/)")
    dm.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    dm.add_argument("--minutes", type=float, default=5.0,
                    help="training budget in minutes, shared by teacher and students (default 5)")
    dm.add_argument("--clips", type=int, default=None,
                    help="held-out clips (vocoder, default 8) or generated clips per row (music, default 32)")
    dm.add_argument("--model", default=None, choices=["tiny", "base", "large", "spectral"],
                    help="music task: network preset of the teacher (and so of the students): tiny (default) is CPU-sized, "
                         "with a 29-sample receptive field that makes spectral textures, not pitch; base and "
                         "large (6139 samples) are for a GPU; spectral is the frame-rate STFT network "
                         "(receptive field 7168 samples at tiny's cost per sample)")

    data = sub.add_parser("data", help="build local corpora (no downloads)",
                          description="Build corpora on disk in wavediff's generic folder layout.",
                          epilog="examples:\n  wavediff data demo --out data/demo\n"
                                 "  wavediff data soundfont-notes --out data/soundfont-notes\n"
                                 "  wavediff data espeak-speech --out data/espeak-speech\n",
                          formatter_class=_formatter)
    data.set_defaults(run=lambda _args: _print_help(data))
    data_sub = data.add_subparsers(title="corpora", metavar="CORPUS")
    demo = _add_command(
        data_sub, "demo", "write the built-in synthetic demo corpus (plucks, bells, drums, ...)",
        "  wavediff data demo --out data/demo\n"
        "  wavediff data demo --out /tmp/demo16k --sample-rate 16000 --clips-per-class 8 --seed 1\n",
        _run_data_demo)
    demo.add_argument("--out", type=Path, required=True, help="output folder")
    demo.add_argument("--sample-rate", type=int, default=16000, help="Hz (default 16000)")
    demo.add_argument("--seconds", type=float, default=1.0, help="clip length in seconds (default 1)")
    demo.add_argument("--clips-per-class", type=int, default=48, help="default 48")
    demo.add_argument("--seed", type=int, default=0, help="default 0")
    demo.add_argument("--overwrite", action="store_true", help="replace a different corpus already in --out")

    sfc = _add_command(
        data_sub, "soundfont-notes", "render General MIDI notes and phrases from a SoundFont (tinysoundfont)",
        "  wavediff data soundfont-notes --out data/soundfont-notes\n"
        "  wavediff data soundfont-notes --out /tmp/sf --programs 0,24,73 --pitches 48,60,72 --phrases 4 --seconds 1\n"
        "  wavediff data soundfont-notes --out data/fluid --sf2 /usr/share/sounds/sf2/FluidR3_GM.sf2 --label program\n",
        _run_data_soundfont)
    sfc.add_argument("--out", type=Path, required=True, help="output folder")
    sfc.add_argument("--sf2", type=Path, default=None, help="SoundFont file (default: TimGM6mb.sf2 from pretty_midi)")
    sfc.add_argument("--sample-rate", type=int, default=16000, help="Hz (default 16000)")
    sfc.add_argument("--seconds", type=float, default=4.0, help="clip length in seconds (default 4)")
    sfc.add_argument("--programs", type=_int_list, default=(0, 19, 24, 33, 48, 56, 71, 73),
                     help="comma-separated GM programs (default 0,19,24,33,48,56,71,73)")
    sfc.add_argument("--pitches", type=_int_list, default=None,
                     help="comma-separated MIDI notes (default: each program's register)")
    sfc.add_argument("--pitch-step", type=int, default=1, help="semitones through each register (default 1)")
    sfc.add_argument("--velocities", type=_int_list, default=(70, 110), help="default 70,110")
    sfc.add_argument("--phrases", type=int, default=32, help="multi-instrument phrase clips (default 32)")
    sfc.add_argument("--label", choices=("family", "program", "pitch"), default="family", help="default family")
    sfc.add_argument("--seed", type=int, default=0, help="default 0")
    sfc.add_argument("--overwrite", action="store_true", help="replace a different corpus already in --out")

    esp = _add_command(
        data_sub, "espeak-speech", "speak built-in sentences with several espeak-ng voices",
        "  wavediff data espeak-speech --out data/espeak-speech\n"
        "  wavediff data espeak-speech --out /tmp/speech --voices en-us,en-us+f2,en-gb-x-rp --per-voice 5\n",
        _run_data_espeak)
    esp.add_argument("--out", type=Path, required=True, help="output folder")
    esp.add_argument("--voices", default=None,
                     help="comma-separated espeak-ng voices (default: seven English accents/variants)")
    esp.add_argument("--per-voice", type=int, default=30, help="utterances per voice (default 30)")
    esp.add_argument("--sample-rate", type=int, default=22050, help="Hz (default 22050)")
    esp.add_argument("--seed", type=int, default=0, help="default 0")
    esp.add_argument("--overwrite", action="store_true", help="replace a different corpus already in --out")

    rec = _add_command(
        sub, "recipes", "list the recipes shipped with wavediff, or print one (YAML) to start a recipe of one's own",
        "  wavediff recipes\n"
        "  wavediff recipes demo > my-recipe.yaml\n"
        "  wavediff train --config my-recipe.yaml   # a file; `--config demo` is the packaged one\n",
        _run_recipes)
    rec.add_argument("name", nargs="?", default=None, help="the recipe to print (default: list them all)")

    tr = _add_command(
        sub, "train", "train a diffusion model from a recipe (CPU or GPU; one or many GPUs)",
        "  wavediff train --config demo --out runs/demo\n"
        "  wavediff train --config demo --max-steps 200 optim.lr=5e-4 data.batch_size=4\n"
        "  wavediff train --config demo --resume runs/demo/checkpoints/last.ckpt\n"
        "  wavediff train --config ljspeech-vocoder --init-from runs/ljspeech-vocoder/checkpoints/last.ckpt \\\n"
        "      --out runs/my-speaker data.corpus=folder data.root=data/my-speaker optim.lr=1e-4   # fine-tune\n"
        "  wavediff train --config ljspeech-vocoder trainer.devices=4 trainer.strategy=ddp\n"
        "  wavediff train --config demo --print-config\n",
        _run_train)
    tr.add_argument("--config", type=Path, required=True,
                    help="recipe: a YAML file, or a packaged recipe's name (`wavediff recipes` lists them)")
    tr.add_argument("--out", type=Path, default=None, help="output folder (default runs/<recipe name>)")
    tr.add_argument("--max-steps", type=int, default=None, help="shortcut for trainer.max_steps=N")
    tr.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from (exactly)")
    tr.add_argument("--init-from", type=Path, default=None,
                    help="new run starting from this checkpoint's weights and EMA (same network); "
                         "fresh optimiser and schedule")
    tr.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    tr.add_argument("overrides", nargs="*", metavar="key=value", help="override any recipe field")

    dis = _add_command(
        sub, "distill", "distil a trained model into a few-step student (progressive or consistency)",
        "  wavediff distill --config demo-distill --teacher runs/demo/checkpoints/last.ckpt\n"
        "  wavediff distill --config demo-distill --teacher runs/demo/checkpoints/last.ckpt \\\n"
        "      --out runs/demo-cd distill.method=consistency_distillation\n"
        "  wavediff distill --config demo-distill --teacher runs/demo/checkpoints/last.ckpt \\\n"
        "      --resume runs/demo-distill/round_4/checkpoints/last.ckpt\n"
        "  wavediff distill --config ljspeech-vocoder-distill \\\n"
        "      --teacher runs/ljspeech-vocoder/checkpoints/last.ckpt trainer.devices=4 trainer.strategy=ddp\n"
        "  wavediff distill --config demo-distill distill.method=consistency_training \\\n"
        "      model.preset=tiny model.conditioning=class     # from scratch: no --teacher\n"
        "  wavediff distill --config demo-distill --print-config distill.teacher_steps=32\n",
        _run_distill)
    dis.add_argument("--config", type=Path, required=True,
                     help="distillation recipe: a YAML file, or a packaged recipe's name (demo-distill, ...)")
    dis.add_argument("--teacher", type=Path, default=None,
                     help="teacher checkpoint (required unless distill.method=consistency_training)")
    dis.add_argument("--out", type=Path, default=None, help="output folder (default runs/<recipe name>)")
    dis.add_argument("--max-steps", type=int, default=None, help="shortcut for trainer.max_steps=N (per progressive round)")
    dis.add_argument("--resume", type=Path, default=None, help="checkpoint of this run to continue from (any round, exactly)")
    dis.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    dis.add_argument("overrides", nargs="*", metavar="key=value", help="override any recipe field")

    sa = _add_command(
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

    vo = _add_command(
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
    vo.add_argument("--chunk-seconds", type=_positive_float, default=None,
                    help="vocode in chunks of this length (exact)")
    vo.add_argument("--mel-convention", choices=("diffwave", "hifigan"), default=None,
                    help="convert a mel made with this front-end's log/normalisation convention")
    vo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    vo.add_argument("--overwrite", action="store_true", help="replace output files that exist already")

    ev = _add_command(
        sub, "evaluate", "quality against network evaluations on held-out clips: metrics, RTF, audio, plots",
        "  wavediff evaluate runs/demo/checkpoints/last.ckpt --data data/demo --steps 1,2,4,8,16 --out report/\n"
        "  wavediff evaluate runs/demo runs/demo-distill runs/demo-cd --data data/demo --out compare/   # teacher first\n"
        "  wavediff evaluate runs/demo --data data/demo --steps 4,16 --methods ddpm:uniform_t,ddpm:uniform_logsnr\n"
        "  wavediff evaluate runs/ljspeech-vocoder --data data/LJSpeech-1.1 --steps 1,2,6,50 \\\n"
        "      --metrics mrstft_distance,mel_l1,pesq,stoi --out report-voc/\n",
        _run_evaluate)
    ev.add_argument("checkpoints", type=Path, nargs="+", metavar="MODEL",
                    help="checkpoint or run folder (train or distill output); several: a comparison, the first "
                         "is the teacher")
    ev.add_argument("--data", type=Path, required=True, help="corpus folder the models were trained on (held-out split)")
    ev.add_argument("--out", type=Path, default=Path("report"), help="report folder (default report/)")
    ev.add_argument("--steps", type=_int_list, default=(1, 2, 4, 8, 16), help="step counts (default 1,2,4,8,16)")
    ev.add_argument("--methods", default=None, help="samplers of plain models, each optionally with its grid "
                    "(ddim,ddpm:uniform_t,ddpm:uniform_logsnr; default: ddim and the recipe's own)")
    ev.add_argument("--num", type=int, default=32, help="clips per row (default 32)")
    ev.add_argument("--seconds", type=float, default=None,
                    help="clip length (default: the training segment; vocoders 2 s)")
    ev.add_argument("--metrics", default=None,
                    help="vocoder metrics (default mrstft_distance,mel_l1,lsd; also mcd,f0_rmse,pesq,stoi,estoi,dnsmos)")
    ev.add_argument("--names", default=None, help="comma-separated model names for the report")
    ev.add_argument("--reference-steps", type=int, default=64,
                    help="DDIM steps of the teacher reference in a comparison (default 64)")
    ev.add_argument("--save-clips", type=int, default=4, help="clips per row written as WAV + PNG (default 4)")
    ev.add_argument("--batch", type=int, default=16, help="clips generated at once (default 16)")
    ev.add_argument("--seed", type=int, default=0, help="noise and segment seed (default 0)")
    ev.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")

    ts = _add_command(
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
    ex = _add_command(
        sub, "export", "write a checkpoint's EMA weights (safetensors) and settings (JSON): the format to share",
        "  wavediff export runs/demo/checkpoints/last.ckpt --out models/demo\n"
        "  wavediff sample models/demo --num 4 --out samples/       # every command takes the folder\n",
        _run_export)
    ex.add_argument("checkpoint", type=Path, help="wavediff checkpoint (.ckpt)")
    ex.add_argument("--out", type=Path, required=True, help="folder to write model.safetensors and config.json to")
    ex.add_argument("--overwrite", action="store_true", help="write into a folder that holds files already")
    imp = sub.add_parser("import", help="convert a checkpoint of another code base into a wavediff checkpoint",
                         description="Convert a checkpoint of another code base into a wavediff checkpoint.",
                         epilog="examples:\n  wavediff import diffwave diffwave-ljspeech-22kHz-1000578.pt "
                                "--out diffwave-lj.ckpt\n", formatter_class=_formatter)
    imp.set_defaults(run=lambda _args: _print_help(imp))
    imp_sub = imp.add_subparsers(title="formats", metavar="FORMAT")
    idw = _add_command(
        imp_sub, "diffwave", "a DiffWave reference checkpoint ({'model': state_dict, 'params': ...}) -> wavediff",
        "  wavediff import diffwave diffwave-ljspeech-22kHz-1000578.pt --out diffwave-lj.ckpt\n"
        "  wavediff vocode diffwave-lj.ckpt speech.wav --out speech_voc.wav    # then use it like any vocoder\n",
        _run_import_diffwave)
    idw.add_argument("checkpoint", type=Path, help="the reference's weights file (.pt)")
    idw.add_argument("--out", type=Path, required=True, help="wavediff checkpoint to write (.ckpt)")
    idw.add_argument("--name", default=None, help="recipe name stored in the checkpoint (default diffwave-<stem>)")

    ga = _add_command(
        sub, "gallery", "one self-contained HTML page of an evaluation report: players, spectrograms, metrics",
        "  wavediff gallery report/ --out gallery.html\n"
        "  wavediff gallery report/ --out report/index.html --link     # small page that links the report's files\n"
        "  wavediff gallery compare/ --out compare.html --title \"teacher vs students\"\n",
        _run_gallery)
    ga.add_argument("report", type=Path, help="report folder written by `wavediff evaluate` (holds report.json)")
    ga.add_argument("--out", type=Path, default=None, help="HTML file to write (default REPORT/gallery.html)")
    ga.add_argument("--link", action="store_true",
                    help="reference audio and images by relative paths instead of embedding them")
    ga.add_argument("--title", default=None, help="page title (default: from the report folder name)")

    an = _add_command(
        sub, "analyze-noise", "which frequency bands each noise level drowns, and where the loss weighting puts its weight",
        "  wavediff analyze-noise --data data/demo --out noise/\n"
        "  wavediff analyze-noise --config ljspeech-vocoder --data data/LJSpeech-1.1 --out noise-lj/\n"
        "  wavediff analyze-noise --data my_clips/ --sample-rate 22050 --max-clips 16 --n-fft 2048\n",
        _run_analyze_noise)
    an.add_argument("--data", type=Path, default=None,
                    help="folder of audio (with --config: the recipe's corpus folder; default its data.root)")
    an.add_argument("--config", type=Path, default=None,
                    help="recipe (YAML file or packaged name): corpus reader, sample rate, schedule, weighting "
                         "and time sampling")
    an.add_argument("--out", type=Path, default=None, help="output folder (default noise_analysis/)")
    an.add_argument("--sample-rate", type=int, default=None, help="Hz (default: the recipe's, else the first file's)")
    an.add_argument("--max-clips", type=int, default=64, help="clips averaged, spread over the corpus (default 64)")
    an.add_argument("--max-seconds", type=float, default=30.0, help="seconds read from each clip (default 30)")
    an.add_argument("--n-fft", type=int, default=1024, help="Welch frame length (default 1024)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # recipe overrides may also follow an option: train ... a=1 --out X b=2
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "run"):
        return _print_help(parser)
    from .errors import user_message

    try:
        return int(args.run(args) or 0)
    except Exception as err:  # noqa: BLE001 - user-fixable failures become one line; bugs keep their traceback
        message = user_message(err)
        if message is None:
            raise
        print(f"wavediff: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
