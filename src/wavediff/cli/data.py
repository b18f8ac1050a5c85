"""``wavediff data``: the local corpus builders (demo, SoundFont notes, espeak-ng speech)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_command, formatter, int_list, print_help


def _run_data_demo(args: argparse.Namespace) -> int:
    from ..data.demo import DemoCorpusConfig, write_demo_corpus

    cfg = DemoCorpusConfig(sample_rate=args.sample_rate, clip_seconds=args.seconds,
                           clips_per_class=args.clips_per_class, seed=args.seed, notes=args.notes)
    out = write_demo_corpus(args.out, cfg, overwrite=args.overwrite)
    print(f"demo corpus written to {out}")
    return 0


def _run_data_soundfont(args: argparse.Namespace) -> int:
    from ..data.soundfont import SoundfontCorpusConfig, write_soundfont_corpus

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
    from ..data.espeak import EspeakCorpusConfig, EspeakError, write_espeak_corpus

    kwargs = {"voices": tuple(args.voices.split(","))} if args.voices else {}
    cfg = EspeakCorpusConfig(sample_rate=args.sample_rate, utterances_per_voice=args.per_voice,
                             seed=args.seed, **kwargs)
    try:
        out = write_espeak_corpus(args.out, cfg, overwrite=args.overwrite)
    except EspeakError as err:
        raise ValueError(str(err)) from err
    print(f"espeak-ng speech corpus written to {out}")
    return 0


def add_data(sub: argparse._SubParsersAction) -> None:
    """``wavediff data demo|soundfont-notes|espeak-speech``."""
    data = sub.add_parser("data", help="build local corpora (no downloads)",
                          description="Build corpora on disk in wavediff's generic folder layout.",
                          epilog="examples:\n  wavediff data demo --out data/demo\n"
                                 "  wavediff data soundfont-notes --out data/soundfont-notes\n"
                                 "  wavediff data espeak-speech --out data/espeak-speech\n",
                          formatter_class=formatter)
    data.set_defaults(run=lambda _args: print_help(data))
    data_sub = data.add_subparsers(title="corpora", metavar="CORPUS")
    demo = add_command(
        data_sub, "demo", "write the built-in synthetic demo corpus (plucks, bells, drums, ...)",
        "  wavediff data demo --out data/demo\n"
        "  wavediff data demo --out /tmp/demo16k --sample-rate 16000 --clips-per-class 8 --seed 1\n"
        "  wavediff data demo --out data/demo-5notes --notes 5   # each class plays the 5 lowest notes of its scale\n",
        _run_data_demo)
    demo.add_argument("--out", type=Path, required=True, help="output folder")
    demo.add_argument("--sample-rate", type=int, default=16000, help="Hz (default 16000)")
    demo.add_argument("--seconds", type=float, default=0.5,
                      help="clip length in seconds (default 0.5, as the demo recipe trains on)")
    demo.add_argument("--notes", type=int, default=15,
                      help="notes of each class's two-octave scale played, from the lowest (1-15, default 15)")
    demo.add_argument("--clips-per-class", type=int, default=48, help="default 48")
    demo.add_argument("--seed", type=int, default=0, help="default 0")
    demo.add_argument("--overwrite", action="store_true", help="replace a different corpus already in --out")

    sfc = add_command(
        data_sub, "soundfont-notes", "render General MIDI notes and phrases from a SoundFont (tinysoundfont)",
        "  wavediff data soundfont-notes --out data/soundfont-notes\n"
        "  wavediff data soundfont-notes --out /tmp/sf --programs 0,24,73 --pitches 48,60,72 --phrases 4 --seconds 1\n"
        "  wavediff data soundfont-notes --out data/fluid --sf2 /usr/share/sounds/sf2/FluidR3_GM.sf2 --label program\n",
        _run_data_soundfont)
    sfc.add_argument("--out", type=Path, required=True, help="output folder")
    sfc.add_argument("--sf2", type=Path, default=None, help="SoundFont file (default: TimGM6mb.sf2 from pretty_midi)")
    sfc.add_argument("--sample-rate", type=int, default=16000, help="Hz (default 16000)")
    sfc.add_argument("--seconds", type=float, default=4.0, help="clip length in seconds (default 4)")
    sfc.add_argument("--programs", type=int_list, default=(0, 19, 24, 33, 48, 56, 71, 73),
                     help="comma-separated GM programs (default 0,19,24,33,48,56,71,73)")
    sfc.add_argument("--pitches", type=int_list, default=None,
                     help="comma-separated MIDI notes (default: each program's register)")
    sfc.add_argument("--pitch-step", type=int, default=1, help="semitones through each register (default 1)")
    sfc.add_argument("--velocities", type=int_list, default=(70, 110), help="default 70,110")
    sfc.add_argument("--phrases", type=int, default=32, help="multi-instrument phrase clips (default 32)")
    sfc.add_argument("--label", choices=("family", "program", "pitch"), default="family", help="default family")
    sfc.add_argument("--seed", type=int, default=0, help="default 0")
    sfc.add_argument("--overwrite", action="store_true", help="replace a different corpus already in --out")

    esp = add_command(
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
