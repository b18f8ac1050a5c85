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
SHRINK = ["data.batch_size=2", "data.num_workers=0", "data.valid_clips=1", "trainer.max_steps=2",
          "trainer.val_every=2", "trainer.checkpoint_every=2", "sample.steps=2"]


SMALL_NET = {
    False: "model.overrides={residual_layers: 2, residual_channels: 8, dilation_cycle: 2, embedding_dim: 16, mlp_dim: 32}",
    True: "model.overrides={channels: 16, blocks: 1, kernel_size: 3, expansion: 1, embedding_dim: 16, mlp_dim: 16}",
}


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
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", [SMALL_NET[shipped.model.preset == "spectral"]] + SHRINK + extra)
    last = train(recipe, tmp_path / "run", progress=False)
    module = load_module(last)
    assert module.recipe.name == shipped.name
    assert module.net.config.mel_bins == (80 if shipped.mel is not None else None)
    assert (module.net.config.num_classes is not None) == (shipped.model.conditioning == "class")
    if shipped.mel is not None:
        assert module.mel_config.hop_length == 256 and (tmp_path / "mel-cache").exists() == bool(shipped.data.mel_cache)
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

    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    base = load_recipe(ROOT / "recipes" / f"{name.removesuffix('-hifigan')}.yaml")
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
