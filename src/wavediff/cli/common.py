"""What every command module shares: the help formatter, the way a command is added (help,
description and examples), argument types, and printing a group's help."""

from __future__ import annotations

import argparse
from typing import Callable


def formatter(prog: str) -> argparse.HelpFormatter:
    """Help text as written (examples keep their lines), option help from column 32."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def add_command(sub: argparse._SubParsersAction, name: str, help_text: str, examples: str,
                run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A command ``name`` under ``sub`` whose help ends with ``examples`` and which runs ``run``."""
    parser = sub.add_parser(name, help=help_text, description=help_text,
                            epilog="examples:\n" + examples, formatter_class=formatter)
    parser.set_defaults(run=run)
    return parser


def positive_float(text: str) -> float:
    """Argument type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """Argument type: comma-separated integers (``1,2,4``)."""
    return tuple(int(v) for v in text.split(",") if v.strip())


def print_help(parser: argparse.ArgumentParser) -> int:
    """What a command group without a command does: print its help (exit status 0)."""
    parser.print_help()
    return 0
