"""The ``wavediff`` command line: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__

EPILOG = """examples:
  wavediff data demo --out data/demo          # write the built-in demo corpus
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

    data = sub.add_parser("data", help="build local corpora (no downloads)",
                          description="Build corpora on disk in wavediff's generic folder layout.",
                          epilog="examples:\n  wavediff data demo --out data/demo\n",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        return _print_help(parser)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"wavediff: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
