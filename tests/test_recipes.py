"""Every recipe builds its model and dataset on a tiny fake corpus in the recipe's layout and
runs a few training steps (network shrunk, crops short; everything else as shipped)."""

from pathlib import Path

import pytest

from fake_corpora import make_folder, make_ljspeech, make_maestro, make_nsynth, make_sc09, make_vctk
from wavediff.train.config import load_recipe
from wavediff.train.module import load_module
from wavediff.train.run import train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml") if not p.stem.endswith("-distill"))
FAKE = {
    "ljspeech": make_ljspeech, "vctk": make_vctk, "sc09": make_sc09, "maestro": make_maestro,
    "nsynth": make_nsynth, "folder": lambda root: make_folder(root, per_label=6),
}
SHRINK = ["model.overrides={residual_layers: 2, residual_channels: 8, dilation_cycle: 2, embedding_dim: 16, mlp_dim: 32}",
          "data.batch_size=2", "data.num_workers=0", "data.valid_clips=1", "trainer.max_steps=2",
          "trainer.val_every=2", "trainer.checkpoint_every=2", "sample.steps=2"]


def test_every_documented_recipe_exists():
    assert set(RECIPES) >= {"demo", "ljspeech-vocoder", "vctk-vocoder", "sc09-uncond", "maestro-uncond",
                            "nsynth-pitch", "soundfont-notes", "espeak-vocoder"}


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_on_a_fake_corpus(name, tmp_path):
    shipped = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    corpus_root = tmp_path / "corpus"
    extra = [f"data.root={corpus_root}"]
    if shipped.data.corpus == "demo":
        extra.append("data.options={clips_per_class: 2, clip_seconds: 0.25}")
    else:
        FAKE[shipped.data.corpus](corpus_root)
    if shipped.data.mel_cache:
        extra.append(f"data.mel_cache={tmp_path / 'mel-cache'}")
    # short crops: a few mel frames for vocoders, a quarter second otherwise
    hop = 256 if shipped.mel is not None else 1
    extra.append(f"data.segment_samples={4 * hop if hop > 1 else 1024}")
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", SHRINK + extra)
    last = train(recipe, tmp_path / "run", progress=False)
    module = load_module(last)
    assert module.recipe.name == shipped.name
    assert module.net.config.mel_bins == (80 if shipped.mel is not None else None)
    assert (module.net.config.num_classes is not None) == (shipped.model.conditioning == "class")
    if shipped.mel is not None:
        assert module.mel_config.hop_length == 256 and (tmp_path / "mel-cache").exists() == bool(shipped.data.mel_cache)
    assert list((tmp_path / "run" / "samples").glob("step_*/*.wav"))
    assert list((tmp_path / "run" / "samples").glob("step_*/*.png"))
