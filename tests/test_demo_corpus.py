"""Tests of the built-in synthetic demo corpus (wavediff.data.demo)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from wavediff.data import (
    DEMO_CLASSES,
    PITCHED_CLASSES,
    CorpusExistsError,
    DemoCorpusConfig,
    corpus_to_arrays,
    generate_demo_clip,
    generate_demo_corpus,
    midi_to_hz,
    write_demo_corpus,
)

SR = 16000
PER_CLASS = 12


@pytest.fixture(scope="module")
def corpus():
    cfg = DemoCorpusConfig(clips_per_class=PER_CLASS, seed=3)
    return cfg, generate_demo_corpus(cfg)


# ----------------------------------------------------------------------------- helpers


def _mean_power_spectrum(audio: np.ndarray, n_fft: int = 1024) -> np.ndarray:
    """Mean power spectrum over the frames that carry signal (within 30 dB of the loudest)."""
    power = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
    energy = power.sum(axis=0)
    return power[:, energy > 1e-3 * energy.max()].mean(axis=1)


def _flatness(audio: np.ndarray) -> float:
    p = _mean_power_spectrum(audio) + 1e-12
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def _centroid_hz(audio: np.ndarray, sr: int) -> float:
    p = _mean_power_spectrum(audio)
    freqs = np.fft.rfftfreq(1024, 1.0 / sr)
    return float((p * freqs).sum() / p.sum())


def _envelope_db(audio: np.ndarray, hop: int) -> np.ndarray:
    power = np.abs(librosa.stft(audio, n_fft=2 * hop, hop_length=hop)) ** 2
    return 10.0 * np.log10(power.sum(axis=0) + 1e-12)


def _decay_s(audio: np.ndarray, sr: int, hop: int = 256) -> float:
    """Seconds from the loudest frame until the level is 20 dB lower (or the clip ends)."""
    db = _envelope_db(audio, hop)
    k = int(np.argmax(db))
    below = np.nonzero(db[k:] < db[k] - 20.0)[0]
    return (below[0] if below.size else db.size - k) * hop / sr


def _attack_s(audio: np.ndarray, sr: int, hop: int = 128) -> float:
    """Seconds from the first frame within 30 dB of the peak to the peak."""
    db = _envelope_db(audio, hop)
    k = int(np.argmax(db))
    first = int(np.nonzero(db > db[k] - 30.0)[0][0])
    return (k - first) * hop / sr


def _periodicity(audio: np.ndarray, sr: int) -> float:
    """Peak normalised autocorrelation (lags 0.5-25 ms) of 100 ms starting 50 ms after the
    loudest frame: ~1 for harmonic tones, lower for inharmonic or noisy sounds."""
    k = int(np.argmax(_envelope_db(audio, 256)))
    length = int(0.1 * sr)
    start = min(k * 256 + int(0.05 * sr), audio.size - length)
    seg = audio[start : start + length].astype(np.float64)
    seg -= seg.mean()
    n = seg.size
    acf = np.fft.irfft(np.abs(np.fft.rfft(seg, 2 * n)) ** 2)[:n]
    energy = np.concatenate([[0.0], np.cumsum(seg**2)])
    lags = np.arange(int(sr / 2000), int(sr / 40))
    r = acf[lags] / np.sqrt(energy[n - lags] * (energy[n] - energy[lags]) + 1e-12)
    return float(r.max())


def _estimated_f0(audio: np.ndarray, sr: int, onset_s: float) -> float:
    """Median YIN f0 over the loud frames that start 200 ms or more after the onset
    (past attacks and pitch sweeps)."""
    frame, hop = 2048, 256
    f0 = librosa.yin(audio, fmin=40.0, fmax=1500.0, sr=sr, frame_length=frame, hop_length=hop, center=False)
    rms = librosa.feature.rms(y=audio, frame_length=frame, hop_length=hop, center=False)[0]
    starts = np.arange(f0.size) * hop / sr
    late = starts > onset_s + 0.2
    keep = late & (rms > 0.2 * rms[late].max())
    return float(np.median(f0[keep]))


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------------- determinism


def test_same_seed_is_bit_identical_and_other_seed_differs():
    cfg = DemoCorpusConfig(clips_per_class=2, seed=11)
    a = generate_demo_corpus(cfg)
    b = generate_demo_corpus(cfg)
    c = generate_demo_corpus(DemoCorpusConfig(clips_per_class=2, seed=12))
    assert [x.id for x in a] == [x.id for x in b]
    for x, y in zip(a, b):
        assert x.audio.tobytes() == y.audio.tobytes()
        assert (x.label, x.label_index, x.midi_pitch) == (y.label, y.label_index, y.midi_pitch)
    for x, z in zip(a, c):
        assert not np.array_equal(x.audio, z.audio)


def test_clip_does_not_depend_on_other_classes_or_corpus_size():
    full = generate_demo_corpus(DemoCorpusConfig(clips_per_class=3, seed=5))
    part = generate_demo_corpus(DemoCorpusConfig(clips_per_class=2, seed=5, classes=("bell",)))
    bells = [c for c in full if c.label == "bell"][:2]
    assert [c.id for c in bells] == [c.id for c in part]
    for x, y in zip(bells, part):
        assert np.array_equal(x.audio, y.audio)
    assert all(c.label_index == 0 for c in part)


def test_generate_demo_clip_follows_the_generator_and_sizes():
    a = generate_demo_clip("pluck", 57, np.random.default_rng(7), sample_rate=22050, seconds=0.5)
    b = generate_demo_clip("pluck", 57, np.random.default_rng(7), sample_rate=22050, seconds=0.5)
    c = generate_demo_clip("pluck", 57, np.random.default_rng(8), sample_rate=22050, seconds=0.5)
    assert a.dtype == np.float32 and a.shape == (round(0.5 * 22050),)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for kind in DEMO_CLASSES:
        x = generate_demo_clip(kind, 60, np.random.default_rng(0), sample_rate=8000, seconds=0.3)
        assert x.shape == (2400,) and np.isfinite(x).all() and 0.3 <= np.abs(x).max() <= 1.0


def test_invalid_requests_are_refused():
    with pytest.raises(ValueError):
        generate_demo_clip("violin", 60, np.random.default_rng(0))
    with pytest.raises(ValueError):
        generate_demo_clip("pluck", 120, np.random.default_rng(0))
    with pytest.raises(ValueError):
        DemoCorpusConfig(classes=("pluck", "kazoo"))
    with pytest.raises(ValueError):
        DemoCorpusConfig(clips_per_class=0)


# ----------------------------------------------------------------------------- clip properties


def test_every_clip_is_valid_audio(corpus):
    cfg, clips = corpus
    n = round(cfg.clip_seconds * cfg.sample_rate)
    assert len(clips) == len(DEMO_CLASSES) * PER_CLASS
    assert len({c.id for c in clips}) == len(clips)
    for c in clips:
        a = c.audio
        assert a.dtype == np.float32 and a.shape == (n,), c.id
        assert c.sample_rate == SR
        assert np.isfinite(a).all(), c.id
        assert 0.3 <= np.abs(a).max() <= 1.0, c.id
        assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) > 0.01, f"{c.id} is nearly silent"
        assert abs(float(a.mean())) < 1e-3, f"{c.id} has DC"
        assert np.abs(a[: int(0.004 * SR)]).max() < 1e-3, f"{c.id} does not start from silence"


def test_each_class_has_the_requested_clips_and_several_pitches(corpus):
    cfg, clips = corpus
    for index, label in enumerate(cfg.classes):
        members = [c for c in clips if c.label == label]
        assert len(members) == PER_CLASS
        assert all(c.label_index == index for c in members)
        assert len({c.midi_pitch for c in members}) >= 8, label
        pitches = [c.midi_pitch for c in members]
        assert max(pitches) - min(pitches) >= 12, f"{label} spans less than an octave"


def test_corpus_to_arrays_stacks_batch_channel_samples(corpus):
    cfg, clips = corpus
    audio, labels, sr = corpus_to_arrays(clips)
    assert audio.shape == (len(clips), 1, cfg.num_samples) and audio.dtype == np.float32
    assert labels.dtype == np.int64 and labels.tolist() == [c.label_index for c in clips]
    assert sr == SR


# ----------------------------------------------------------------------------- structure


def test_clips_are_far_from_white_noise(corpus):
    _, clips = corpus
    rng = np.random.default_rng(0)
    noise = [_flatness((0.3 * rng.standard_normal(SR)).astype(np.float32)) for _ in range(3)]
    noise_flatness = float(np.mean(noise))
    assert noise_flatness > 0.8  # sanity of the measure itself
    for label in DEMO_CLASSES:
        flat = np.mean([_flatness(c.audio) for c in clips if c.label == label])
        assert flat < 0.2 * noise_flatness, f"{label}: flatness {flat:.3f} vs noise {noise_flatness:.3f}"


@pytest.mark.parametrize("label", PITCHED_CLASSES)
def test_pitched_clips_sound_at_their_labelled_pitch(corpus, label):
    _, clips = corpus
    members = [c for c in clips if c.label == label]
    errors = []
    for c in members:
        f0 = _estimated_f0(c.audio, c.sample_rate, c.params["onset_s"])
        errors.append(abs(12.0 * np.log2(f0 / midi_to_hz(c.midi_pitch))))
    within = np.mean(np.array(errors) < 1.0)
    assert within >= 0.9, f"{label}: semitone errors {np.round(errors, 2).tolist()}"


def test_classes_are_distinguishable_by_simple_features(corpus):
    _, clips = corpus
    feats = np.array(
        [
            [
                np.log(_centroid_hz(c.audio, SR)),
                np.log(_decay_s(c.audio, SR) + 0.01),
                np.log(_attack_s(c.audio, SR) + 0.01),
                np.log(1.0 - _periodicity(c.audio, SR) + 1e-3),
            ]
            for c in clips
        ]
    )
    y = np.array([c.label_index for c in clips])
    med = {label: np.median(feats[y == i], axis=0) for i, label in enumerate(DEMO_CLASSES)}
    others = [k for k in DEMO_CLASSES if k != "hat"]
    assert all(med["hat"][0] > med[k][0] + np.log(3.0) for k in others), "hat is not the brightest"
    assert all(med["drum"][0] < med[k][0] for k in ("pluck", "bowed", "bell")), "drum is not the darkest"
    assert all(med["bowed"][2] > med[k][2] for k in DEMO_CLASSES if k != "bowed"), "bowed attack is not the slowest"
    assert all(med["hat"][1] < med[k][1] for k in others), "hat decay is not the shortest"
    assert all(med["bell"][3] > med[k][3] + 1.0 for k in ("pluck", "bowed")), "bell is not less periodic"
    # Leave-one-out nearest class mean on standardised features.
    z = (feats - feats.mean(0)) / feats.std(0)
    correct = 0
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        means = np.array([z[rest & (y == k)].mean(0) for k in range(len(DEMO_CLASSES))])
        correct += int(np.argmin(((means - z[i]) ** 2).sum(1)) == y[i])
    assert correct / len(y) >= 0.85


# ----------------------------------------------------------------------------- on disk


def test_write_demo_corpus_layout_metadata_and_split(tmp_path):
    cfg = DemoCorpusConfig(clips_per_class=5, seed=1, clip_seconds=0.5)
    out = write_demo_corpus(tmp_path / "demo", cfg)
    assert out == tmp_path / "demo"
    wavs = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.wav"))
    assert len(wavs) == 5 * len(DEMO_CLASSES)
    assert not list(out.rglob("*.tmp"))

    with open(out / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["path", "label", "label_index", "midi_pitch", "duration_s"]
    assert sorted(r["path"] for r in rows) == wavs
    for r in rows:
        assert r["path"].split("/")[0] == r["label"]
        assert DEMO_CLASSES[int(r["label_index"])] == r["label"]
        audio, sr = sf.read(out / r["path"], dtype="float32")
        assert sr == cfg.sample_rate and audio.ndim == 1
        assert audio.shape[0] == cfg.num_samples
        assert float(r["duration_s"]) == pytest.approx(audio.shape[0] / sr)
        assert sf.info(str(out / r["path"])).subtype == "PCM_16"
        assert 0.3 <= np.abs(audio).max() <= 1.0

    split = json.loads((out / "split.json").read_text())
    assert set(split) == {"train", "valid", "test"}
    parts = [set(split[k]) for k in ("train", "valid", "test")]
    assert sum(len(p) for p in parts) == len(wavs)
    assert set().union(*parts) == set(wavs)
    for label in DEMO_CLASSES:  # stratified: every class in every part
        for part in parts:
            assert any(p.startswith(label + "/") for p in part)
    assert len(split["train"]) >= 0.6 * len(wavs)

    # The written audio matches the in-memory corpus up to 16-bit quantisation.
    clip = generate_demo_corpus(cfg)[0]
    disk, _ = sf.read(out / clip.relpath, dtype="float32")
    assert np.abs(disk - clip.audio).max() < 1e-4


def test_second_write_is_identical_and_other_corpora_are_not_mixed(tmp_path):
    cfg = DemoCorpusConfig(clips_per_class=3, seed=2, clip_seconds=0.3, classes=("pluck", "hat"))
    out = tmp_path / "demo"
    write_demo_corpus(out, cfg)
    first = _tree_hashes(out)
    write_demo_corpus(out, cfg)
    assert _tree_hashes(out) == first

    other = DemoCorpusConfig(clips_per_class=3, seed=9, clip_seconds=0.3, classes=("pluck", "hat"))
    with pytest.raises(CorpusExistsError):
        write_demo_corpus(out, other)
    assert _tree_hashes(out) == first  # refused without touching anything

    smaller = DemoCorpusConfig(clips_per_class=2, seed=9, clip_seconds=0.3, classes=("bell",))
    write_demo_corpus(out, smaller, overwrite=True)
    with open(out / "metadata.csv", newline="") as f:
        listed = sorted(r["path"] for r in csv.DictReader(f))
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.wav")) == listed
    assert len(listed) == 2 and not (out / "pluck").exists()


def test_foreign_wavs_in_the_target_folder_are_refused(tmp_path):
    out = tmp_path / "demo"
    (out / "speech").mkdir(parents=True)
    sf.write(out / "speech" / "a.wav", np.zeros(160, dtype=np.float32), SR)
    with pytest.raises(CorpusExistsError):
        write_demo_corpus(out, DemoCorpusConfig(clips_per_class=1, clip_seconds=0.2))


def test_notes_limits_each_class_to_the_lowest_notes_of_its_scale():
    cfg = DemoCorpusConfig(clips_per_class=9, clip_seconds=0.2, notes=3, classes=("pluck", "bowed"))
    clips = generate_demo_corpus(cfg)
    for label, root in (("pluck", 48), ("bowed", 55)):
        pitches = [c.midi_pitch for c in clips if c.label == label]
        assert sorted(set(pitches)) == [root, root + 2, root + 4] and len(pitches) == 9  # each 3 times
    assert DemoCorpusConfig.from_dict(cfg.to_dict()) == cfg
    # the whole scale is the default, and a config written before `notes` existed still reads the same
    assert "notes" not in DemoCorpusConfig().to_dict() and DemoCorpusConfig.from_dict(DemoCorpusConfig().to_dict()).notes == 15
    for bad in (0, 16, 2.5):
        with pytest.raises(ValueError, match="notes must be an integer in 1..15"):
            DemoCorpusConfig(notes=bad)
