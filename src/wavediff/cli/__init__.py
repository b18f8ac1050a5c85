"""The ``wavediff`` command line: thin wrappers that parse arguments and call the library.

One module per family of commands (``data``, ``training``, ``generation``, ``evaluation``,
``models``), each adding its commands' parsers (``add_<command>``) and running them;
``common`` holds what they share. ``build_parser`` puts the commands in help order."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from .common import formatter, print_help
from .data import add_data
from .evaluation import add_analyze_noise, add_demo, add_evaluate, add_gallery
from .generation import add_sample, add_tune_schedule, add_vocode
from .models import add_export, add_import
from .training import add_distill, add_recipes, add_train

__all__ = ["build_parser", "main"]

EPILOG = """examples:
  wavediff demo                               # the whole pipeline on built-in data (~8 min on CPU)
  wavediff data demo --out data/demo          # write the built-in demo corpus
  wavediff recipes                            # the recipes shipped with wavediff
  wavediff train --config demo                # train a model from a recipe
  wavediff sample runs/demo/checkpoints/last.ckpt --num 8 --out samples/
  wavediff <command> --help                   # options and examples of one command
"""



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavediff",
        description="Diffusion models of raw audio waveforms: train, distil, sample, vocode, evaluate.",
        epilog=EPILOG, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"wavediff {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (add_demo, add_data, add_recipes, add_train, add_distill, add_sample, add_vocode, add_evaluate, add_tune_schedule,
                add_export, add_import, add_gallery, add_analyze_noise):
        add(sub)
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
        return print_help(parser)
    from ..errors import user_message

    try:
        return int(args.run(args) or 0)
    except Exception as err:  # noqa: BLE001 - user-fixable failures become one line; bugs keep their traceback
        message = user_message(err)
        if message is None:
            raise
        print(f"wavediff: error: {message}", file=sys.stderr)
        return 2
