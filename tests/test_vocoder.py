"""Vocoding end to end: a tiny vocoder trained on the demo corpus, every input kind, refusal
of mismatched mels, exact chunking, grid tuning, and the command line."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from wavediff.audio.io import load_audio, save_audio
from wavediff.audio.mel import MelConfig, MelConfigMismatch
from wavediff.audio.metrics import mrstft_distance
from wavediff.train.config import load_recipe
from wavediff.train.run import build_data, build_module, resolve_mel, train
from wavediff.vocoder import Vocoder, positional_noise

STEPS = 300


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vocoder")
    recipe = load_recipe("tiny-vocoder", [
        f"data.root={tmp / 'demo'}", "data.options={clips_per_class: 6}", "data.segment_samples=2048",
        f"trainer.max_steps={STEPS}", f"trainer.val_every={STEPS}", f"trainer.checkpoint_every={STEPS}"])
    last = train(recipe, tmp / "run", progress=False)
    data = build_data(recipe, resolve_mel(recipe))
    clips = [data.valid.get(i).audio[None] for i in range(min(3, len(data.valid)))]
    untrained = build_module(recipe, 16000, resolve_mel(recipe), None, None).eval()
    return {"ckpt": last, "clips": clips, "untrained": untrained, "tmp": tmp, "recipe": recipe}


def _copy_synthesis(voc, clips, steps, method="dpmpp_2m"):
    """Mean multi-resolution STFT distance of copy-synthesis (energy-weighted: the demo
    corpus has digital silence, where a log-mel L1 would only measure the noise floor)."""
    scores = []
    for ref in clips:
        out, _ = voc.vocode(voc.mel(ref), steps, method)
        scores.append(float(mrstft_distance(out, ref[None])))
    return float(np.mean(scores))


def test_trained_vocoder_beats_random_init_and_more_steps_do_not_hurt(trained):
    voc = Vocoder.from_checkpoint(trained["ckpt"])
    rand = Vocoder(trained["untrained"])
    good = {k: _copy_synthesis(voc, trained["clips"], k) for k in (2, 6, 12)}
    bad = _copy_synthesis(rand, trained["clips"], 6)
    print(f"copy-synthesis MR-STFT distance: untrained {bad:.3f}; trained {good}")
    assert good[6] < 0.7 * bad
    assert good[12] <= good[6] * 1.1 and good[6] <= good[2] * 1.1


def test_every_input_kind(trained, tmp_path):
    voc = Vocoder.from_checkpoint(trained["ckpt"])
    ref = trained["clips"][0][0]
    wav = tmp_path / "in.wav"
    save_audio(wav, ref, 16000)
    audio, sr = voc.vocode_file(wav, steps=2)
    assert sr == 16000 and audio.shape == (1, ref.shape[-1])
    mel = voc.mel(ref)
    np.save(tmp_path / "mel.npy", mel.numpy())
    from_npy, _ = voc.vocode_file(tmp_path / "mel.npy", steps=2)
    torch.save({"mel": mel, "mel_config": voc.mel_config.to_dict()}, tmp_path / "mel.pt")
    from_pt, _ = voc.vocode_file(tmp_path / "mel.pt", steps=2)
    torch.save(mel, tmp_path / "bare.pt")
    from_bare, _ = voc.vocode_file(tmp_path / "bare.pt", steps=2)
    assert torch.equal(from_npy, from_pt) and torch.equal(from_pt, from_bare)
    assert from_npy.shape == (1, mel.shape[-1] * 256)
    # same seed, same mel: the copy-synthesis path gives the same audio
    # (away from the end, where the file path pads to cover the last partial hop)
    n = from_npy.shape[-1] - 4 * 256
    assert torch.allclose(from_npy[..., :n], audio[..., :n], atol=1e-5)


def test_mismatched_mels_are_refused_with_what_differs(trained, tmp_path):
    voc = Vocoder.from_checkpoint(trained["ckpt"])
    mel = voc.mel(trained["clips"][0][0])
    with pytest.raises(MelConfigMismatch, match="n_mels=80"):
        voc.vocode(mel[:40], 2)
    with pytest.raises(MelConfigMismatch, match="transpose"):
        voc.vocode(mel.T, 2)
    other = MelConfig.preset("hifigan", sample_rate=16000, hop_length=200)
    torch.save({"mel": mel, "mel_config": other.to_dict()}, tmp_path / "other.pt")
    with pytest.raises(MelConfigMismatch, match="hop_length"):
        voc.vocode_file(tmp_path / "other.pt", steps=2)
    with pytest.raises(ValueError, match="NaN"):
        voc.vocode(torch.full_like(mel, float("nan")), 2)
    with pytest.raises(ValueError, match="unsupported input"):
        voc.vocode_file(tmp_path / "x.mp4", steps=2)


def test_mel_conventions_convert(trained, tmp_path):
    """A DiffWave-normalised log10 mel of the same STFT converts to the checkpoint's convention."""
    from wavediff.audio.mel import convert_log_mel
    from wavediff.vocoder import convention_config

    voc = Vocoder.from_checkpoint(trained["ckpt"])
    mel = voc.mel(trained["clips"][0][0])
    as_diffwave = convert_log_mel(mel, voc.mel_config, convention_config("diffwave", voc.mel_config))
    assert float(as_diffwave.min()) >= 0 and float(as_diffwave.max()) <= 1
    back = voc.prepare_mel(as_diffwave, convention="diffwave")
    keep = mel > -6.0  # above the diffwave -100 dB clamp (after its STFT normalisation)
    assert torch.allclose(back[0][keep], mel[keep], atol=1e-4)


def test_not_a_vocoder_is_refused(trained):
    with pytest.raises(ValueError, match="not a vocoder"):
        Vocoder(build_module(load_recipe("demo"), 16000, None, ["a", "b"], None))


def test_positional_noise_is_window_independent():
    full = positional_noise(7, 0, 0, 20000)
    assert torch.equal(positional_noise(7, 0, 5000, 13000), full[5000:13000])
    assert not torch.equal(positional_noise(7, 1, 0, 100), full[:100])
    assert abs(float(full.std()) - 1) < 0.02


@pytest.mark.parametrize("method", ["ddim", "heun", "dpmpp_2m", "euler"])
def test_chunked_vocoding_matches_unchunked(trained, method):
    voc = Vocoder.from_checkpoint(trained["ckpt"])
    mel = torch.cat([voc.mel(c[0]) for c in trained["clips"]], dim=-1)  # a few seconds
    whole, _ = voc.vocode(mel, 4, method)
    chunked, _ = voc.vocode(mel, 4, method, chunk_frames=16)
    # float32 precision: Heun's correction combines terms of the size of sigma_max (~1800 for
    # logsnr_min = -15), so its rounding shows at ~1e-4; first-order steps stay near 1e-6
    tol = 1e-3 if method == "heun" else 1e-5
    assert torch.allclose(whole, chunked, atol=tol), float((whole - chunked).abs().max())
    # without context the chunk edges are wrong: the test above can fail
    no_context, _ = voc.vocode(mel, 4, method, chunk_frames=16, overlap_frames=0)
    assert float((whole - no_context).abs().max()) > 10 * tol


def test_tune_schedule_and_vocode_cli(trained, tmp_path):
    ckpt = trained["ckpt"]
    held_out = tmp_path / "held"
    for i, clip in enumerate(trained["clips"][:2]):
        save_audio(held_out / f"{i}.wav", clip[0], 16000)
    cli = [sys.executable, "-m", "wavediff.cli"]
    tuned = tmp_path / "tuned.ckpt"
    run = subprocess.run(cli + ["tune-schedule", str(ckpt), "--data", str(held_out), "--steps", "2", "--clips", "2",
                                "--seconds", "0.5", "--candidates", "3", "--out", str(tuned)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "tuned ddim grid (2 steps)" in run.stdout
    meta = torch.load(tuned, map_location="cpu", weights_only=True)["wavediff"]["tuned_grids"]
    assert len(meta["ddim:2"]) == 2
    assert Vocoder.from_checkpoint(tuned).tuned_grids["ddim:2"] == meta["ddim:2"]
    out = tmp_path / "one.wav"
    run = subprocess.run(cli + ["vocode", str(tuned), str(held_out / "0.wav"), "--steps", "2", "--method", "ddim",
                                "--grid", "tuned", "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    audio, sr = load_audio(out)
    assert sr == 16000 and audio.shape[-1] == trained["clips"][0].shape[-1]
    run = subprocess.run(cli + ["vocode", str(ckpt), str(held_out), "--steps", "2", "--out", str(tmp_path / "many")],
                         capture_output=True, text=True)
    assert run.returncode == 0 and sorted(p.name for p in (tmp_path / "many").glob("*.wav")) == ["0.wav", "1.wav"]
    bad = subprocess.run(cli + ["vocode", str(ckpt), str(tmp_path / "missing.wav")], capture_output=True, text=True)
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_public_import():
    from wavediff import Vocoder as V

    assert V is Vocoder
