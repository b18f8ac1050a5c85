"""MP3 and AIFF wherever audio is read: load_audio, the folder corpus, the training store and
vocoding agree on one list of extensions (``READ_FORMATS``) and give the same clear errors."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavediff.audio import io as audio_io
from wavediff.audio.io import READ_FORMATS, AudioError, audio_info, load_audio
from wavediff.data.corpora import AUDIO_EXTENSIONS, index_corpus
from wavediff.data.datasets import ClipStore, check_items

SR = 16000
# (extension, libsndfile format, subtype, peak error allowed): MP3 is lossy
FORMATS = [(".mp3", "MP3", "MPEG_LAYER_III", 0.05), (".aif", "AIFF", "PCM_16", 1e-4),
           (".aiff", "AIFF", "PCM_24", 1e-6)]


def _tone(f0=440.0, seconds=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def _write(path: Path, fmt: str, subtype: str, x: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, SR, format=fmt, subtype=subtype)
    return path


def test_one_list_of_extensions():
    assert set(AUDIO_EXTENSIONS) == set(READ_FORMATS)
    assert {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"} == set(READ_FORMATS)


@pytest.mark.parametrize("ext, fmt, subtype, tol", FORMATS)
def test_reads_mp3_and_aiff(tmp_path, ext, fmt, subtype, tol):
    x = _tone()
    path = _write(tmp_path / f"clip{ext.upper()}", fmt, subtype, x)  # extensions are case-insensitive
    audio, sr = load_audio(path)
    assert sr == SR and audio.shape == (1, x.size) and audio.dtype == torch.float32
    assert audio_info(path) == (SR, x.size, 1)
    err = (audio[0].numpy() - x)[1000:-1000]  # MP3's encoder ramps the very edges
    assert np.abs(err).max() < tol
    resampled, sr = load_audio(path, 22050)
    assert sr == 22050 and abs(resampled.shape[-1] - x.size * 22050 / SR) <= 1


@pytest.mark.parametrize("ext", [".mp3", ".aiff"])
def test_corrupt_and_empty_mp3_aiff_are_named(tmp_path, ext):
    bad = tmp_path / f"broken{ext}"
    bad.write_bytes(b"\x00\x01junk" * 40)
    with pytest.raises(AudioError, match=rf"broken{ext}: unreadable or corrupt.*re-export"):
        load_audio(bad)
    empty = tmp_path / f"empty{ext}"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty \(0 bytes\)"):
        load_audio(empty)


def test_a_libsndfile_without_mp3_is_named_not_called_corrupt(tmp_path, monkeypatch):
    path = _write(tmp_path / "take.mp3", "MP3", "MPEG_LAYER_III", _tone())
    monkeypatch.setattr(audio_io, "_decodable", lambda container: container != "MP3")
    with pytest.raises(AudioError, match=r"take.mp3: this libsndfile .* cannot decode MP3.*pip install -U soundfile"):
        load_audio(path)


def test_folder_corpus_trains_on_mp3_and_aiff_without_skipping(tmp_path):
    root = tmp_path / "samples"
    for i, (ext, fmt, subtype, _) in enumerate(FORMATS):
        _write(root / "kick" / f"k{i}{ext}", fmt, subtype, _tone(100.0 + i))
        _write(root / "snare" / f"s{i}{ext}", fmt, subtype, _tone(300.0 + i))
    (root / "notes.txt").write_text("not audio")
    index = index_corpus("folder", root, labels="subfolder", split_file=None)
    assert len(index.items) == 6 and list(index.labels) == ["kick", "snare"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing listed is skipped as unsupported
        items = check_items(index.items, "samples")
        store = ClipStore(items, SR)
        store.preload("samples")
    assert len(store) == 6


def test_vocoder_reads_mp3_and_aiff(tmp_path):
    from wavediff.train.config import load_recipe
    from wavediff.train.run import build_module, resolve_mel
    from wavediff.vocoder import Vocoder

    recipe = load_recipe("tiny-vocoder", [])
    voc = Vocoder(build_module(recipe, 16000, resolve_mel(recipe), None, None).eval())
    x = _tone(seconds=0.2)
    wav = tmp_path / "x.wav"
    sf.write(str(wav), x, SR)
    for ext, fmt, subtype, _ in FORMATS:
        path = _write(tmp_path / f"x{ext}", fmt, subtype, x)
        mel, audio = voc.load_input(path)
        assert audio.shape == (1, x.size) and mel.shape[1] == voc.mel_config.n_mels
        out, sr = voc.vocode_file(path, steps=1)
        assert sr == SR and out.shape == (1, x.size)
    with pytest.raises(ValueError, match=r"unsupported input.*\.aif, \.aiff, \.flac, \.mp3, \.ogg, \.wav"):
        voc.load_input(tmp_path / "x.m4a")
