"""Built-in demo corpus: short synthetic instrument notes generated in code.

The demo corpus lets ``wavediff demo`` and the test-suite run end to end without
downloading anything. Every clip is a single note of one of five instrument-like
classes, synthesised with numpy/scipy from a seeded :class:`numpy.random.Generator`:

``pluck``
    Karplus-Strong plucked string: one period of a triangular string shape (set by the
    pluck position) plus a filtered noise burst excites a delay-line loop whose two-tap averaging filter sets how fast the
    upper harmonics die (the damping/brightness parameter) and whose first-order
    all-pass tunes the loop to a fractional period, so the pitch is exact.
``bowed``
    Sustained harmonic tone: up to 24 partials whose amplitudes follow a spectral tilt
    (steeper for softer notes), an ADSR envelope, delayed vibrato and slow bow-pressure
    wobble.
``bell``
    Struck bell: inharmonic partials (hum, prime, minor-third tierce, quint, nominal and
    higher modes) with exponential decays that shorten with frequency, slow beating
    between split partials, and a short mallet click.
``drum``
    Pitched membrane: a sine whose pitch falls quickly from above onto the labelled
    note, a weaker second membrane mode at 1.59 x f0, and a band-passed noise burst.
``hat``
    Metallic noise percussion: six band-limited square waves at inharmonic ratios mixed
    with noise, high-passed, with a closed (short) or open (longer) decay. Its MIDI
    pitch sets the tuning of the metallic oscillators.

Each class has its own register: a major scale over two octaves (15 notes) starting
at C3 (pluck), G3 (bowed), C4 (bell), C2 (drum) and C4 (hat). Notes are drawn from the
scale in shuffled cycles, so every pitch appears about equally often. Per clip, the
generator draws a velocity (which sets brightness and peak level), a detune of a few
cents, an onset offset inside the clip and a gentle synthetic room (an exponentially
decaying, low-passed noise impulse response mixed 12-20 dB below the dry note). Every
clip is DC-blocked, faded out over its last 10 ms and peak-normalised to 0.5-0.9.

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

On disk (:func:`write_demo_corpus`) the corpus uses the generic folder layout::

    out_dir/<label>/<id>.wav     16-bit PCM, mono
    out_dir/metadata.csv         path,label,label_index,midi_pitch,duration_s
    out_dir/split.json           {"train": [...], "valid": [...], "test": [...]}
    out_dir/corpus.json          the config that produced the folder
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf
from scipy import signal

__all__ = [
    "DEMO_CLASSES",
    "DEMO_REGISTERS",
    "PITCHED_CLASSES",
    "DemoClip",
    "DemoCorpusConfig",
    "DemoCorpusExistsError",
    "corpus_to_arrays",
    "demo_split",
    "generate_demo_clip",
    "generate_demo_corpus",
    "midi_to_hz",
    "midi_to_note_name",
    "write_demo_corpus",
]

#: Class labels of the demo corpus, in label-index order.
DEMO_CLASSES: tuple[str, ...] = ("pluck", "bowed", "bell", "drum", "hat")

#: Classes whose waveform has a clear fundamental at the labelled MIDI pitch.
PITCHED_CLASSES: tuple[str, ...] = ("pluck", "bowed", "drum")

#: Lowest MIDI note of each class's two-octave major scale.
DEMO_REGISTERS: dict[str, int] = {"pluck": 48, "bowed": 55, "bell": 60, "drum": 36, "hat": 60}

_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_CORPUS_FORMAT = "wavediff-demo-corpus"
_CORPUS_VERSION = 1


# --------------------------------------------------------------------------- helpers


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency in Hz of a (possibly fractional) MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)


def midi_to_note_name(midi: int) -> str:
    """Scientific pitch name of a MIDI note, e.g. ``60 -> "C4"``, ``61 -> "C#4"``."""
    midi = int(midi)
    return f"{_NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def _scale(root: int) -> list[int]:
    """Major scale over two octaves from ``root`` (15 MIDI notes, both ends included)."""
    notes = [root + 12 * octave + step for octave in range(2) for step in _MAJOR_STEPS]
    return notes + [root + 24]


def _exp_decay(t: np.ndarray, t60: float) -> np.ndarray:
    """Amplitude envelope falling by 60 dB after ``t60`` seconds (``t`` in seconds)."""
    return np.exp(-6.907755 * t / t60)


def _fade(n: int) -> np.ndarray:
    """Raised-cosine ramp 0 -> 1 of ``n`` samples."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))


def _smooth_noise(rng: np.random.Generator, n: int, sr: int, cutoff_hz: float) -> np.ndarray:
    """Unit-RMS low-pass noise of ``n`` samples (slow random modulation)."""
    sos = signal.butter(2, cutoff_hz, "lowpass", fs=sr, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n + sr // 2))[sr // 2 :]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _band_limited_square(phase: np.ndarray, f: float, sr: int) -> np.ndarray:
    """Square wave (odd harmonics 1/k below 0.45*sr) from a phase ramp in radians."""
    out = np.zeros_like(phase)
    k = 1
    while k * f < 0.45 * sr:
        out += np.sin(k * phase) / k
        k += 2
    return out


# --------------------------------------------------------------------------- synthesis


@dataclass(frozen=True)
class _Note:
    """Per-clip performance parameters drawn from the clip's generator."""

    f0: float  # Hz, including detune
    velocity: float  # 0.5 .. 1.0
    onset: int  # samples of silence before the note
    n: int  # clip length in samples
    sr: int


def _pluck(note: _Note, rng: np.random.Generator) -> np.ndarray:
    sr, n, v = note.sr, note.n, note.velocity
    period = sr / note.f0
    # Excitation: one period of the string's initial shape, a triangle peaking at the pluck
    # position (harmonic k weighted sin(k*pi*position)/k^2), plus noise for the finger/pick
    # texture; softer plucks are darker (stronger low-pass) and carry less noise.
    burst_len = max(int(round(period)), 2)
    position = rng.uniform(0.1, 0.3)
    apex = position * burst_len
    idx = np.arange(burst_len)
    shape = np.where(idx < apex, idx / apex, (burst_len - idx) / (burst_len - apex))
    shape -= shape.mean()
    shape /= np.sqrt(np.mean(shape**2)) + 1e-12
    burst = shape + (0.3 + 0.5 * v) * rng.uniform(-1.0, 1.0, burst_len) * np.sqrt(3.0)
    pole = 0.05 + 0.6 * (1.0 - v)
    burst = signal.lfilter([1.0 - pole], [1.0, -pole], burst)
    # Loop: y[n] = x[n] + g * A(z) * S(z) * z^-N y[n], S = (1-s) + s z^-1 (damping), A = all-pass.
    s = rng.uniform(0.3, 0.5)  # brightness: 0.5 = darkest, lower = brighter and longer
    t60 = rng.uniform(0.8, 2.0) * (1.0 + 0.3 * (220.0 / note.f0) ** 0.5)
    g = 10.0 ** (-3.0 / (t60 * note.f0))  # per-period loss -> fundamental decays 60 dB in t60
    n_int = int(np.floor(period - s - 0.5))
    frac = period - s - n_int  # in [0.5, 1.5): all-pass phase delay at low frequencies
    c = (1.0 - frac) / (1.0 + frac)
    loop_num = np.convolve([1.0 - s, s], [c, 1.0])  # S(z) * all-pass numerator
    a_f = np.array([1.0, c])  # all-pass denominator
    denom = np.zeros(n_int + 3)
    denom[:2] = a_f
    denom[n_int : n_int + 3] -= g * loop_num
    x = np.zeros(n - note.onset)
    x[: min(burst_len, x.size)] = burst[: x.size]
    y = signal.lfilter(a_f, denom, x)
    return np.concatenate([np.zeros(note.onset), y])


def _bowed(note: _Note, rng: np.random.Generator) -> np.ndarray:
    sr, n, v = note.sr, note.n, note.velocity
    m = n - note.onset
    t = np.arange(m) / sr
    seconds = n / sr
    # Vibrato: fades in after the attack; the pitch stays centred on f0.
    rate = rng.uniform(4.5, 6.5)
    depth_cents = rng.uniform(8.0, 25.0)
    vib_start = rng.uniform(0.1, 0.25)
    vib_fade = np.clip((t - vib_start) / 0.2, 0.0, 1.0)
    cents = depth_cents * vib_fade * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    inst_f = note.f0 * 2.0 ** (cents / 1200.0)
    phase = 2 * np.pi * np.cumsum(inst_f) / sr
    # Partials with a spectral tilt (softer -> steeper), mild even-harmonic weakening.
    n_partials = int(min(24, np.floor(0.45 * sr / (note.f0 * 1.02))))
    k = np.arange(1, n_partials + 1)
    tilt = 2.1 - 0.9 * v + rng.uniform(-0.2, 0.2)
    amps = k ** (-tilt) * rng.uniform(0.8, 1.2, n_partials)
    amps[1::2] *= rng.uniform(0.5, 1.0)
    phases0 = rng.uniform(0, 2 * np.pi, n_partials)
    tone = (amps[:, None] * np.sin(k[:, None] * phase[None, :] + phases0[:, None])).sum(0)
    # ADSR envelope with slow bow-pressure wobble.
    attack = rng.uniform(0.03, 0.12)
    decay = rng.uniform(0.05, 0.15)
    sustain = rng.uniform(0.6, 0.85)
    release = rng.uniform(0.08, 0.2)
    note_off = min(rng.uniform(0.5, 0.8) * seconds, seconds - note.onset / sr - release)
    note_off = max(note_off, attack + decay)
    env = np.interp(
        t,
        [0.0, attack, attack + decay, note_off, note_off + release],
        [0.0, 1.0, sustain, 0.9 * sustain, 0.0],
    )
    env *= 1.0 + 0.05 * _smooth_noise(rng, m, sr, 3.0)
    return np.concatenate([np.zeros(note.onset), tone * env])


_BELL_PARTIALS = (  # (ratio to prime, relative amplitude)
    (0.5, 0.35),
    (1.0, 1.0),
    (1.19, 0.5),
    (1.5, 0.3),
    (2.0, 0.7),
    (2.51, 0.3),
    (2.66, 0.25),
    (3.01, 0.2),
    (4.16, 0.15),
    (5.43, 0.1),
)


def _bell(note: _Note, rng: np.random.Generator) -> np.ndarray:
    sr, n, v = note.sr, note.n, note.velocity
    m = n - note.onset
    t = np.arange(m) / sr
    base_t60 = rng.uniform(1.2, 2.8)
    out = np.zeros(m)
    for ratio, amp in _BELL_PARTIALS:
        f = note.f0 * ratio * (1.0 + rng.uniform(-0.006, 0.006))
        if f >= 0.45 * sr:
            continue
        bright = v ** (0.5 * ratio)  # soft strikes excite high modes less
        t60 = base_t60 * ratio ** (-0.8)
        # Each mode is a slightly split pair -> slow beating.
        split = rng.uniform(0.3, 2.0)
        mix = rng.uniform(0.2, 0.5)
        ph = rng.uniform(0, 2 * np.pi, 2)
        mode = np.sin(2 * np.pi * f * t + ph[0]) + mix * np.sin(2 * np.pi * (f + split) * t + ph[1])
        out += amp * bright * rng.uniform(0.8, 1.2) * _exp_decay(t, t60) * mode
    # Mallet click: short high-passed noise.
    click_len = min(int(0.01 * sr), m)
    sos = signal.butter(2, 0.25 * sr, "highpass", fs=sr, output="sos")
    click = signal.sosfilt(sos, rng.standard_normal(click_len)) * _exp_decay(t[:click_len], 0.008)
    out[:click_len] += 0.3 * v * click
    out[: int(0.002 * sr)] *= _fade(int(0.002 * sr))
    return np.concatenate([np.zeros(note.onset), out])


def _drum(note: _Note, rng: np.random.Generator) -> np.ndarray:
    sr, n, v = note.sr, note.n, note.velocity
    m = n - note.onset
    t = np.arange(m) / sr
    # Membrane: pitch falls from above onto f0.
    start_ratio = 1.4 + 1.2 * v + rng.uniform(-0.1, 0.1)
    tau = rng.uniform(0.008, 0.025)
    inst_f = note.f0 * (1.0 + (start_ratio - 1.0) * np.exp(-t / tau))
    phase = 2 * np.pi * np.cumsum(inst_f) / sr
    t60 = rng.uniform(0.4, 0.9) * (1.0 + 0.3 * (110.0 / note.f0) ** 0.5)
    body = np.sin(phase) * _exp_decay(t, t60)
    body += rng.uniform(0.1, 0.25) * np.sin(1.594 * phase + rng.uniform(0, 2 * np.pi)) * _exp_decay(t, 0.3 * t60)
    # Stick/skin noise burst.
    centre = min(rng.uniform(1500.0, 4000.0), 0.3 * sr)
    sos = signal.butter(2, [0.6 * centre, 1.5 * centre], "bandpass", fs=sr, output="sos")
    burst = signal.sosfilt(sos, rng.standard_normal(m)) * _exp_decay(t, rng.uniform(0.03, 0.1))
    burst /= np.max(np.abs(burst)) + 1e-12
    out = body + (0.15 + 0.3 * v) * burst
    out[: int(0.001 * sr)] *= _fade(int(0.001 * sr))
    return np.concatenate([np.zeros(note.onset), out])


_HAT_RATIOS = (1.0, 1.47, 1.83, 2.53, 2.69, 3.91)


def _hat(note: _Note, rng: np.random.Generator) -> np.ndarray:
    sr, n, v = note.sr, note.n, note.velocity
    m = n - note.onset
    t = np.arange(m) / sr
    metal = np.zeros(m)
    for ratio in _HAT_RATIOS:
        f = note.f0 * ratio * (1.0 + rng.uniform(-0.015, 0.015))
        metal += _band_limited_square(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi), f, sr)
    metal /= np.max(np.abs(metal)) + 1e-12
    noise = rng.standard_normal(m) / 3.0
    mix = rng.uniform(0.4, 0.7)
    raw = mix * metal + (1.0 - mix) * noise
    sos = signal.butter(4, min(rng.uniform(0.2, 0.28) * sr, 7000.0), "highpass", fs=sr, output="sos")
    open_hat = rng.uniform() < 0.3
    t60 = rng.uniform(0.3, 0.6) if open_hat else rng.uniform(0.05, 0.15)
    env = _exp_decay(t, t60) * (0.6 + 0.4 * v)
    out = signal.sosfilt(sos, raw) * env
    out[: int(0.001 * sr)] *= _fade(int(0.001 * sr))
    return np.concatenate([np.zeros(note.onset), out])


_SYNTHS: dict[str, Callable[[_Note, np.random.Generator], np.ndarray]] = {
    "pluck": _pluck,
    "bowed": _bowed,
    "bell": _bell,
    "drum": _drum,
    "hat": _hat,
}


def _room(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Add a gentle synthetic room: decaying low-passed noise IR, 12-20 dB below the dry note."""
    t60 = rng.uniform(0.2, 0.5)
    n_ir = int(t60 * sr)
    predelay = int(rng.uniform(0.003, 0.012) * sr)
    ir = rng.standard_normal(n_ir) * _exp_decay(np.arange(n_ir) / sr, t60)
    pole = rng.uniform(0.3, 0.7)
    ir = signal.lfilter([1.0 - pole], [1.0, -pole], ir)
    ir = np.concatenate([np.zeros(predelay), ir / np.sqrt(np.sum(ir**2))])
    wet = signal.fftconvolve(x, ir)[: x.size]
    return x + 10.0 ** (-rng.uniform(12.0, 20.0) / 20.0) * wet


def _finish(x: np.ndarray, sr: int, peak: float) -> np.ndarray:
    """DC-block, fade the last 10 ms, remove the mean and normalise to ``peak``."""
    r = 1.0 - 2 * np.pi * 10.0 / sr  # one-pole DC blocker, ~10 Hz
    x = signal.lfilter([1.0, -1.0], [1.0, -r], x)
    n_fade = min(int(0.01 * sr), x.size)
    x[x.size - n_fade :] *= _fade(n_fade)[::-1]
    x = x - x.mean()
    return x * (peak / (np.max(np.abs(x)) + 1e-12))


def _render(
    kind: str, midi_pitch: int, rng: np.random.Generator, sample_rate: int, seconds: float
) -> tuple[np.ndarray, dict[str, float]]:
    if kind not in _SYNTHS:
        raise ValueError(f"unknown demo class {kind!r}; expected one of {DEMO_CLASSES}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000 Hz, got {sample_rate}")
    if seconds < 0.1:
        raise ValueError(f"clips must be at least 0.1 s long, got {seconds}")
    if not 0 <= int(midi_pitch) <= 127:
        raise ValueError(f"midi_pitch must be in 0..127, got {midi_pitch}")
    if midi_to_hz(midi_pitch) > sample_rate / 6.0:
        raise ValueError(
            f"MIDI {midi_pitch} ({midi_to_hz(midi_pitch):.0f} Hz) is too high for "
            f"sample_rate={sample_rate} (limit sample_rate / 6)"
        )
    n = int(round(seconds * sample_rate))
    velocity = float(rng.uniform(0.5, 1.0))
    detune = float(rng.uniform(-8.0, 8.0))
    onset_s = float(rng.uniform(0.005, min(0.08, 0.15 * seconds)))
    note = _Note(
        f0=midi_to_hz(midi_pitch + detune / 100.0),
        velocity=velocity,
        onset=int(round(onset_s * sample_rate)),
        n=n,
        sr=int(sample_rate),
    )
    dry = _SYNTHS[kind](note, rng)
    wet = _room(dry, rng, note.sr)
    peak = 0.5 + 0.4 * (velocity - 0.5) / 0.5
    audio = _finish(wet, note.sr, peak).astype(np.float32)
    params = {"velocity": velocity, "detune_cents": detune, "onset_s": note.onset / sample_rate, "peak": peak}
    return audio, params


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
    audio, _ = _render(kind, midi_pitch, rng, sample_rate, seconds)
    return audio


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class DemoCorpusConfig:
    """What to generate.

    Attributes:
        sample_rate: Hz (>= 8000).
        clip_seconds: length of every clip in seconds (>= 0.1).
        clips_per_class: number of clips of each class (>= 1).
        seed: non-negative integer; the whole corpus is a function of it.
        classes: labels to include, a subset of :data:`DEMO_CLASSES`; their order
            defines ``label_index``.
    """

    sample_rate: int = 16000
    clip_seconds: float = 1.0
    clips_per_class: int = 48
    seed: int = 0
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
    def note_name(self) -> str:
        """Scientific pitch name of ``midi_pitch``, e.g. ``"C4"``."""
        return midi_to_note_name(self.midi_pitch)

    @property
    def duration_s(self) -> float:
        """Clip length in seconds."""
        return self.audio.shape[0] / self.sample_rate

    @property
    def relpath(self) -> str:
        """Path of the clip's wav file relative to the corpus folder (POSIX separators)."""
        return f"{self.label}/{self.id}.wav"


def _label_key(label: str) -> int:
    return zlib.crc32(label.encode("utf-8"))


def _class_pitches(label: str, count: int, seed: int) -> list[int]:
    """``count`` notes of the class's scale, cycling through seeded shuffles of it."""
    scale = _scale(DEMO_REGISTERS[label])
    rng = np.random.default_rng([seed, _label_key(label), 1])
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
        for i, midi in enumerate(_class_pitches(label, cfg.clips_per_class, cfg.seed)):
            rng = np.random.default_rng([cfg.seed, _label_key(label), 0, i])
            audio, params = _render(label, midi, rng, cfg.sample_rate, cfg.clip_seconds)
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


def demo_split(
    clips: list[DemoClip], seed: int, valid_fraction: float = 0.1, test_fraction: float = 0.1
) -> dict[str, list[str]]:
    """Seeded split stratified by class.

    Each class with at least 3 clips gives ``max(1, round(fraction * n))`` clips to valid
    and to test, the rest to train (classes with fewer clips go to train only).

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}`` of sorted relative paths
        (:attr:`DemoClip.relpath`); disjoint and covering all clips.
    """
    split: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    by_label: dict[str, list[DemoClip]] = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    for label, members in by_label.items():
        members = sorted(members, key=lambda c: c.id)
        n = len(members)
        order = np.random.default_rng([seed, _label_key(label), 2]).permutation(n)
        n_valid = max(1, int(round(valid_fraction * n))) if n >= 3 else 0
        n_test = max(1, int(round(test_fraction * n))) if n >= 3 else 0
        for rank, j in enumerate(order):
            part = "valid" if rank < n_valid else "test" if rank < n_valid + n_test else "train"
            split[part].append(members[j].relpath)
    return {k: sorted(v) for k, v in split.items()}


# --------------------------------------------------------------------------- on disk


class DemoCorpusExistsError(FileExistsError):
    """The target folder already holds something other than this demo corpus."""


def _wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``;
    leaves an existing identical file untouched."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _metadata_csv(clips: list[DemoClip]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "label_index", "midi_pitch", "duration_s"])
    for c in clips:
        writer.writerow([c.relpath, c.label, c.label_index, c.midi_pitch, f"{c.duration_s:.6f}"])
    return buf.getvalue().encode("utf-8")


def _manifest(cfg: DemoCorpusConfig) -> dict[str, Any]:
    return {"format": _CORPUS_FORMAT, "version": _CORPUS_VERSION, "config": cfg.to_dict()}


def _existing_wavs(out_dir: Path) -> set[str]:
    return {p.relative_to(out_dir).as_posix() for p in out_dir.glob("*/*.wav")}


def _check_target_folder(out: Path, manifest: dict[str, Any], planned: set[str], overwrite: bool,
                         error: type[Exception] | None = None) -> list[str]:
    """Refuse to write a corpus into an existing folder that holds another one (a different
    ``corpus.json`` or wav files not in ``planned``) unless ``overwrite``; returns the stray
    wav paths (relative to ``out``). Shared by every generic-layout corpus writer."""
    problems: list[str] = []
    marker = out / "corpus.json"
    if marker.is_file():
        try:
            old = json.loads(marker.read_text("utf-8"))
        except (OSError, ValueError):
            old = None
        if old != manifest:
            problems.append(f"{marker} describes a different corpus")
    stray = sorted(_existing_wavs(out) - planned)
    if stray:
        problems.append(f"{len(stray)} wav file(s) not in this corpus, e.g. {stray[0]}")
    if problems and not overwrite:
        raise (error or DemoCorpusExistsError)(
            f"refusing to mix corpora in {out}: {'; '.join(problems)}. "
            "Use another folder or pass overwrite=True."
        )
    return stray


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
        DemoCorpusExistsError: ``out_dir`` holds a different corpus (another config, or
            wav files that are not part of this one) and ``overwrite`` is False.
    """
    cfg = cfg or DemoCorpusConfig()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory")
    manifest = _manifest(cfg)
    clips = generate_demo_corpus(cfg)
    expected = {c.relpath for c in clips}

    if out.is_dir():
        stray = _check_target_folder(out, manifest, expected, overwrite)
        for rel in stray:
            (out / rel).unlink()
        for sub in out.iterdir():
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()

    out.mkdir(parents=True, exist_ok=True)
    # The marker goes first so that an interrupted write is recognised and completed.
    _write_atomic(out / "corpus.json", (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    for clip in clips:
        _write_atomic(out / clip.relpath, _wav_bytes(clip.audio, clip.sample_rate))
    _write_atomic(out / "metadata.csv", _metadata_csv(clips))
    split = demo_split(clips, cfg.seed)
    _write_atomic(out / "split.json", (json.dumps(split, indent=2) + "\n").encode("utf-8"))
    return out
