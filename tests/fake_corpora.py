"""Tiny fake corpora in the real on-disk layouts of the public corpora (a few very short
files each), shared by the corpus-reader and recipe tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from wavediff.data.corpora import NSYNTH_FAMILIES, SC09_DIGITS

SR = 16000



def _audio(path: Path, seconds: float = 0.01, fmt: str | None = None) -> Path:
    """Write a short sine to ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, 0.1 * np.sin(2 * np.pi * 440 * t), SR, format=fmt)
    return path


# ----------------------------------------------------------------------------- fake corpora


LJ_LINES = [
    ("LJ001-0001", "Printing, in 1st sense", "Printing, in first sense"),
    ("LJ001-0002", "in being comparatively modern.", "in being comparatively modern."),
    ("LJ001-0003", "For although the Chinese", "For although the Chinese"),
    ("LJ002-0001", "Dr. Smith", "Doctor Smith"),
    ("LJ002-0002", "a \"quoted\" word", "a \"quoted\" word"),
    ("LJ003-0001", "the 2nd line", "the second line"),
]


def make_ljspeech(root: Path, lines=LJ_LINES, missing=()) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    with open(root / "metadata.csv", "w", encoding="utf-8") as f:
        for clip, raw, norm in lines:
            f.write(f"{clip}|{raw}|{norm}\n")
            if clip not in missing:
                _audio(root / "wavs" / f"{clip}.wav")
    return root


VCTK_SPEAKERS = ("p225", "p226", "p227")
VCTK_UTTS = tuple(f"{i:03d}" for i in range(1, 8))


def make_vctk(root: Path, old: bool = False) -> Path:
    for spk in VCTK_SPEAKERS:
        for utt in VCTK_UTTS:
            if old:
                _audio(root / "wav48" / spk / f"{spk}_{utt}.wav")
            else:
                for mic in ("mic1", "mic2"):
                    _audio(root / "wav48_silence_trimmed" / spk / f"{spk}_{utt}_{mic}.flac")
            if spk != "p227":  # p227 has no transcripts
                txt = root / "txt" / spk / f"{spk}_{utt}.txt"
                txt.parent.mkdir(parents=True, exist_ok=True)
                txt.write_text(f"Sentence {utt} of {spk}.\n")
    (root / "speaker-info.txt").write_text(
        "ID  AGE  GENDER  ACCENTS  REGION COMMENTS\n"
        "p225  23  F    English    Southern  England\n"
        "p226  22  M    English    Surrey\n"
        "p227  38  M    English    Cumbria\n"
    )
    return root


SC_SPEAKERS = ("0a2b400e", "1b4c9b89", "3cfc6b3a", "5f814c23")


def make_sc09(root: Path, lists: bool = True, words=SC09_DIGITS) -> Path:
    for word in words:
        for spk in SC_SPEAKERS[:3]:
            _audio(root / word / f"{spk}_nohash_0.wav")
        _audio(root / word / f"{SC_SPEAKERS[0]}_nohash_1.wav")
    _audio(root / "yes" / f"{SC_SPEAKERS[0]}_nohash_0.wav")  # not a digit: ignored
    _audio(root / "_background_noise_" / "white_noise.wav")
    if lists:
        (root / "validation_list.txt").write_text(
            "\n".join(f"{w}/{SC_SPEAKERS[1]}_nohash_0.wav" for w in words) + "\nyes/0a2b400e_nohash_0.wav\n"
        )
        (root / "testing_list.txt").write_text("\n".join(f"{w}/{SC_SPEAKERS[2]}_nohash_0.wav" for w in words) + "\n")
    return root


MAESTRO_ROWS = [
    # composer, title, split, year, stem, duration
    ("Frédéric Chopin", "Ballade No. 1", "train", 2004, "MIDI-Unprocessed_A", 612.5),
    ("Johann Sebastian Bach", "Prelude in C", "train", 2006, "MIDI-Unprocessed_B", 120.0),
    ("Franz Liszt", "Mephisto Waltz", "validation", 2008, "MIDI-Unprocessed_C", 700.25),
    ("Frédéric Chopin", "Etude Op. 10 No. 1", "test", 2018, "ORIG-MID_D", 95.0),
    ("Franz Schubert", "Sonata D. 960", "train", 2018, "ORIG-MID_E", 2400.0),
]


def make_maestro(root: Path, missing=(), version="v3.0.0") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"maestro-{version}.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename", "duration"])
        for composer, title, split, year, stem, dur in MAESTRO_ROWS:
            w.writerow([composer, title, split, year, f"{year}/{stem}.midi", f"{year}/{stem}.wav", dur])
            if stem not in missing:
                _audio(root / str(year) / f"{stem}.wav")
    return root


NSYNTH_NOTES = {
    "train": [("bass_electronic_018", 22, 0, 1), ("bass_electronic_018", 40, 0, 1), ("guitar_acoustic_010", 60, 3, 0),
              ("keyboard_synthetic_000", 84, 4, 2), ("vocal_acoustic_002", 100, 10, 0)],
    "valid": [("flute_acoustic_002", 72, 2, 0), ("string_acoustic_012", 55, 8, 0)],
    "test": [("mallet_electronic_001", 67, 5, 1), ("synth_lead_synthetic_000", 48, 9, 2)],
}
SOURCES = ("acoustic", "electronic", "synthetic")


def make_nsynth(root: Path, splits=("train", "valid", "test"), missing=()) -> Path:
    for split in splits:
        folder = root / f"nsynth-{split}"
        examples = {}
        for instrument, pitch, family, source in NSYNTH_NOTES[split]:
            note_str = f"{instrument}-{pitch:03d}-100"
            examples[note_str] = {
                "note_str": note_str, "pitch": pitch, "velocity": 100, "sample_rate": 16000,
                "instrument_str": instrument, "instrument_family": family,
                "instrument_family_str": NSYNTH_FAMILIES[family], "instrument_source": source,
                "instrument_source_str": SOURCES[source], "qualities_str": ["bright"],
            }
            if note_str not in missing:
                _audio(folder / "audio" / f"{note_str}.wav")
        (folder / "audio").mkdir(parents=True, exist_ok=True)
        (folder / "examples.json").write_text(json.dumps(examples))
    return root


def make_folder(root: Path, per_label: int = 12, labels=("cats", "dogs")) -> Path:
    for label in labels:
        for i in range(per_label):
            ext = ".flac" if i % 3 == 0 else ".wav"
            sub = "deep/" if i % 4 == 0 else ""
            _audio(root / label / f"{sub}{label}_{i:03d}{ext}")
    return root


MAKERS = {
    "ljspeech": make_ljspeech,
    "vctk": make_vctk,
    "sc09": make_sc09,
    "maestro": make_maestro,
    "nsynth": make_nsynth,
    "folder": make_folder,
}


