"""Recipes: packaged ones are found by name (and by their old ``recipes/NAME.yaml`` path) while
a file of one's own is read as it is; ``Recipe.override`` returns a new recipe; and every
packaged recipe builds its model and dataset on a tiny fake corpus in the recipe's layout
and runs a few training steps (network shrunk, crops short; everything else as shipped)."""

import pytest
import torch

from fake_corpora import make_folder, make_ljspeech, make_maestro, make_nsynth, make_sc09, make_vctk
from wavediff.cli import main
from wavediff.recipes import recipe_names, recipe_summary, recipe_text
from wavediff.train.config import RecipeError, load_recipe
from wavediff.train.module import load_module
from wavediff.train.run import train

RECIPES = [name for name in recipe_names() if not name.endswith("-distill")]
FAKE = {
    "ljspeech": make_ljspeech, "vctk": make_vctk, "sc09": make_sc09, "maestro": make_maestro,
    "nsynth": make_nsynth, "folder": lambda root: make_folder(root, per_label=6),
}
SHRINK = ["data.batch_size=2", "data.num_workers=0", "data.valid_clips=1", "trainer.max_steps=2",
          "trainer.val_every=2", "trainer.checkpoint_every=2", "sample.steps=2"]


SMALL_NET = {  # set field by field: a recipe's other overrides (its prior, say) stay as shipped
    False: [f"model.overrides.{k}={v}" for k, v in dict(residual_layers=2, residual_channels=8, dilation_cycle=2,
                                                        embedding_dim=16, mlp_dim=32).items()],
    True: [f"model.overrides.{k}={v}" for k, v in dict(channels=16, blocks=1, kernel_size=3, expansion=1,
                                                       embedding_dim=16, mlp_dim=16, magnitude_channels=16,
                                                       magnitude_blocks=1, frequency_channels=4).items()],
}


def test_every_documented_recipe_exists():
    assert set(RECIPES) >= {"demo", "ljspeech-vocoder", "vctk-vocoder", "sc09-uncond", "maestro-uncond",
                            "nsynth-pitch", "soundfont-notes", "espeak-vocoder", "demo-vocoder",
                            "tiny-vocoder"}
    for name in recipe_names():  # `wavediff recipes` shows each one's title line
        assert recipe_text(name).startswith(f"# {recipe_summary(name)}\n#\n") and len(recipe_summary(name)) < 90, name


def test_a_packaged_recipe_is_named_and_a_file_is_read_as_it_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    packaged = load_recipe("demo").to_dict()
    assert load_recipe("demo.yaml").to_dict() == packaged
    assert load_recipe("recipes/demo.yaml").to_dict() == packaged  # where the recipes were in the source tree
    # a file of one's own, started from the packaged text, wins over the packaged recipe of its name
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "demo.yaml").write_text(recipe_text("demo").replace("name: demo\n", "name: mine\n"))
    assert load_recipe("recipes/demo.yaml").name == "mine" and load_recipe("demo").name == "demo"
    with pytest.raises(RecipeError, match="no packaged recipe of that name.*tiny-vocoder"):
        load_recipe("demo-vocodr")
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "elsewhere" / "demo.yaml")  # a path elsewhere is a path, never a name


def test_override_returns_a_new_checked_recipe():
    recipe = load_recipe("demo")
    small = recipe.override("trainer.max_steps=4", "model.overrides={residual_layers: 2}", "optim.lr=1e-4",
                            values={"data.root": "runs/a: b # c"})
    assert (small.trainer.max_steps, small.model.overrides, small.optim.lr) == (4, {"residual_layers": 2}, 1e-4)
    assert small.data.root == "runs/a: b # c"  # values are taken as they are, never parsed as YAML
    assert recipe.trainer.max_steps == 1500 and recipe.data.root == "data/demo"  # the original is unchanged
    assert load_recipe("demo", ["trainer.max_steps=4"]).to_dict() == recipe.override("trainer.max_steps=4").to_dict()
    sections = recipe.override(values={"seed": 3, "sample": {"steps": 2}})  # a whole section replaces it
    assert sections.seed == 3 and sections.sample.steps == 2 and sections.sample.method == "dpmpp_2m"
    with pytest.raises(RecipeError, match="unknown field"):
        recipe.override("optim.learning_rate=1")
    with pytest.raises(RecipeError, match="must be positive"):
        recipe.override(values={"trainer.max_steps": 0})
    with pytest.raises(TypeError, match="not one string"):
        load_recipe("demo", "trainer.max_steps=4")


def test_a_recipe_with_the_former_weighting_name_warns_and_stores_the_new_one():
    with pytest.warns(FutureWarning, match="'snr' is now called 'x0'"):
        recipe = load_recipe("demo", ["diffusion.weighting=snr"])
    assert recipe.diffusion.weighting == "x0" and recipe.to_dict()["diffusion"]["weighting"] == "x0"
    with pytest.raises(RecipeError, match="distill.weighting: unknown weighting 'snr\\+1'"):
        load_recipe("demo-distill", ["distill.weighting=snr+1"])


def test_recipes_command_lists_and_prints(capsys):
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == recipe_names()
    assert main(["recipes", "demo-vocoder"]) == 0
    assert capsys.readouterr().out == recipe_text("demo-vocoder")
    assert main(["recipes", "nope"]) == 2
    assert "no packaged recipe 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_on_a_fake_corpus(name, tmp_path):
    shipped = load_recipe(name)
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
    recipe = load_recipe(name, SMALL_NET[shipped.model.preset == "spectral"] + SHRINK + extra)
    last = train(recipe, tmp_path / "run", progress=False)
    module = load_module(last)
    assert module.recipe.name == shipped.name
    assert module.net.config.mel_bins == (80 if shipped.mel is not None else None)
    assert (module.net.config.num_classes is not None) == (shipped.model.conditioning == "class")
    if shipped.mel is not None:
        assert module.mel_config.hop_length == 256 and (tmp_path / "mel-cache").exists() == bool(shipped.data.mel_cache)
    shrunk = {a.split("=")[0].split(".")[-1] for a in SMALL_NET[shipped.model.preset == "spectral"]}
    for key, value in shipped.model.overrides.items():  # the recipe's own network settings were kept
        assert key in shrunk or getattr(module.net.config, key) == value, key
    if getattr(module.net.config, "prior", None) == "corpus":  # fitted from the corpus, in the EMA copy too
        power = module.ema.model.corpus_power
        assert not torch.equal(power, torch.ones_like(power)) and torch.equal(power, module.net.corpus_power)
        ema = dict(module.ema.model.named_buffers())
        for name, buffer in module.net.named_buffers():  # a mixture's weights too
            assert not name.startswith("corpus_") or torch.equal(ema[name], buffer), name
    assert list((tmp_path / "run" / "samples").glob("step_*/*.wav"))
    assert list((tmp_path / "run" / "samples").glob("step_*/*.png"))


@pytest.mark.parametrize("name", ["ljspeech-vocoder-hifigan", "vctk-vocoder-hifigan"])
def test_hifigan_recipes_take_hifigan_mels_as_they_are(name):
    """The TTS-ready recipes use HiFi-GAN's mel: a mel computed the HiFi-GAN way (written out
    here with librosa's Slaney filter bank) is accepted by their vocoder unchanged."""
    import librosa
    import numpy as np
    import torch

    from wavediff.audio.mel import LogMel, MelConfig
    from wavediff.train.run import build_module, resolve_mel
    from wavediff.vocoder import Vocoder

    recipe = load_recipe(name)
    base = load_recipe(name.removesuffix("-hifigan"))
    cfg = resolve_mel(recipe)
    assert cfg == MelConfig.preset("hifigan")
    assert (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.fmin, cfg.fmax) == (22050, 1024, 256, 80, 0.0, 8000.0)
    assert (cfg.mel_scale, cfg.mel_norm, cfg.log, cfg.log_floor) == ("slaney", "slaney", "ln", 1e-5)
    # the same run as the DiffWave-mel recipe otherwise
    for section in ("data", "model", "diffusion", "optim", "trainer", "sample"):
        mine, theirs = recipe.to_dict()[section], base.to_dict()[section]
        if section == "data":
            mine, theirs = {**mine, "mel_cache": None}, {**theirs, "mel_cache": None}
        assert mine == theirs, section

    audio = 0.3 * torch.randn(1, 22050, generator=torch.Generator().manual_seed(0))
    pad = (1024 - 256) // 2
    padded = torch.nn.functional.pad(audio[None], (pad, pad), mode="reflect")[0]
    spec = torch.stft(padded, 1024, 256, 1024, torch.hann_window(1024), center=False, return_complex=True).abs()
    fbank = torch.from_numpy(librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)).float()
    tts_mel = torch.log(torch.clamp(fbank @ spec, min=1e-5))  # (1, 80, frames)
    assert tts_mel.shape[-1] == 22050 // 256
    torch.testing.assert_close(LogMel(cfg)(audio), tts_mel, rtol=1e-4, atol=1e-4)
    voc = Vocoder(build_module(recipe, 22050, cfg, None, None).eval())
    assert torch.equal(voc.prepare_mel(tts_mel), tts_mel)  # no conversion, nothing refused
