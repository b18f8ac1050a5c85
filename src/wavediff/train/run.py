"""``wavediff train``: from a recipe to a trained, resumable checkpoint.

Output folder layout::

    OUT/recipe.yaml              the resolved recipe (after overrides)
    OUT/split.json               the corpus split used (item ids per split)
    OUT/checkpoints/last.ckpt    the latest checkpoint (atomic writes), plus step*.ckpt
    OUT/samples/step_XXXXXXX/    audio generated at each validation
    OUT/logs/                    TensorBoard (when installed) or CSV metrics
    OUT/.wavediff.lock           held (flock) by the run writing to the folder
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from ..audio.data_transform import DataTransform
from ..audio.mel import nominal_range
from ..audio.mel_config import MelConfig
from ..data.datasets import ClipDataset, ClipStore, SegmentDataset, StepSampler, check_items, collate_clips
from ..checkpoint_io import load_checkpoint
from ..nn import PRESETS, SpectralConfig, build_denoiser
from .config import Recipe, RecipeError, write_text_atomic
from .corpus_prior import PRIOR_SEGMENTS, fit_corpus_prior
from .module import DiffusionModule
from .run_folder import check_fresh_or_resumed, run_folder_lock
from .trainer import fit, make_trainer


def resolve_mel(recipe: Recipe) -> MelConfig | None:
    """The recipe's ``mel`` entry: a preset name, ``{preset: name, field: value...}`` or a full
    MelConfig mapping; its sample rate must be the data's."""
    spec = recipe.mel
    if spec is None:
        return None
    if isinstance(spec, str):
        mel = MelConfig.preset(spec, sample_rate=recipe.data.sample_rate)
    elif isinstance(spec, dict) and "preset" in spec:
        rest = {k: v for k, v in spec.items() if k != "preset"}
        rest.setdefault("sample_rate", recipe.data.sample_rate)
        mel = MelConfig.preset(spec["preset"], **rest)
    elif isinstance(spec, dict):
        mel = MelConfig.from_dict(spec)
    else:
        raise RecipeError(f"mel must be a preset name or a mapping, got {spec!r}")
    if mel.sample_rate != recipe.data.sample_rate:
        raise RecipeError(f"mel.sample_rate is {mel.sample_rate} Hz but data.sample_rate is "
                          f"{recipe.data.sample_rate} Hz; make them equal")
    return mel


def index_from_recipe(recipe: Recipe):
    """The corpus index named by the recipe (the demo corpus is written on first use)."""
    from ..data.corpora import index_corpus

    data = recipe.data
    options = dict(data.options)
    if data.corpus == "demo":
        from ..data.demo import DemoCorpusConfig, write_demo_corpus

        root = Path(data.root)
        if not (root / "corpus.json").is_file():
            cfg = DemoCorpusConfig(sample_rate=data.sample_rate, **options)
            print(f"writing the demo corpus to {root} ...")
            write_demo_corpus(root, cfg)
        return index_corpus("folder", root, labels="subfolder")
    return index_corpus(data.corpus, data.root, **options)


@dataclass
class RunData:
    train: ClipStore
    valid: ClipStore
    labels: list[str] | None
    split: dict[str, list[str]]


def build_data(recipe: Recipe, mel: MelConfig | None) -> RunData:
    index = index_from_recipe(recipe)
    train_items = check_items(index.split("train"), f"{index.name} train split")
    valid_items = index.split("valid") or index.split("test") or train_items
    valid_items = check_items(valid_items[: recipe.data.valid_clips], f"{index.name} valid split")
    labels = list(index.labels) if recipe.model.conditioning == "class" else None
    if recipe.model.conditioning == "class" and not labels:
        raise RecipeError(f"model.conditioning is 'class' but corpus {index.name!r} at {index.root} has no labels")
    d = recipe.data
    store = ClipStore(train_items, d.sample_rate, mel, in_memory=d.in_memory, mel_cache_dir=d.mel_cache,
                      min_samples=d.segment_samples)
    valid = ClipStore(valid_items, d.sample_rate, mel, mel_cache_dir=d.mel_cache, min_samples=d.segment_samples)
    store.preload(f"{index.name} train split")
    valid.preload(f"{index.name} valid split")
    return RunData(store, valid, labels, {k: list(v) for k, v in index.splits.items()})


class WaveDataModule(L.LightningDataModule):
    def __init__(self, recipe: Recipe, data: RunData) -> None:
        super().__init__()
        self.recipe, self.data = recipe, data

    def _start_step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        r = self.recipe
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        length = (r.trainer.max_steps * world + world) * r.data.batch_size
        dataset = SegmentDataset(self.data.train, r.data.segment_samples, length, seed=r.seed)
        sampler = StepSampler(r.data.batch_size, r.trainer.max_steps, self._start_step, rank, world)
        return DataLoader(dataset, batch_size=r.data.batch_size, sampler=sampler, num_workers=r.data.num_workers,
                          collate_fn=collate_clips, persistent_workers=r.data.num_workers > 0, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        max_samples = 4 * self.recipe.data.segment_samples
        return DataLoader(ClipDataset(self.data.valid, max_samples), batch_size=1, collate_fn=collate_clips)


def describe_network(preset: str, net: Any, sample_rate: int) -> str:
    """One line: the preset, its size and cost, and its receptive field in samples and ms."""
    rf = net.receptive_field
    return (f"network {preset} ({type(net).__name__}): {net.num_parameters() / 1e6:.2f}M parameters, "
            f"{net.macs_per_sample() / 1e3:.1f}k multiply-accumulates per sample, receptive field {rf} samples "
            f"({1000 * rf / sample_rate:.1f} ms)")


def build_module(recipe: Recipe, sample_rate: int, mel: MelConfig | None, labels: list[str] | None,
                 split: dict[str, list[str]] | None) -> DiffusionModule:
    overrides = dict(recipe.model.overrides)
    if mel is not None:
        lo, hi = nominal_range(mel)
        overrides.setdefault("mel_offset", (lo + hi) / 2)
        overrides.setdefault("mel_scale", (hi - lo) / 2)
    if isinstance(PRESETS.get(recipe.model.preset), SpectralConfig):
        # the spectral network predicts x0 itself and returns the recipe's parameterisation;
        # its Wiener prior needs the mel's filter bank and the audio -> x_0 map
        transform = DataTransform.from_config(recipe.diffusion)
        overrides.setdefault("parameterisation", recipe.diffusion.parameterisation)
        overrides.setdefault("data_scale", transform.data_scale)
        overrides.setdefault("pre_emphasis", transform.pre_emphasis)
        if mel is not None:
            overrides.setdefault("mel_config", mel.to_dict())
        if overrides.get("prior") == "corpus":
            # one prior frame per frame of a training segment (the network's centred STFT)
            hop = overrides.get("stft_hop", PRESETS[recipe.model.preset].stft_hop)
            overrides.setdefault("prior_frames", recipe.data.segment_samples // hop + 1)
    net = build_denoiser(recipe.model.preset, mel_bins=mel.n_mels if mel else None,
                         hop=mel.hop_length if mel else 256,
                         num_classes=len(labels) if labels else None, **overrides)
    return DiffusionModule(recipe.to_dict(), net.config.to_dict(), sample_rate,
                           mel.to_dict() if mel else None, labels, split)


def train(recipe: Recipe, out: str | Path, resume: str | Path | None = None,
          progress: bool = True, extra_callbacks: list[L.Callback] | None = None,
          init_from: str | Path | None = None) -> Path:
    """Train (or resume) a model; returns the path of the last checkpoint.

    The run folder belongs to this run while it trains (a lock; see ``run_folder``); a
    folder that already holds a run needs ``resume``. Nothing in it is written before the
    recipe, the data and the ``resume`` checkpoint are known to fit together.

    ``resume``: continue that checkpoint's run exactly. ``init_from``: a new run whose network
    and EMA start from that checkpoint's weights (same network required), with a fresh
    optimiser, LR schedule and step counter (fine-tuning; see ``train/init_from.py``)."""
    if resume is not None and init_from is not None:
        raise ValueError("--resume continues a run and --init-from starts a new one from its weights; "
                         "give one of them")
    out = Path(out)
    resume = Path(resume) if resume is not None else None
    check_fresh_or_resumed(out, resume)
    resume_ckpt = load_resume_checkpoint(resume) if resume is not None else None
    with run_folder_lock(out):
        return _train_locked(recipe, out, resume, resume_ckpt, progress, extra_callbacks, init_from)


def load_resume_checkpoint(resume: Path) -> dict:
    """The ``--resume`` checkpoint, loaded safely and checked to be a full training state."""
    ckpt = load_checkpoint(resume, "--resume checkpoint")
    if ckpt.get("exported"):
        raise RecipeError(f"--resume {resume} is an exported model (weights only); resume from the run's "
                          "checkpoints/last.ckpt")
    missing = [k for k in ("wavediff", "hyper_parameters", "state_dict", "optimizer_states", "loops") if k not in ckpt]
    if missing:
        raise RecipeError(f"--resume {resume} is not a wavediff training checkpoint (no {', '.join(missing)}); "
                          "pass a run's checkpoints/last.ckpt")
    return ckpt


def check_resume_matches(resume: Path, ckpt: dict, module: DiffusionModule) -> None:
    """Refuse a ``--resume`` checkpoint trained with another network, diffusion, mel features
    or labels than the recipe builds now (it would fail half-way, or silently mix runs)."""
    hp = ckpt["hyper_parameters"]
    mine = module.hparams
    theirs_recipe = hp.get("recipe") or {}
    for section in ("model", "diffusion", "mel"):
        if theirs_recipe.get(section) != mine["recipe"].get(section):
            raise RecipeError(f"--resume {resume} was trained with another '{section}' section than this recipe "
                              f"({theirs_recipe.get(section)!r} vs {mine['recipe'].get(section)!r}); resume with the "
                              "run's own recipe.yaml")
    for key in ("model_config", "sample_rate", "labels"):
        if hp.get(key) != mine[key]:
            raise RecipeError(f"--resume {resume} has another {key} than this recipe and corpus "
                              f"({hp.get(key)!r} vs {mine[key]!r}); resume with the run's own recipe and data")


def _train_locked(recipe: Recipe, out: Path, resume: Path | None, resume_ckpt: dict | None, progress: bool,
                  extra_callbacks: list[L.Callback] | None, init_from: str | Path | None = None) -> Path:
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    mel = resolve_mel(recipe)
    data = build_data(recipe, mel)
    module = build_module(recipe, recipe.data.sample_rate, mel, data.labels, data.split)
    print(describe_network(recipe.model.preset, module.net, recipe.data.sample_rate))
    if resume_ckpt is not None:
        check_resume_matches(resume, resume_ckpt, module)
        del resume_ckpt  # Lightning loads it again (through AtomicCheckpointIO: safely)
    if init_from is not None:
        from .init_from import init_from_checkpoint

        init_from_checkpoint(module, init_from)
        print(f"network and EMA weights initialised from {init_from}")
    if resume is None and fit_corpus_prior(module, data.train, recipe.data.segment_samples, recipe.seed):
        # a data statistic, so refitted on this run's corpus after --init-from; --resume keeps the stored one
        components = module.net.config.prior_components
        shape = f"a mixture of {components} (k-means)" if components > 1 else "the mean power"
        print(f"corpus prior: {shape} of {PRIOR_SEGMENTS} training segments per class, in every bin and frame")
    recipe.save(out / "recipe.yaml")
    write_text_atomic(out / "split.json", json.dumps(data.split, indent=1))

    trainer, ckpt, throughput = make_trainer(recipe, out, progress, extra_callbacks)
    start = time.perf_counter()
    fit(trainer, module, WaveDataModule(recipe, data), resume)
    elapsed = time.perf_counter() - start
    last = Path(ckpt.last_model_path) if ckpt.last_model_path else out / "checkpoints" / "last.ckpt"
    if trainer.is_global_zero:
        rate = throughput.total_samples / max(throughput.total_seconds, 1e-9)
        print(f"training finished: step {trainer.global_step} in {elapsed:.1f} s "
              f"({rate:,.0f} audio samples/s); checkpoint: {last}")
    return last
