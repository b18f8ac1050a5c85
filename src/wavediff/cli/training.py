"""``wavediff train`` and ``wavediff distill``: a recipe (with ``key=value`` overrides) to a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .common import add_command

if TYPE_CHECKING:
    from ..train.config import Recipe


def recipe_from_args(args: argparse.Namespace) -> Recipe | None:
    """The recipe of ``train``/``distill`` with overrides; printed (and None returned) for
    ``--print-config``."""
    from ..train.config import load_recipe

    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f"trainer.max_steps={args.max_steps}")
    recipe = load_recipe(args.config, overrides)
    if args.print_config:
        print(recipe.to_yaml(), end="")
        return None
    return recipe


def _run_train(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)
    if recipe is None:
        return 0
    from ..train.run import train

    train(recipe, args.out or Path("runs") / recipe.name, resume=args.resume, init_from=args.init_from)
    return 0


def _run_distill(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)
    if recipe is None:
        return 0
    from ..train.distill import distill

    distill(recipe, args.teacher, args.out or Path("runs") / recipe.name, resume=args.resume)
    return 0


def add_train(sub: argparse._SubParsersAction) -> None:
    """``wavediff train``."""
    tr = add_command(
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


def add_distill(sub: argparse._SubParsersAction) -> None:
    """``wavediff distill``."""
    dis = add_command(
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


def _run_recipes(args: argparse.Namespace) -> int:
    from ..recipes import recipe_names, recipe_summary, recipe_text

    if args.name is not None:
        print(recipe_text(args.name), end="")
        return 0
    width = max(map(len, recipe_names()))
    for name in recipe_names():
        print(f"{name:<{width}}  {recipe_summary(name)}")
    return 0


def add_recipes(sub: argparse._SubParsersAction) -> None:
    """``wavediff recipes``."""
    rec = add_command(
        sub, "recipes", "list the recipes shipped with wavediff, or print one (YAML) to start a recipe of one's own",
        "  wavediff recipes\n"
        "  wavediff recipes demo > my-recipe.yaml\n"
        "  wavediff train --config my-recipe.yaml   # a file; `--config demo` is the packaged one\n",
        _run_recipes)
    rec.add_argument("name", nargs="?", default=None, help="the recipe to print (default: list them all)")
