"""Tests of the local corpus builders: SoundFont notes/phrases and espeak-ng speech."""

from __future__ import annotations

import csv
import importlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from wavediff.data import CorpusExistsError, midi_to_hz
from wavediff.data import espeak as espeak_mod
from wavediff.data import soundfont as soundfont_mod
from wavediff.data.espeak import (
    ESPEAK_INSTALL_HINT,
    SENTENCES,
    EspeakCorpusConfig,
    EspeakError,
    espeak_available,
    write_espeak_corpus,
)
from wavediff.data.general_midi import gm_family
from wavediff.data.soundfont import SoundfontCorpusConfig, default_soundfont, write_soundfont_corpus

# ----------------------------------------------------------------------------- helpers


def _read_metadata(root: Path) -> list[dict[str, str]]:
    with open(root / "metadata.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _read_metadata_columns(root: Path) -> list[str]:
    with open(root / "metadata.csv", encoding="utf-8") as f:
        return next(csv.reader(f))[3:]


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _check_generic_layout(root: Path, columns: list[str]) -> list[dict[str, str]]:
    """Checks shared by both builders; returns the metadata rows."""
    rows = _read_metadata(root)
    with open(root / "metadata.csv", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == ["path", "label", "label_index", *columns]
    wavs = {p.relative_to(root).as_posix() for p in root.glob("*/*.wav")}
    assert {r["path"] for r in rows} == wavs and len(rows) == len(wavs)
    assert not list(root.rglob("*.tmp")), "temp files left behind"
    labels: list[str] = []
    for r in rows:
        assert r["path"].split("/")[0] == r["label"]
        if r["label"] not in labels:
            labels.append(r["label"])
    for r in rows:
        assert int(r["label_index"]) == labels.index(r["label"])
    split = json.loads((root / "split.json").read_text())
    assert set(split) == {"train", "valid", "test"}
    parts = [set(split[k]) for k in ("train", "valid", "test")]
    assert sum(len(p) for p in parts) == len(wavs)
    assert set().union(*parts) == wavs
    for k in split:
        assert split[k] == sorted(split[k])
    return rows


def _frame_db(x: np.ndarray, hop: int) -> np.ndarray:
    n = x.shape[0] // hop
    return 10.0 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)


# ============================================================================= SoundFont


def _sf_ready() -> None:
    try:
        importlib.import_module("tinysoundfont")
    except ImportError:
        pytest.skip("tinysoundfont not installed")
    try:
        default_soundfont()
    except FileNotFoundError:
        pytest.skip("pretty_midi (default SoundFont) not installed")


SF_CFG = dict(
    programs=(73, 20, 0),  # flute, reed organ, piano
    pitches=(48, 60, 72),
    velocities=(100,),
    clip_seconds=1.0,
    phrases=3,
    seed=5,
)


@pytest.fixture(scope="module")
def sf_corpus(tmp_path_factory):
    _sf_ready()
    cfg = SoundfontCorpusConfig(**SF_CFG)
    root = write_soundfont_corpus(tmp_path_factory.mktemp("sf") / "corpus", cfg)
    return cfg, root


def test_soundfont_layout_metadata_split_manifest(sf_corpus):
    cfg, root = sf_corpus
    columns = ["kind", "midi_pitch", "velocity", "program", "instrument", "family", "description", "duration_s"]
    rows = _check_generic_layout(root, columns)
    assert len(rows) == 3 * 3 + 3
    # label order: programs in config order, then the phrases
    order = {r["label"]: int(r["label_index"]) for r in rows}
    assert order == {"flute": 0, "organ": 1, "keyboard": 2, "phrase": 3}
    notes = [r for r in rows if r["kind"] == "note"]
    assert {(int(r["program"]), int(r["midi_pitch"])) for r in notes} == {
        (p, m) for p in (73, 20, 0) for m in (48, 60, 72)
    }
    for r in notes:
        assert r["label"] == r["family"] == gm_family(int(r["program"]))
        assert int(r["velocity"]) == 100 and r["instrument"]
        assert Path(r["path"]).stem == f"{r['family']}_p{int(r['program']):03d}_m{int(r['midi_pitch']):03d}_v100"
    phrases = [r for r in rows if r["kind"] == "phrase"]
    assert [Path(r["path"]).stem for r in phrases] == ["phrase_0000", "phrase_0001", "phrase_0002"]
    assert all(r["description"] and r["instrument"] and r["velocity"] == "" for r in phrases)
    manifest = json.loads((root / "corpus.json").read_text())
    assert manifest["format"] == "wavediff-soundfont-corpus"
    assert SoundfontCorpusConfig.from_dict(manifest["config"]) == cfg
    assert manifest["soundfont"]["name"] == "TimGM6mb.sf2" and len(manifest["soundfont"]["sha256"]) == 64


def test_soundfont_clips_exact_length_level_and_pitch(sf_corpus):
    cfg, root = sf_corpus
    note_peak = cfg.peak * (0.35 + 0.65 * 100 / 127)
    for r in _read_metadata(root):
        info = sf.info(root / r["path"])
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 16000, "PCM_16")
        assert r["duration_s"] == "1.000000"
        x, _ = sf.read(root / r["path"])
        want = note_peak if r["kind"] == "note" else cfg.peak
        assert abs(np.max(np.abs(x)) - want) < 2e-4, r["path"]
        assert abs(np.mean(x)) < 0.01  # DC removed
        if r["kind"] == "note":
            db = _frame_db(x, 320)
            assert db[:35].max() - db[-3:].mean() > 20.0, f"{r['path']}: no release"
        if r["label"] in ("flute", "organ"):
            sustain = x[int(0.2 * 16000) : int(0.7 * 16000)]
            f0 = librosa.yin(sustain, fmin=50.0, fmax=1500.0, sr=16000, frame_length=2048)
            err = 12.0 * np.log2(np.median(f0) / midi_to_hz(int(r["midi_pitch"])))
            assert abs(err) < 1.0, f"{r['path']}: pitch off by {err:.2f} semitones"


def test_soundfont_phrases_have_several_onsets(sf_corpus):
    _, root = sf_corpus
    for p in sorted((root / "phrase").glob("*.wav")):
        x, sr = sf.read(p)
        onsets = librosa.onset.onset_detect(y=x, sr=sr, units="time")
        assert len(onsets) >= 3, f"{p.name}: {len(onsets)} onsets"


def test_soundfont_deterministic_and_idempotent(sf_corpus, tmp_path):
    cfg, root = sf_corpus
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    write_soundfont_corpus(root, cfg)  # same config again: nothing changes
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
    again = write_soundfont_corpus(tmp_path / "again", SoundfontCorpusConfig(**SF_CFG))
    assert _tree_bytes(again) == _tree_bytes(root)


def test_soundfont_refuses_other_corpus_and_overwrites(tmp_path):
    _sf_ready()
    small = dict(programs=(73,), pitches=(60, 64), velocities=(90,), clip_seconds=0.5, phrases=0)
    root = write_soundfont_corpus(tmp_path / "c", SoundfontCorpusConfig(**small))
    other = SoundfontCorpusConfig(**{**small, "programs": (19,)})
    with pytest.raises(CorpusExistsError, match="overwrite=True"):
        write_soundfont_corpus(root, other)
    assert sorted(p.name for p in (root / "flute").glob("*.wav")) == [
        "flute_p073_m060_v090.wav",
        "flute_p073_m064_v090.wav",
    ]
    write_soundfont_corpus(root, other, overwrite=True)
    assert not (root / "flute").exists()
    assert len(_check_generic_layout(root, _read_metadata_columns(root))) == 2
    # a folder with foreign wavs is refused too
    stray = tmp_path / "stray"
    (stray / "x").mkdir(parents=True)
    sf.write(stray / "x" / "a.wav", np.zeros(100), 16000)
    with pytest.raises(CorpusExistsError):
        write_soundfont_corpus(stray, other)


def test_soundfont_label_modes_and_sf2_option(tmp_path):
    _sf_ready()
    base = dict(programs=(73,), pitches=(60, 67), velocities=(100,), clip_seconds=0.5, phrases=0)
    root = write_soundfont_corpus(tmp_path / "pitch", SoundfontCorpusConfig(**base, label="pitch"))
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["midi060", "midi067"]
    root = write_soundfont_corpus(
        tmp_path / "prog", SoundfontCorpusConfig(**base, label="program", sf2=str(default_soundfont()))
    )
    assert [p.name for p in root.iterdir() if p.is_dir()] == ["flute_073"]
    default = write_soundfont_corpus(tmp_path / "default", SoundfontCorpusConfig(**base, label="program"))
    a, b = _tree_bytes(root), _tree_bytes(default)
    assert {k: v for k, v in a.items() if k.endswith(".wav")} == {k: v for k, v in b.items() if k.endswith(".wav")}
    with pytest.raises(FileNotFoundError, match="not found"):
        write_soundfont_corpus(tmp_path / "x", SoundfontCorpusConfig(**base, sf2=str(tmp_path / "none.sf2")))


def test_soundfont_silent_renders_skipped_with_one_warning(tmp_path):
    _sf_ready()
    # TimGM6mb's trumpet has no sample for the lowest MIDI keys
    cfg = SoundfontCorpusConfig(programs=(56,), pitches=(5, 10, 60), velocities=(100,), clip_seconds=0.5, phrases=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = write_soundfont_corpus(tmp_path / "c", cfg)
    messages = [str(w.message) for w in caught if "silent" in str(w.message)]
    assert len(messages) == 1 and "skipped 2 silent" in messages[0]
    assert "brass_p056_m005_v100" in messages[0] and "brass_p056_m010_v100" in messages[0]
    rows = _read_metadata(root)
    assert [r["midi_pitch"] for r in rows] == ["60"]


def test_soundfont_config_validation():
    with pytest.raises(ValueError, match="too high"):
        SoundfontCorpusConfig(pitches=(110,), sample_rate=8000)
    with pytest.raises(ValueError, match="label"):
        SoundfontCorpusConfig(label="voice")
    with pytest.raises(ValueError, match="nothing to render"):
        SoundfontCorpusConfig(programs=(), phrases=0)
    cfg = SoundfontCorpusConfig(sample_rate=8000)
    assert all(midi_to_hz(p) < 3600 for p in cfg.program_pitches(72))  # piccolo register capped
    assert SoundfontCorpusConfig().program_pitches(33) == tuple(range(28, 61))


def test_soundfont_missing_tinysoundfont_message(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # makes `import tinysoundfont` fail
    with pytest.raises(ImportError, match="pip install tinysoundfont"):
        write_soundfont_corpus(tmp_path / "c", SoundfontCorpusConfig(phrases=1, programs=()))
    assert not (tmp_path / "c").exists()


def test_soundfont_missing_default_bank_message(monkeypatch):
    monkeypatch.setattr(soundfont_mod, "_package_dir", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install pretty_midi"):
        default_soundfont()


def test_builders_import_without_optional_tools():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tinysoundfont', 'pretty_midi'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import wavediff.data.soundfont, wavediff.data.espeak\n"
        "assert 'tinysoundfont' not in sys.modules and 'pretty_midi' not in sys.modules\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


# ============================================================================= espeak-ng

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")

SP_CFG = dict(voices=("en-us", "en-gb-x-rp+f4"), utterances_per_voice=3, seed=1)


@pytest.fixture(scope="module")
def sp_corpus(tmp_path_factory):
    if not espeak_available():
        pytest.skip("espeak-ng not installed")
    cfg = EspeakCorpusConfig(**SP_CFG)
    root = write_espeak_corpus(tmp_path_factory.mktemp("sp") / "corpus", cfg)
    return cfg, root


@needs_espeak
def test_espeak_layout_and_metadata(sp_corpus):
    cfg, root = sp_corpus
    rows = _check_generic_layout(root, ["voice", "rate", "pitch", "text", "duration_s"])
    assert len(rows) == 6
    assert [r["label"] for r in rows] == ["en-us"] * 3 + ["en-gb-x-rp+f4"] * 3
    for r in rows:
        assert r["voice"] == r["label"]
        assert int(r["rate"]) in cfg.rates and int(r["pitch"]) in cfg.pitches
        assert r["text"] in SENTENCES
        assert abs(float(r["duration_s"]) - sf.info(root / r["path"]).duration) < 1e-5
    texts = [r["text"] for r in rows if r["voice"] == "en-us"]
    assert len(set(texts)) == 3  # a voice walks through shuffles of the sentences
    assert sorted(p.name for p in (root / "en-gb-x-rp+f4").iterdir()) == [
        f"en_gb_x_rp_f4_{i:04d}.wav" for i in range(3)
    ]
    manifest = json.loads((root / "corpus.json").read_text())
    assert manifest["format"] == "wavediff-espeak-corpus" and manifest["espeak_ng_version"]
    assert "timeout_s" not in manifest["config"]
    assert EspeakCorpusConfig.from_dict(manifest["config"]) == cfg


@needs_espeak
def test_espeak_audio_is_speech_like(sp_corpus):
    cfg, root = sp_corpus
    f0_by_voice: dict[str, list[float]] = {}
    for r in _read_metadata(root):
        info = sf.info(root / r["path"])
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        x, sr = sf.read(root / r["path"])
        assert x.shape[0] / sr > 0.5
        assert abs(np.max(np.abs(x)) - cfg.peak) < 2e-4
        db = _frame_db(x, int(0.02 * sr))
        assert db.std() > 6.0, "energy should vary over time (syllables, pauses)"
        assert np.percentile(db, 10) < db.max() - 20.0, "expected gaps between words"
        assert db[0] < db.max() - 6.0 and db[-1] < db.max() - 6.0, "trim should end on quiet frames"
        loud = db > db.max() - 20.0
        f0 = librosa.yin(x, fmin=60.0, fmax=500.0, sr=sr, frame_length=1024, hop_length=int(0.02 * sr))
        f0_by_voice.setdefault(r["voice"], []).append(float(np.median(f0[: loud.shape[0]][loud])))
    male, female = np.median(f0_by_voice["en-us"]), np.median(f0_by_voice["en-gb-x-rp+f4"])
    assert 60 < male < 160 and female > 1.3 * male


@needs_espeak
def test_espeak_deterministic_and_refuses_mixing(sp_corpus, tmp_path):
    cfg, root = sp_corpus
    again = write_espeak_corpus(tmp_path / "again", EspeakCorpusConfig(**SP_CFG))
    assert _tree_bytes(again) == _tree_bytes(root)
    with pytest.raises(CorpusExistsError):
        write_espeak_corpus(again, EspeakCorpusConfig(**{**SP_CFG, "seed": 2}))
    # a different timeout does not make it a different corpus
    write_espeak_corpus(again, EspeakCorpusConfig(**SP_CFG, timeout_s=60.0))
    assert _tree_bytes(again) == _tree_bytes(root)


@needs_espeak
def test_espeak_bad_voices_are_reported(tmp_path):
    with pytest.raises(EspeakError, match="sound identical"):
        write_espeak_corpus(tmp_path / "dup", EspeakCorpusConfig(voices=("en-gb", "en-gb+f2"), utterances_per_voice=1))
    assert not (tmp_path / "dup").exists()
    with pytest.raises(EspeakError, match="zz-nonexistent.*does not exist"):
        write_espeak_corpus(tmp_path / "bad", EspeakCorpusConfig(voices=("zz-nonexistent",), utterances_per_voice=1))


def test_espeak_missing_tool_message(monkeypatch, tmp_path):
    monkeypatch.setattr(espeak_mod.shutil, "which", lambda name, *a, **k: None)
    assert espeak_available() is False
    with pytest.raises(EspeakError) as info:
        write_espeak_corpus(tmp_path / "c", EspeakCorpusConfig(utterances_per_voice=1))
    assert "apt-get update && apt-get install -y espeak-ng" in str(info.value)
    assert ESPEAK_INSTALL_HINT == "apt-get update && apt-get install -y espeak-ng"
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(os.name != "posix", reason="needs an executable script")
def test_espeak_subprocess_timeout(monkeypatch, tmp_path):
    slow = tmp_path / "espeak-ng"
    slow.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(10)\n")
    slow.chmod(0o755)
    monkeypatch.setattr(espeak_mod, "_find_espeak", lambda: str(slow))
    with pytest.raises(EspeakError, match="did not finish within 0.3 s"):
        write_espeak_corpus(tmp_path / "c", EspeakCorpusConfig(utterances_per_voice=1, timeout_s=0.3))


def test_espeak_config_validation():
    with pytest.raises(ValueError, match="folder names"):
        EspeakCorpusConfig(voices=("en/us",))
    with pytest.raises(ValueError, match="duplicate"):
        EspeakCorpusConfig(voices=("en-us", "en-us"))
    with pytest.raises(ValueError, match="option"):
        EspeakCorpusConfig(sentences=("-v en",))
