"""Training segments, mel alignment, the step-indexed sampler, and bad files in a corpus."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavediff.audio.io import AudioError
from wavediff.audio.mel import LogMel, MelConfig
from wavediff.data.corpora import index_corpus
from wavediff.data.datasets import ClipDataset, ClipStore, SegmentDataset, StepSampler, check_items

SR = 16000


def _corpus(root: Path, n=4, seconds=0.5):
    t = np.arange(int(seconds * SR)) / SR
    for label, f0 in (("low", 220.0), ("high", 880.0)):
        for i in range(n):
            path = root / label / f"{label}_{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, (0.5 * np.sin(2 * np.pi * f0 * (1 + 0.01 * i) * t)).astype(np.float32), SR)
    return index_corpus("folder", root, labels="subfolder", split_file=None)


def test_segments_are_deterministic_and_labelled(tmp_path):
    index = _corpus(tmp_path / "c")
    store = ClipStore(index.items, SR)
    ds = SegmentDataset(store, 1000, length=100, seed=3)
    a, b = ds[7], ds[7]
    assert torch.equal(a["audio"], b["audio"]) and a["audio"].shape == (1, 1000)
    assert not torch.equal(ds[7]["audio"], ds[8]["audio"])
    assert int(a["label"]) in (0, 1)
    other = SegmentDataset(store, 1000, length=100, seed=4)
    assert not all(torch.equal(ds[i]["audio"], other[i]["audio"]) for i in range(5))


def test_mel_frames_are_aligned_with_the_audio_segment(tmp_path):
    index = _corpus(tmp_path / "c", seconds=1.0)
    mel = MelConfig.preset("hifigan", sample_rate=SR)
    store = ClipStore(index.items, SR, mel)
    ds = SegmentDataset(store, 10 * 256 + 17, length=50, seed=0)
    item = ds[5]
    assert item["audio"].shape == (1, 10 * 256) and item["mel"].shape == (80, 10)
    # away from the segment's edges, the mel of the segment equals the cropped full-file mel
    own = LogMel(mel)(item["audio"])[0]
    assert torch.allclose(own[:, 2:8], item["mel"][:, 2:8], atol=1e-4)


def test_short_clips_are_padded(tmp_path):
    index = _corpus(tmp_path / "c", seconds=0.05)
    store = ClipStore(index.items, SR, min_samples=4000)
    item = SegmentDataset(store, 4000, length=10)[0]
    assert item["audio"].shape == (1, 4000) and float(item["audio"][0, -100:].abs().max()) == 0.0


def test_mel_cache_on_disk_is_keyed_by_config(tmp_path):
    index = _corpus(tmp_path / "c")
    cfg_a = MelConfig.preset("hifigan", sample_rate=SR)
    cfg_b = MelConfig.preset("hifigan", sample_rate=SR, n_mels=40)
    a = ClipStore(index.items, SR, cfg_a, in_memory=False, mel_cache_dir=tmp_path / "cache")
    mel_first = a.get(0).mel
    folders = list((tmp_path / "cache").iterdir())
    assert len(folders) == 1 and len(list(folders[0].glob("*.npy"))) == 1
    assert torch.equal(a.get(0).mel, mel_first)  # second read comes from the cache
    ClipStore(index.items, SR, cfg_b, in_memory=False, mel_cache_dir=tmp_path / "cache").get(0)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_step_sampler_resumes_and_shards():
    full = list(StepSampler(2, 4))
    assert full == list(range(8))
    resumed = list(StepSampler(2, 4, start_step=lambda: 2))
    assert resumed == full[4:]
    rank0 = list(StepSampler(2, 2, rank=0, world_size=2))
    rank1 = list(StepSampler(2, 2, rank=1, world_size=2))
    assert rank0 == [0, 1, 4, 5] and rank1 == [2, 3, 6, 7]
    assert len(StepSampler(3, 5, start_step=lambda: 1)) == 12


def test_bad_files_are_skipped_with_one_warning(tmp_path):
    index = _corpus(tmp_path / "c")
    (tmp_path / "c" / "low" / "corrupt.wav").write_bytes(b"RIFF....not audio at all")
    sf.write(tmp_path / "c" / "low" / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    nan = np.full(800, np.nan, dtype=np.float32)
    sf.write(tmp_path / "c" / "high" / "nan.wav", nan, SR, subtype="FLOAT")
    index = index_corpus("folder", tmp_path / "c", labels="subfolder", split_file=None)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable or empty file\(s\)") as rec:
        items = check_items(index.items, "fake corpus")
    assert len(rec) == 1 and "corrupt.wav" in str(rec[0].message) and "empty.wav" in str(rec[0].message)
    store = ClipStore(items, SR)
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) that could not be decoded") as rec:
        store.preload("fake corpus")
    assert "nan.wav" in str(rec[0].message) and len(store) == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SegmentDataset(store, 500, length=20)[3]["audio"].isfinite().all()


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "c" / "x").mkdir(parents=True)
    (tmp_path / "c" / "x" / "a.wav").write_bytes(b"junk")
    (tmp_path / "c" / "x" / "b.wav").write_bytes(b"junk")
    index = index_corpus("folder", tmp_path / "c", labels=None, split_file=None)
    with pytest.warns(UserWarning), pytest.raises(AudioError, match="no readable audio files"):
        check_items(index.items)


def test_clip_dataset_whole_clips_with_mels(tmp_path):
    index = _corpus(tmp_path / "c", seconds=0.3)
    mel = MelConfig.preset("hifigan", sample_rate=SR)
    item = ClipDataset(ClipStore(index.items, SR, mel))[0]
    frames = item["mel"].shape[-1]
    assert item["audio"].shape == (1, frames * 256) and frames == int(0.3 * SR) // 256
