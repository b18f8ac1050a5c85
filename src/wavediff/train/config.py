"""Recipes: one typed configuration for a training run, read from YAML with overrides.

A recipe is a YAML file whose sections map onto the dataclasses below: a file of one's own,
or one shipped with wavediff, named by its stem (``demo``; ``wavediff.recipes``). Any field
can be overridden as ``section.field=value`` (the value is parsed as YAML, so
``optim.lr=1e-4``, ``trainer.precision=bf16-mixed``, ``data.options={labels: subfolder}``),
on the command line or with ``Recipe.override``, which returns a new recipe.
Unknown sections or fields are refused with the list of valid names, so a typo never
silently does nothing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, get_type_hints

import yaml

from ..audio.data_transform import DataTransform
from ..diffusion.grids import grid_names, named_grid_steps
from ..diffusion.weighting import canonical_weighting
from ..files import write_text_atomic  # noqa: F401  (re-exported: recipes and runs write with it)
from ..recipes import recipe_names, recipe_text


class RecipeError(ValueError):
    """A recipe that cannot be used: the message names the field and the fix."""


@dataclass
class DataConfig:
    """Where the audio comes from and how it is cut.

    ``corpus`` is a reader name (``demo``, ``folder``, ``ljspeech``, ``vctk``, ``sc09``,
    ``maestro``, ``nsynth``); ``root`` its folder (for ``demo`` it is generated there when
    missing). ``segment_samples`` is the training crop length in samples (rounded down to a
    whole number of mel hops for vocoders). ``in_memory`` keeps decoded clips in RAM (small
    corpora); ``mel_cache`` is a folder where full-file mels are cached, keyed by MelConfig.
    ``options`` go to the corpus reader (e.g. ``{labels: subfolder}``)."""

    corpus: str = "demo"
    root: str = "data/demo"
    sample_rate: int = 16000
    segment_samples: int = 8000
    batch_size: int = 16
    num_workers: int = 0
    valid_clips: int = 8
    in_memory: bool = True
    mel_cache: Any = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The denoiser: a preset of ``wavediff.nn`` plus overrides of its fields.
    ``conditioning`` is ``none``, ``class`` (labels of the corpus) or ``mel``."""

    preset: str = "tiny"
    conditioning: str = "none"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class DiffusionConfig:
    """Schedule, parameterisation, loss weighting and time sampling (see ``wavediff.diffusion``).
    ``class_dropout`` is the probability of replacing a label by the null class (guidance).
    ``data_scale`` and ``pre_emphasis`` define the diffusion's clean signal
    ``x_0 = data_scale * pre_emphasis(audio)`` (``wavediff.audio.data_transform``; the
    defaults 1 and 0 make ``x_0`` the audio itself)."""

    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "cosine"})
    parameterisation: str = "v"
    weighting: Any = "eps"
    time_sampling: str = "stratified"
    class_dropout: float = 0.1
    data_scale: float = 1.0
    pre_emphasis: float = 0.0

    def __post_init__(self) -> None:
        self.weighting = _checked_weighting(self.weighting, "diffusion.weighting")


def _checked_weighting(config: Any, where: str) -> Any:
    """A weighting preset of the recipe, checked, under its current name (a former name warns)."""
    try:
        return canonical_weighting(config)
    except ValueError as err:
        raise RecipeError(f"{where}: {err}") from None


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then a ``cosine`` decay or a ``constant`` rate; gradient
    clipping by global norm; an exponential moving average of the weights."""

    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999


@dataclass
class TrainerConfig:
    """How Lightning runs: device, precision, distributed strategy, cadence."""

    max_steps: int = 1000
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    val_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 10
    compile: bool = False
    nan_policy: str = "stop"
    deterministic: bool = True


@dataclass
class SampleConfig:
    """How validation and exports sample: ``steps``, ``method``, step ``grid`` (None = the
    method's default; a grid kind or a named grid such as ``diffwave6``) and guidance scale."""

    steps: int = 8
    method: str = "dpmpp_2m"
    grid: Any = None
    guidance: float = 1.0

    def grid_for(self, method: str | None, steps: int | None) -> str | None:
        """The recipe's grid where it applies to sampling with ``method`` at ``steps``
        (``None``: the recipe's own): a grid kind (``uniform_logsnr`` ...) applies to the
        recipe's own sampler at any step count; a named grid, which fixes its own step
        count, when no step count or exactly its own is asked for. Otherwise ``None`` (the
        method's default grid)."""
        if self.grid is None or (method is not None and method != self.method):
            return None
        fixed = named_grid_steps(self.grid)
        if fixed is not None and steps is not None and steps != fixed:
            return None
        return self.grid


DISTILL_METHODS: tuple[str, ...] = ("none", "progressive", "consistency_distillation", "consistency_training")


@dataclass
class DistillConfig:
    """Few-step distillation (``wavediff distill``); ``method: none`` (the default) in every
    training recipe. The student takes its network, schedule, parameterisation and MelConfig
    from the teacher checkpoint (``model``, ``diffusion`` and ``mel`` of a distillation recipe
    are replaced by the teacher's); ``trainer.max_steps`` is the length of ONE stage (one
    progressive round, or the whole consistency run).

    Common: ``guidance`` is the classifier-free guidance scale of the teacher that is
    distilled into a conditional-only student (``null``: the teacher recipe's
    ``sample.guidance``); ``init_from_teacher`` starts the student from the teacher's EMA
    weights; ``val_clips`` and ``reference_steps`` set the validation comparison with the
    teacher (clips, and the teacher's step count for the reference; 0 = automatic).

    Progressive (Salimans & Ho 2022): rounds ``teacher_steps -> teacher_steps / 2 -> ... ->
    target_steps`` on the teacher's ``uniform_t`` DDIM grid; ``weighting`` is a
    ``wavediff.diffusion`` weighting preset (``snr_trunc``: x0-MSE weighted by max(SNR, 1)).

    Consistency (Song et al. 2023; Song & Dhariwal 2023): noise levels ``sigma_min`` ..
    ``sigma_max`` (EDM view; ``null``: 0.002 and 80 clipped to the schedule's range) with
    Karras ``rho`` spacing; ``sigma_data`` of the boundary parameterisation (1.0 makes the
    student start out as the teacher's denoiser); distillation uses ``num_scales`` levels and
    one teacher ODE step with ``solver`` (``heun`` | ``euler``); training from scratch uses
    the curriculum ``scales_start`` -> ``scales_end`` (doubling over training). Pair
    indices are drawn by ``noise_sampling`` (``lognormal`` with ``p_mean``, ``p_std`` | ``uniform``).
    ``target``: ``ema`` (EMA of the student with decay ``target_ema``), ``stopgrad`` (the
    online network without gradient) or ``auto`` (``ema`` for distillation, ``stopgrad`` for
    training). ``loss``: ``pseudo_huber`` (constant ``huber_c`` per sample), ``l2``,
    ``mrstft`` or ``both`` (pseudo-Huber + ``mrstft_weight`` x multi-resolution STFT);
    ``loss_weighting``: ``inverse_delta`` (1 / (sigma_{i+1} - sigma_i)) or ``uniform``.
    ``sample_steps`` are the step counts evaluated at validation; the first is stored as
    the student's default (``sample.steps``)."""

    method: str = "none"
    guidance: Any = None
    init_from_teacher: bool = True
    val_clips: int = 4
    reference_steps: int = 0
    # progressive distillation
    teacher_steps: int = 64
    target_steps: int = 4
    weighting: Any = "snr_trunc"
    # consistency models
    sigma_min: Any = None
    sigma_max: Any = None
    sigma_data: float = 1.0
    rho: float = 7.0
    solver: str = "heun"
    num_scales: int = 18
    scales_start: int = 10
    scales_end: int = 1280
    noise_sampling: str = "lognormal"
    p_mean: float = -1.1
    p_std: float = 2.0
    target: str = "auto"
    target_ema: float = 0.95
    loss: str = "pseudo_huber"
    huber_c: float = 0.00054
    mrstft_weight: float = 1.0
    loss_weighting: str = "inverse_delta"
    sample_steps: Any = field(default_factory=lambda: [1, 2, 4])

    def __post_init__(self) -> None:
        self.weighting = _checked_weighting(self.weighting, "distill.weighting")
        choices = {
            "method": DISTILL_METHODS, "solver": ("heun", "euler"), "noise_sampling": ("lognormal", "uniform"),
            "target": ("auto", "ema", "stopgrad"), "loss": ("pseudo_huber", "l2", "mrstft", "both"),
            "loss_weighting": ("inverse_delta", "uniform"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise RecipeError(f"distill.{name} = {getattr(self, name)!r}; choose one of {list(allowed)}")
        steps = self.sample_steps
        if isinstance(steps, int) and not isinstance(steps, bool):
            steps = [steps]
        if (not isinstance(steps, (list, tuple)) or not steps
                or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in steps)):
            raise RecipeError(f"distill.sample_steps must be a list of positive integers, got {self.sample_steps!r}")
        self.sample_steps = [int(k) for k in steps]
        if self.method == "progressive":
            k = self.teacher_steps
            while k > self.target_steps and k % 2 == 0:
                k //= 2
            if self.target_steps < 1 or self.teacher_steps <= self.target_steps or k != self.target_steps:
                raise RecipeError(f"distill.teacher_steps ({self.teacher_steps}) must be distill.target_steps "
                                  f"({self.target_steps}) times a power of two (e.g. 64 and 4)")
        for name in ("sigma_min", "sigma_max", "guidance"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise RecipeError(f"distill.{name} must be a number or null, got {value!r}")
        if self.sigma_min is not None and self.sigma_max is not None and not 0 < self.sigma_min < self.sigma_max:
            raise RecipeError(f"need 0 < distill.sigma_min < distill.sigma_max, got {self.sigma_min}, {self.sigma_max}")
        positive = {"sigma_data": self.sigma_data, "rho": self.rho, "num_scales": self.num_scales - 1,
                    "scales_start": self.scales_start, "p_std": self.p_std, "val_clips": self.val_clips,
                    "huber_c": self.huber_c}
        for name, value in positive.items():
            if value <= 0:
                raise RecipeError(f"distill.{name} is out of range ({getattr(self, name)!r})")
        if self.scales_end < self.scales_start:
            raise RecipeError("distill.scales_end must be >= distill.scales_start")
        if not 0.0 <= self.target_ema < 1.0:
            raise RecipeError(f"distill.target_ema must lie in [0, 1), got {self.target_ema}")
        if self.reference_steps < 0 or self.mrstft_weight < 0:
            raise RecipeError("distill.reference_steps and distill.mrstft_weight must be >= 0")


@dataclass
class Recipe:
    name: str = "recipe"
    seed: int = 0
    mel: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["optim"]["betas"] = list(out["optim"]["betas"])
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, self.to_yaml())

    def override(self, *assignments: str, values: Mapping[str, Any] | None = None) -> Recipe:
        """A new recipe with fields changed; this one is left as it is.

        Args:
            assignments: ``"section.field=value"`` as on the command line, the value parsed
                as YAML (``"trainer.max_steps=4"``, ``"model.overrides={residual_layers: 2}"``).
            values: ``{"section.field": value}`` (or ``{"section": mapping}``, ``{"seed": 1}``)
                with Python values taken as they are (paths and other strings that YAML would
                read otherwise), applied after ``assignments``.

        The result is checked like a recipe read from a file (``RecipeError`` on an unknown
        field or a value out of range).
        """
        tree = _assign(self.to_dict(), assignments)
        for key, value in (values or {}).items():
            _set_path(tree, key, value)
        return recipe_from_dict(tree)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = getattr(annotation, "__origin__", None)
    if annotation is Any or value is None and annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise RecipeError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(annotation.__args__):
            raise RecipeError(f"{where} must be a list of {len(annotation.__args__)} numbers, got {value!r}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, annotation.__args__))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise RecipeError(f"{where or 'recipe'} must be a mapping, got {values!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise RecipeError(f"unknown field(s) {unknown} in {where or 'recipe'}; valid fields: {names}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value or {}, key)
        else:
            kwargs[name] = _coerce(value, hint, key)
    return cls(**kwargs)


def recipe_from_dict(values: dict[str, Any]) -> Recipe:
    recipe = _build(Recipe, values, "")
    validate_recipe(recipe)
    return recipe


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise RecipeError(f"cannot set {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=1e-4"`` -> ``("optim.lr", 1e-4)``; the value is parsed as YAML."""
    if "=" not in text:
        raise RecipeError(f"override {text!r} must look like section.field=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise RecipeError(f"override {text!r} has no field name")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise RecipeError(f"override {text!r}: cannot parse value: {err}") from None
    return key, _fix_numbers(value)


def _assign(tree: dict[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """``tree`` (a recipe as nested dicts) with each ``section.field=value`` set in place."""
    if isinstance(assignments, str):
        raise TypeError("assignments must be a list of 'section.field=value' strings, not one string")
    for text in assignments:
        key, value = parse_override(text)
        _set_path(tree, key, value)
    return tree


def _packaged_name(source: Path) -> str | None:
    """The packaged recipe that ``source`` names: ``demo``, ``demo.yaml``, or ``recipes/demo.yaml``
    (the path in older instructions, from when the recipes were a folder of the source tree)."""
    parts = source.parts
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == "recipes"):
        name = parts[-1].removesuffix(".yaml")
        if name in recipe_names():
            return name
    return None


def _read_recipe_yaml(source: str | Path) -> dict[str, Any]:
    """The sections of a recipe file, or of a packaged recipe when no file ``source`` exists."""
    path = Path(source)
    if path.is_file():
        text, where = path.read_text(), f"recipe {path}"
    elif (name := _packaged_name(path)) is not None:
        text, where = recipe_text(name), f"packaged recipe {name!r}"
    else:
        raise RecipeError(f"recipe {source} not found: no such file, and no packaged recipe of that name "
                          f"(packaged: {', '.join(recipe_names())}; `wavediff recipes` lists them)")
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"{where} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise RecipeError(f"{where} must be a YAML mapping of sections")
    return values


def load_recipe(source: str | Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe and apply ``section.field=value`` overrides (checked once, after all of them).

    ``source`` is a YAML file; where no such file exists, the name of a packaged recipe
    (``"demo"``; ``"demo.yaml"`` and ``"recipes/demo.yaml"`` name it too; see
    ``wavediff.recipes``); ``None`` starts from the defaults."""
    values = _read_recipe_yaml(source) if source is not None else {}
    return recipe_from_dict(_fix_numbers(_assign(values, overrides or [])))


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _fix_numbers(tree: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; recipes mean a number."""
    if isinstance(tree, dict):
        return {k: _fix_numbers(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_fix_numbers(v) for v in tree]
    if isinstance(tree, str) and _FLOAT.match(tree):
        return float(tree)
    return tree


CHOICES = {
    "model.conditioning": ("none", "class", "mel"),
    "optim.lr_schedule": ("cosine", "constant"),
    "trainer.nan_policy": ("stop", "skip"),
    "diffusion.parameterisation": ("eps", "x0", "v"),
    "diffusion.time_sampling": ("uniform", "stratified", "lognormal"),
}


def validate_recipe(recipe: Recipe) -> None:
    """Cross-field checks with messages that say what to change."""
    for dotted, allowed in CHOICES.items():
        section, name = dotted.split(".")
        value = getattr(getattr(recipe, section), name)
        if value not in allowed:
            raise RecipeError(f"{dotted} = {value!r}; choose one of {list(allowed)}")
    if recipe.model.conditioning == "mel" and recipe.mel is None:
        raise RecipeError("model.conditioning is 'mel' but the recipe has no 'mel' section "
                          "(a preset name such as 'diffwave' or a MelConfig mapping)")
    positive = {"data.sample_rate": recipe.data.sample_rate, "data.segment_samples": recipe.data.segment_samples,
                "data.batch_size": recipe.data.batch_size, "trainer.max_steps": recipe.trainer.max_steps,
                "optim.lr": recipe.optim.lr, "sample.steps": recipe.sample.steps,
                "trainer.val_every": recipe.trainer.val_every,
                "trainer.checkpoint_every": recipe.trainer.checkpoint_every,
                "trainer.log_every": recipe.trainer.log_every}
    for key, value in positive.items():
        if value <= 0:
            raise RecipeError(f"{key} must be positive, got {value}")
    if recipe.data.valid_clips < 1:
        raise RecipeError(f"data.valid_clips must be at least 1 (clips validated and sampled from), got "
                          f"{recipe.data.valid_clips}; to validate rarely, raise trainer.val_every instead")
    if recipe.optim.warmup_steps < 0:
        raise RecipeError(f"optim.warmup_steps must be >= 0 (0: no warm-up), got {recipe.optim.warmup_steps}")
    if not 0.0 <= recipe.optim.ema_decay < 1.0:
        raise RecipeError(f"optim.ema_decay must lie in [0, 1), got {recipe.optim.ema_decay}")
    if not 0.0 <= recipe.diffusion.class_dropout < 1.0:
        raise RecipeError(f"diffusion.class_dropout must lie in [0, 1), got {recipe.diffusion.class_dropout}")
    grids = grid_names()
    if recipe.sample.grid is not None and (not isinstance(recipe.sample.grid, str) or recipe.sample.grid not in grids):
        raise RecipeError(f"sample.grid = {recipe.sample.grid!r}; choose one of {grids} or null (the sampler's own)")
    try:
        DataTransform.from_config(recipe.diffusion)
    except ValueError as err:
        raise RecipeError(str(err)) from None
