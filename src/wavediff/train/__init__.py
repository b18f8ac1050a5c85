"""Training: recipes, the diffusion LightningModule with EMA, the ``wavediff train`` run and
the ``wavediff distill`` stages."""

from .config import Recipe, RecipeError, load_recipe
from .ema import EMA
from .module import DiffusionModule, NonFiniteLossError, load_module
from .distill import distill
from .run import train

__all__ = ["EMA", "DiffusionModule", "NonFiniteLossError", "Recipe", "RecipeError", "distill",
           "load_module", "load_recipe", "train"]
