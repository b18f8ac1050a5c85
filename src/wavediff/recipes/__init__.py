"""The recipes shipped with wavediff: the YAML files next to this module.

They are read through ``importlib.resources``, so an installed wheel finds them as a source
checkout does. A recipe is named by its file stem (``demo``, ``ljspeech-vocoder``);
``wavediff recipes`` lists them and ``wavediff recipes NAME`` prints one, to start a recipe
of one's own from.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def _folder() -> Traversable:
    return resources.files(__name__)


def recipe_names() -> list[str]:
    """The names of the packaged recipes, sorted."""
    return sorted(entry.name.removesuffix(".yaml") for entry in _folder().iterdir() if entry.name.endswith(".yaml"))


def recipe_text(name: str) -> str:
    """The YAML text of the packaged recipe ``name`` (comments included).

    Raises:
        ValueError: no packaged recipe has that name (the message lists them).
    """
    if name not in recipe_names():
        raise ValueError(f"no packaged recipe {name!r}; packaged recipes: {', '.join(recipe_names())}")
    return (_folder() / f"{name}.yaml").read_text(encoding="utf-8")


def recipe_summary(name: str) -> str:
    """The first line of the recipe's leading comment (what it trains), or ``""``."""
    for line in recipe_text(name).splitlines():
        if not line.startswith("#"):
            return ""
        text = line.lstrip("#").strip()
        if text:
            return text
    return ""
