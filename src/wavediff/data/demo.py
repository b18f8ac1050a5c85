"""Built-in demo corpus: short synthetic instrument notes generated in code.

The demo corpus lets ``wavediff demo`` and the test-suite run end to end without
downloading anything. Every clip is a single note of one of five instrument-like
classes (``pluck``, ``bowed``, ``bell``, ``drum``, ``hat``), synthesised with numpy/scipy
by :mod:`wavediff.data.instruments`, which describes each instrument and the per-clip
performance (velocity, detune, onset, room, level).

Each class has its own register: a major scale over two octaves (15 notes) starting
at C3 (pluck), G3 (bowed), C4 (bell), C2 (drum) and C4 (hat). Notes are drawn from the
scale in shuffled cycles, so every pitch appears about equally often.

The default config (5 classes x 48 clips x 1.0 s at 16 kHz) gives 240 clips, four
minutes of audio, generated in one to two seconds on one CPU core.

Why a model can learn it: each clip is one note with a clear onset, a class-specific
temporal envelope (plucked and struck decays, sustained bowing, sub-100 ms hats) and a
class-specific spectrum (harmonic series with a known fundamental, inharmonic bell
partials, pitch-swept membrane, high-passed metallic noise). Clips are far from white
noise (low spectral flatness), pitched classes carry the labelled fundamental, and the
classes separate on simple features such as spectral centroid and decay time, so both
unconditional and class-conditional models are measurably better than noise.

Determinism: clip ``i`` of class ``c`` is generated from its own generator seeded with
``(seed, crc32(c), i)``, so the same seed gives bit-identical audio (independently of
which other classes or how many clips are requested) and a different seed gives
different audio. No global random state is touched.

On disk (:func:`write_demo_corpus`) the corpus uses the generic folder layout
(:mod:`wavediff.data.corpus_writer`)::

    out_dir/<label>/<id>.wav     16-bit PCM, mono
    out_dir/metadata.csv         path,label,label_index,midi_pitch,duration_s
    out_dir/split.json           {"train": [...], "valid": [...], "test": [...]}
    out_dir/corpus.json          the config that produced the folder
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavediff.data.corpus_writer import PlannedClip, write_corpus
from wavediff.data.instruments import INSTRUMENTS, render_note
from wavediff.data.synthesis import label_key

__all__ = [
    "DEMO_CLASSES",
    "DEMO_REGISTERS",
    "PITCHED_CLASSES",
    "DemoClip",
    "DemoCorpusConfig",
    "corpus_to_arrays",
    "generate_demo_clip",
    "generate_demo_corpus",
    "write_demo_corpus",
]

#: Class labels of the demo corpus, in label-index order: the instruments.
DEMO_CLASSES: tuple[str, ...] = INSTRUMENTS

#: Classes whose waveform has a clear fundamental at the labelled MIDI pitch.
PITCHED_CLASSES: tuple[str, ...] = ("pluck", "bowed", "drum")

#: Lowest MIDI note of each class's two-octave major scale.
DEMO_REGISTERS: dict[str, int] = {"pluck": 48, "bowed": 55, "bell": 60, "drum": 36, "hat": 60}

_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
_CORPUS_FORMAT = "wavediff-demo-corpus"
_CORPUS_VERSION = 1


def _scale(root: int) -> list[int]:
    """Major scale over two octaves from ``root`` (15 MIDI notes, both ends included)."""
    notes = [root + 12 * octave + step for octave in range(2) for step in _MAJOR_STEPS]
    return notes + [root + 24]


def generate_demo_clip(
    kind: str,
    midi_pitch: int,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    seconds: float = 1.0,
) -> np.ndarray:
    """Synthesise one note of class ``kind`` at ``midi_pitch``.

    Args:
        kind: one of :data:`DEMO_CLASSES`.
        midi_pitch: MIDI note number (60 = C4); its frequency must be below sample_rate / 6.
        rng: the generator all randomness is drawn from (velocity, detune, onset, timbre,
            room); the same generator state gives bit-identical output.
        sample_rate: samples per second (>= 8000).
        seconds: clip length in seconds (>= 0.1).

    Returns:
        float32 array of shape ``(round(seconds * sample_rate),)``, zero-mean, peak in
        [0.5, 0.9].
    """
    audio, _ = render_note(kind, midi_pitch, rng, sample_rate, seconds)
    return audio


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class DemoCorpusConfig:
    """What to generate.

    Attributes:
        sample_rate: Hz (>= 8000).
        clip_seconds: length of every clip in seconds (>= 0.1).
        clips_per_class: number of clips of each class (>= 1).
        notes: how many notes of each class's scale are played, from its lowest (1..15; 15:
            the whole two-octave scale). Fewer notes: fewer pitches for a generator to choose
            between in each class.
        seed: non-negative integer; the whole corpus is a function of it.
        classes: labels to include, a subset of :data:`DEMO_CLASSES`; their order
            defines ``label_index``.
    """

    sample_rate: int = 16000
    clip_seconds: float = 1.0
    clips_per_class: int = 48
    seed: int = 0
    notes: int = 15
    classes: tuple[str, ...] = field(default=DEMO_CLASSES)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        if not self.classes:
            raise ValueError("classes must not be empty")
        unknown = [c for c in self.classes if c not in DEMO_CLASSES]
        if unknown:
            raise ValueError(f"unknown demo classes {unknown}; expected a subset of {DEMO_CLASSES}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"duplicate classes in {self.classes}")
        if int(self.sample_rate) != self.sample_rate or self.sample_rate < 8000:
            raise ValueError(f"sample_rate must be an integer >= 8000, got {self.sample_rate}")
        if self.clip_seconds < 0.1:
            raise ValueError(f"clip_seconds must be >= 0.1, got {self.clip_seconds}")
        if int(self.clips_per_class) != self.clips_per_class or self.clips_per_class < 1:
            raise ValueError(f"clips_per_class must be a positive integer, got {self.clips_per_class}")
        if int(self.notes) != self.notes or not 1 <= self.notes <= 15:
            raise ValueError(f"notes must be an integer in 1..15 (the notes of a two-octave major scale), "
                             f"got {self.notes}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")

    @property
    def num_samples(self) -> int:
        """Samples per clip."""
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def total_seconds(self) -> float:
        """Total audio duration of the corpus in seconds."""
        return len(self.classes) * self.clips_per_class * self.num_samples / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``classes`` as a list)."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        if self.notes == 15:  # the whole scale, once the only choice: folders written then still match
            del d["notes"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DemoCorpusConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "classes": tuple(d.get("classes", DEMO_CLASSES))})


@dataclass(frozen=True, eq=False)
class DemoClip:
    """One clip of the demo corpus.

    Attributes:
        audio: float32 array of shape ``(samples,)`` in [-1, 1].
        sample_rate: Hz.
        label: class name.
        label_index: position of ``label`` in the config's ``classes``.
        midi_pitch: MIDI note number the note was played at (before a few cents of detune).
        id: stable identifier ``<label>_<index:04d>_m<midi>``, also the file stem on disk.
        params: performance parameters drawn for the clip (velocity in [0.5, 1],
            detune_cents, onset_s, peak).
    """

    audio: np.ndarray
    sample_rate: int
    label: str
    label_index: int
    midi_pitch: int
    id: str
    params: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Clip length in seconds."""
        return self.audio.shape[0] / self.sample_rate

    @property
    def relpath(self) -> str:
        """Path of the clip's wav file relative to the corpus folder (POSIX separators)."""
        return f"{self.label}/{self.id}.wav"


def _class_pitches(label: str, count: int, seed: int, notes: int = 15) -> list[int]:
    """``count`` notes of the lowest ``notes`` of the class's scale, cycling through seeded
    shuffles of them."""
    scale = _scale(DEMO_REGISTERS[label])[:notes]
    rng = np.random.default_rng([seed, label_key(label), 1])
    pitches: list[int] = []
    while len(pitches) < count:
        pitches.extend(scale[i] for i in rng.permutation(len(scale)))
    return pitches[:count]


def generate_demo_corpus(cfg: DemoCorpusConfig | None = None) -> list[DemoClip]:
    """Generate the whole corpus in memory.

    Args:
        cfg: what to generate; ``None`` means ``DemoCorpusConfig()``.

    Returns:
        ``len(cfg.classes) * cfg.clips_per_class`` clips, grouped by class in
        ``cfg.classes`` order, each with audio of shape ``(cfg.num_samples,)``.
    """
    cfg = cfg or DemoCorpusConfig()
    clips: list[DemoClip] = []
    for label_index, label in enumerate(cfg.classes):
        for i, midi in enumerate(_class_pitches(label, cfg.clips_per_class, cfg.seed, cfg.notes)):
            rng = np.random.default_rng([cfg.seed, label_key(label), 0, i])
            audio, params = render_note(label, midi, rng, cfg.sample_rate, cfg.clip_seconds)
            clips.append(
                DemoClip(
                    audio=audio,
                    sample_rate=cfg.sample_rate,
                    label=label,
                    label_index=label_index,
                    midi_pitch=midi,
                    id=f"{label}_{i:04d}_m{midi}",
                    params=params,
                )
            )
    return clips


def corpus_to_arrays(clips: list[DemoClip]) -> tuple[np.ndarray, np.ndarray, int]:
    """Stack clips for training.

    Returns:
        ``(audio, labels, sample_rate)``: audio float32 of shape ``(N, 1, samples)``,
        labels int64 of shape ``(N,)`` (``label_index``), and the common sample rate in Hz.
    """
    if not clips:
        raise ValueError("no clips to stack")
    rates = {c.sample_rate for c in clips}
    lengths = {c.audio.shape[0] for c in clips}
    if len(rates) != 1 or len(lengths) != 1:
        raise ValueError(f"clips must share one sample rate and length, got {rates} / {lengths}")
    audio = np.stack([c.audio for c in clips])[:, None, :].astype(np.float32, copy=False)
    labels = np.array([c.label_index for c in clips], dtype=np.int64)
    return audio, labels, rates.pop()


# --------------------------------------------------------------------------- on disk


def write_demo_corpus(
    out_dir: str | os.PathLike[str], cfg: DemoCorpusConfig | None = None, overwrite: bool = False
) -> Path:
    """Generate the corpus and write it in the generic folder layout.

    Writes ``out_dir/<label>/<id>.wav`` (mono 16-bit PCM), ``out_dir/metadata.csv``
    (path, label, label_index, midi_pitch, duration_s; paths relative to ``out_dir``),
    ``out_dir/split.json`` (stratified 80/10/10, seeded) and ``out_dir/corpus.json`` (the
    config). Every file is written atomically. Writing the same config again leaves the
    folder byte-identical (and resumes an interrupted write).

    Args:
        out_dir: target folder, created if missing.
        cfg: what to generate; ``None`` means ``DemoCorpusConfig()``.
        overwrite: replace a folder that holds a different demo corpus or other
            ``<subdir>/*.wav`` files. Stale wav files of the old content are deleted;
            files that are not wavs in first-level subfolders are never touched.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        CorpusExistsError: ``out_dir`` holds a different corpus (another config, or
            wav files that are not part of this one) and ``overwrite`` is False.
    """
    cfg = cfg or DemoCorpusConfig()
    manifest = {"format": _CORPUS_FORMAT, "version": _CORPUS_VERSION, "config": cfg.to_dict()}
    clips = generate_demo_corpus(cfg)
    audio = {c.relpath: c.audio for c in clips}
    plan = [PlannedClip(label=c.label, id=c.id, meta={"midi_pitch": c.midi_pitch}) for c in clips]
    write_corpus(out_dir, manifest, plan, lambda clip: audio[clip.relpath], cfg.sample_rate,
                 ("midi_pitch", "duration_s"), seed=cfg.seed, overwrite=overwrite)
    return Path(out_dir)
