"""Training: recipes, the diffusion LightningModule with EMA, and the ``wavediff train`` run."""

from .config import Recipe, RecipeError, load_recipe
from .ema import EMA
from .module import DiffusionModule, NonFiniteLossError, load_module
from .distill import distill, sample_student
from .run import train

__all__ = ["EMA", "DiffusionModule", "NonFiniteLossError", "Recipe", "RecipeError", "distill",
           "load_module", "load_recipe", "sample_student", "train"]
