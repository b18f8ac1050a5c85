"""``wavediff export`` and ``wavediff import``: checkpoints in and out of wavediff's own format."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_command, formatter, print_help


def _run_export(args: argparse.Namespace) -> int:
    from ..export import export_model

    out = export_model(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"exported {args.checkpoint} -> {out} (model.safetensors: EMA weights, config.json: settings)")
    return 0


def _run_import_diffwave(args: argparse.Namespace) -> int:
    from ..importers import import_diffwave

    out = import_diffwave(args.checkpoint, args.out, name=args.name)
    print(f"converted {args.checkpoint} -> {out}; vocode, evaluate, tune-schedule and distill take it.\n"
          f"Its recipe, to fine-tune it: wavediff train --config {out.with_suffix('.yaml')} --init-from {out} "
          f"data.root=FOLDER_OF_AUDIO")
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    """``wavediff export``."""
    ex = add_command(
        sub, "export", "write a checkpoint's EMA weights (safetensors) and settings (JSON): the format to share",
        "  wavediff export runs/demo/checkpoints/last.ckpt --out models/demo\n"
        "  wavediff sample models/demo --num 4 --out samples/       # every command takes the folder\n",
        _run_export)
    ex.add_argument("checkpoint", type=Path, help="wavediff checkpoint (.ckpt)")
    ex.add_argument("--out", type=Path, required=True, help="folder to write model.safetensors and config.json to")
    ex.add_argument("--overwrite", action="store_true", help="write into a folder that holds files already")


def add_import(sub: argparse._SubParsersAction) -> None:
    """``wavediff import diffwave``."""
    imp = sub.add_parser("import", help="convert a checkpoint of another code base into a wavediff checkpoint",
                         description="Convert a checkpoint of another code base into a wavediff checkpoint.",
                         epilog="examples:\n  wavediff import diffwave diffwave-ljspeech-22kHz-1000578.pt "
                                "--out diffwave-lj.ckpt\n", formatter_class=formatter)
    imp.set_defaults(run=lambda _args: print_help(imp))
    imp_sub = imp.add_subparsers(title="formats", metavar="FORMAT")
    idw = add_command(
        imp_sub, "diffwave", "a DiffWave reference checkpoint ({'model': state_dict, 'params': ...}) -> wavediff",
        "  wavediff import diffwave diffwave-ljspeech-22kHz-1000578.pt --out diffwave-lj.ckpt\n"
        "  wavediff vocode diffwave-lj.ckpt speech.wav --out speech_voc.wav    # then use it like any vocoder\n",
        _run_import_diffwave)
    idw.add_argument("checkpoint", type=Path, help="the reference's weights file (.pt)")
    idw.add_argument("--out", type=Path, required=True, help="wavediff checkpoint to write (.ckpt)")
    idw.add_argument("--name", default=None, help="recipe name stored in the checkpoint (default diffwave-<stem>)")
