"""SoundFont corpus: sampled-instrument notes and short phrases rendered locally.

Renders an NSynth-style corpus from a General MIDI SoundFont (SF2) with the
``tinysoundfont`` synthesiser, so real recorded instrument samples are available
without downloading a dataset:

notes
    A grid of GM program x MIDI pitch x velocity. Each note starts at time 0, is held
    for ``hold_fraction`` of the clip and then released, so a clip has an attack, a
    sustain or decay, and the instrument's release. By default each program is played
    over its natural register (:func:`program_register`); ``pitches`` sets an explicit
    list instead.
phrases
    Short multi-instrument passages built in code from MIDI events: a chord
    progression (block chords, arpeggios, Alberti bass or strums), a bass line, an
    optional melody and an optional drum groove, in a key, mode and tempo drawn from
    the seed.

Every clip has exactly ``round(clip_seconds * sample_rate)`` samples: the synthesiser
is asked for an exact number of frames at ``render_rate`` and the result is resampled
with soxr and cut to length, so a note that never ends cannot make a clip longer.
Channels are averaged to mono, a 15 Hz high-pass removes the DC offset some samples
carry, the last 10 ms are faded out, and the clip is peak-normalised to
``peak * (0.35 + 0.65 * velocity / 127)`` (notes; phrases use ``peak``), so the
velocity survives as level and nothing clips. Renders that come out silent (a
SoundFont without a sample for that program or key) are skipped and listed in one
warning.

The default SoundFont is the small General MIDI bank ``TimGM6mb.sf2`` that the
``pretty_midi`` package ships (:func:`default_soundfont`); any other SF2 can be given
with ``sf2=PATH`` (e.g. ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` from Debian's
``fluid-soundfont-gm``).

The notes are the SoundFont's samples: in ``TimGM6mb.sf2``, for instance, the
drawbar and church organs (programs 16-19) sound a 16-foot stop an octave below the
note about as loudly as the note itself, so a pitch tracker may report the lower
octave for them.

Labels (``label=``): ``"family"`` (default) is the instrument family of the GM
program (:func:`gm_family`: keyboard, organ, guitar, bass, string, flute, brass,
reed, ...); ``"program"`` is ``<family>_<program:03d>``; ``"pitch"`` is
``midi<pitch:03d>``. Phrases are always labelled ``"phrase"``.

On disk (:func:`write_soundfont_corpus`) the corpus uses the generic folder layout::

    out_dir/<label>/<id>.wav     16-bit PCM, mono
    out_dir/metadata.csv         path,label,label_index,kind,midi_pitch,velocity,program,
                                 instrument,family,description,duration_s
    out_dir/split.json           {"train": [...], "valid": [...], "test": [...]}
    out_dir/corpus.json          the config, the SoundFont's name and SHA-256

Everything is a deterministic function of the config and the SoundFont file: writing
the same config twice gives byte-identical folders.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import math
import os
import warnings
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from scipy import signal

# the generic-layout writers are shared with the demo corpus
from wavediff.data.demo import (
    DemoCorpusExistsError,
    _check_target_folder,
    _existing_wavs,
    _wav_bytes,
    _write_atomic,
    demo_split,
    midi_to_hz,
)

__all__ = [
    "CorpusExistsError",
    "DEFAULT_PROGRAMS",
    "GM_FAMILIES",
    "SoundfontCorpusConfig",
    "default_soundfont",
    "gm_family",
    "program_register",
    "write_soundfont_corpus",
]

_CORPUS_FORMAT = "wavediff-soundfont-corpus"
_CORPUS_VERSION = 1
_DEFAULT_SF2_NAME = "TimGM6mb.sf2"
_SILENCE_PEAK = 1e-5  # a render whose peak stays below this (linear) is treated as silent
_FADE_OUT_S = 0.010
_DC_CUTOFF_HZ = 15.0  # 2nd-order high-pass that removes the DC offset of some samples

#: GM programs rendered by default: piano, church organ, nylon guitar, fingered bass,
#: string ensemble, trumpet, clarinet, flute (one per family).
DEFAULT_PROGRAMS: tuple[int, ...] = (0, 19, 24, 33, 48, 56, 71, 73)

#: Instrument family of each block of 8 General MIDI programs (names follow NSynth's
#: families where one fits). Programs 48-51 (string ensembles) count as ``string`` and
#: 52-54 (choirs, synth voice) as ``vocal``; see :func:`gm_family`.
GM_FAMILIES: tuple[str, ...] = (
    "keyboard",  # 0-7 pianos, electric pianos, harpsichord, clavinet
    "mallet",  # 8-15 chromatic percussion
    "organ",  # 16-23 organs, accordion, harmonica
    "guitar",  # 24-31
    "bass",  # 32-39
    "string",  # 40-47 solo strings, harp, timpani
    "ensemble",  # 48-55 (refined in gm_family)
    "brass",  # 56-63
    "reed",  # 64-71 saxophones, oboe, english horn, bassoon, clarinet
    "flute",  # 72-79 piccolo, flute, recorder, pan flute, ...
    "synth_lead",  # 80-87
    "synth_pad",  # 88-95
    "synth_effect",  # 96-103
    "ethnic",  # 104-111
    "percussive",  # 112-119
    "sound_effect",  # 120-127
)

# Natural register (lowest, highest MIDI note) per family, and per program where one
# instrument of a family sits far from the others.
_FAMILY_REGISTER: dict[str, tuple[int, int]] = {
    "keyboard": (33, 96),
    "mallet": (60, 96),
    "organ": (36, 96),
    "guitar": (40, 84),
    "bass": (28, 60),
    "string": (43, 91),
    "vocal": (48, 79),
    "ensemble": (48, 84),
    "brass": (42, 82),
    "reed": (48, 84),
    "flute": (60, 96),
    "synth_lead": (36, 96),
    "synth_pad": (36, 84),
}
_PROGRAM_REGISTER: dict[int, tuple[int, int]] = {
    40: (55, 100),  # violin
    41: (48, 88),  # viola
    42: (36, 76),  # cello
    43: (28, 60),  # contrabass
    46: (24, 103),  # harp
    47: (36, 60),  # timpani
    48: (36, 96),  # string ensemble
    49: (36, 96),
    57: (34, 72),  # trombone
    58: (28, 58),  # tuba
    60: (34, 77),  # french horn
    70: (34, 72),  # bassoon
    72: (74, 108),  # piccolo
}
_OTHER_REGISTER = (48, 84)

# Instrument pools the phrase generator draws from (GM programs).
_PHRASE_CHORD_PROGRAMS = (0, 1, 4, 16, 19, 24, 25, 46, 48, 49, 88, 89)
_PHRASE_BASS_PROGRAMS = (32, 33, 34, 35, 38, 43)
_PHRASE_MELODY_PROGRAMS = (11, 40, 56, 65, 68, 71, 73, 74, 80, 81)

# Scales as semitone offsets of the 7 degrees.
_SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
# (name, scale, chord roots as 0-based scale degrees, use seventh chords)
_PROGRESSIONS: tuple[tuple[str, str, tuple[int, ...], bool], ...] = (
    ("I-V-vi-IV", "major", (0, 4, 5, 3), False),
    ("I-vi-IV-V", "major", (0, 5, 3, 4), False),
    ("vi-IV-I-V", "major", (5, 3, 0, 4), False),
    ("I-IV-I-V", "major", (0, 3, 0, 4), False),
    ("ii7-V7-Imaj7-vi7", "major", (1, 4, 0, 5), True),
    ("IV-V-iii-vi", "major", (3, 4, 2, 5), False),
    ("i-VI-III-VII", "minor", (0, 5, 2, 6), False),
    ("i-VII-VI-VII", "minor", (0, 6, 5, 6), False),
    ("i-iv-V-i", "harmonic_minor", (0, 3, 4, 0), False),
    ("i7-iv7-v7-i7", "minor", (0, 3, 4, 0), True),
)
_PATTERNS = ("block", "arpeggio_up", "arpeggio_updown", "alberti", "strum")


class CorpusExistsError(DemoCorpusExistsError):
    """The target folder already holds a different corpus (another config, another
    builder, or wav files that are not part of this corpus)."""


# --------------------------------------------------------------------------- GM helpers


def gm_family(program: int) -> str:
    """Instrument family name of a General MIDI program (0-based, 0..127).

    Blocks of 8 programs map to :data:`GM_FAMILIES`, except that the ensemble block
    is split: 48-51 (string ensembles, synth strings) are ``"string"``, 52-54 (choir
    aahs, voice oohs, synth voice) are ``"vocal"`` and 55 (orchestra hit) is
    ``"ensemble"``.
    """
    program = int(program)
    if not 0 <= program <= 127:
        raise ValueError(f"GM program must be in 0..127, got {program}")
    if 48 <= program <= 51:
        return "string"
    if 52 <= program <= 54:
        return "vocal"
    return GM_FAMILIES[program // 8]


def program_register(program: int) -> tuple[int, int]:
    """Natural playing range ``(lowest, highest)`` in MIDI notes of a GM program,
    used for the default pitch grid."""
    program = int(program)
    if program in _PROGRAM_REGISTER:
        return _PROGRAM_REGISTER[program]
    return _FAMILY_REGISTER.get(gm_family(program), _OTHER_REGISTER)


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it (None if absent)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        return Path(location)
    return None


def default_soundfont() -> Path:
    """Path of the General MIDI bank ``TimGM6mb.sf2`` shipped inside ``pretty_midi``.

    Raises:
        FileNotFoundError: ``pretty_midi`` is not installed or its wheel holds no
            ``TimGM6mb.sf2``; the message says to ``pip install pretty_midi`` or to
            pass ``sf2=PATH``.
    """
    pkg = _package_dir("pretty_midi")
    candidate = pkg / _DEFAULT_SF2_NAME if pkg is not None else None
    if candidate is None or not candidate.is_file():
        where = "pretty_midi is not installed" if pkg is None else f"{pkg} holds no {_DEFAULT_SF2_NAME}"
        raise FileNotFoundError(
            f"no default SoundFont: {where}. The default General MIDI bank "
            f"({_DEFAULT_SF2_NAME}) ships with pretty_midi: `pip install pretty_midi`. "
            "Or pass sf2=PATH to any General MIDI .sf2 file (e.g. "
            "/usr/share/sounds/sf2/FluidR3_GM.sf2 from `apt-get install fluid-soundfont-gm`)."
        )
    return candidate


def _import_tinysoundfont() -> Any:
    try:
        import tinysoundfont
    except ImportError as err:
        raise ImportError(
            "rendering SoundFont notes needs the tinysoundfont synthesiser: "
            "`pip install tinysoundfont`. On Linux its live-playback dependency pyaudio "
            "builds from source and needs the PortAudio headers (`apt-get install -y "
            "portaudio19-dev`); playback is not used here, so `pip install --no-deps "
            "tinysoundfont` works too."
        ) from err
    return tinysoundfont


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SoundfontCorpusConfig:
    """What to render.

    Attributes:
        sample_rate: output rate in Hz (integer >= 8000).
        render_rate: rate the synthesiser runs at in Hz; the result is resampled to
            ``sample_rate`` with soxr (no resampling when equal). A high rate avoids the
            aliasing of the synthesiser's linear sample interpolation.
        clip_seconds: length of every clip in seconds (>= 0.25).
        hold_fraction: part of the clip a note is held before note-off, in (0, 1].
        programs: GM programs (0..127) of the note grid; may be empty when
            ``phrases > 0``.
        pitches: MIDI notes of the grid for every program; ``None`` plays each program
            over :func:`program_register`. Notes at or above ``0.45 * sample_rate`` Hz
            are refused (explicit) or dropped (register).
        pitch_step: step in semitones through each register (``pitches=None`` only).
        velocities: MIDI velocities (1..127) of the grid.
        phrases: number of multi-instrument phrase clips (label ``"phrase"``).
        label: ``"family"``, ``"program"`` or ``"pitch"`` (see module docs).
        peak: peak level of a full-velocity note and of phrases, in (0, 1).
        seed: non-negative integer; sets the phrases and the train/valid/test split.
        sf2: path of the SoundFont; ``None`` uses :func:`default_soundfont`.
    """

    sample_rate: int = 16000
    render_rate: int = 44100
    clip_seconds: float = 4.0
    hold_fraction: float = 0.75
    programs: tuple[int, ...] = field(default=DEFAULT_PROGRAMS)
    pitches: tuple[int, ...] | None = None
    pitch_step: int = 1
    velocities: tuple[int, ...] = (70, 110)
    phrases: int = 32
    label: str = "family"
    peak: float = 0.9
    seed: int = 0
    sf2: str | None = None

    def __post_init__(self) -> None:
        def ints(name: str, values: Iterable[Any], lo: int, hi: int) -> tuple[int, ...]:
            out = []
            for v in values:
                if int(v) != v or not lo <= v <= hi:
                    raise ValueError(f"{name} must be integers in {lo}..{hi}, got {v!r}")
                out.append(int(v))
            if len(set(out)) != len(out):
                raise ValueError(f"duplicate values in {name}: {out}")
            return tuple(out)

        for name in ("sample_rate", "render_rate"):
            value = getattr(self, name)
            if int(value) != value or value < 8000:
                raise ValueError(f"{name} must be an integer >= 8000 Hz, got {value}")
        if not self.clip_seconds >= 0.25:
            raise ValueError(f"clip_seconds must be >= 0.25, got {self.clip_seconds}")
        if not 0.0 < self.hold_fraction <= 1.0:
            raise ValueError(f"hold_fraction must be in (0, 1], got {self.hold_fraction}")
        object.__setattr__(self, "programs", ints("programs", self.programs, 0, 127))
        object.__setattr__(self, "velocities", ints("velocities", self.velocities, 1, 127))
        if self.programs and not self.velocities:
            raise ValueError("velocities must not be empty")
        if self.pitches is not None:
            pitches = ints("pitches", self.pitches, 0, 127)
            too_high = [p for p in pitches if midi_to_hz(p) >= 0.45 * self.sample_rate]
            if too_high:
                raise ValueError(
                    f"pitches {too_high} are too high for sample_rate={self.sample_rate} "
                    f"(fundamental must stay below {0.45 * self.sample_rate:.0f} Hz)"
                )
            if self.programs and not pitches:
                raise ValueError("pitches must not be empty (or None for each program's register)")
            object.__setattr__(self, "pitches", pitches)
        if int(self.pitch_step) != self.pitch_step or self.pitch_step < 1:
            raise ValueError(f"pitch_step must be a positive integer, got {self.pitch_step}")
        if int(self.phrases) != self.phrases or self.phrases < 0:
            raise ValueError(f"phrases must be a non-negative integer, got {self.phrases}")
        if not self.programs and self.phrases == 0:
            raise ValueError("nothing to render: give programs or phrases > 0")
        if self.label not in ("family", "program", "pitch"):
            raise ValueError(f"label must be 'family', 'program' or 'pitch', got {self.label!r}")
        if not 0.0 < self.peak < 1.0:
            raise ValueError(f"peak must be in (0, 1), got {self.peak}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.sf2 is not None:
            object.__setattr__(self, "sf2", os.fspath(self.sf2))

    @property
    def num_samples(self) -> int:
        """Samples per clip at ``sample_rate``."""
        return int(round(self.clip_seconds * self.sample_rate))

    def program_pitches(self, program: int) -> tuple[int, ...]:
        """MIDI notes of the grid for ``program``."""
        if self.pitches is not None:
            return self.pitches
        lo, hi = program_register(program)
        limit = 0.45 * self.sample_rate
        return tuple(p for p in range(lo, hi + 1, self.pitch_step) if midi_to_hz(p) < limit)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples as lists)."""
        d = asdict(self)
        for key in ("programs", "velocities", "pitches"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SoundfontCorpusConfig":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("programs", "velocities", "pitches"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


# --------------------------------------------------------------------------- generic layout


@dataclass
class _Clip:
    """One planned clip: where it goes and what the metadata says about it."""

    label: str
    id: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def relpath(self) -> str:
        return f"{self.label}/{self.id}.wav"


def _finish(audio: np.ndarray, sample_rate: int, peak: float, fade_s: float) -> np.ndarray | None:
    """Raised-cosine fade-out over ``fade_s`` and peak normalisation to ``peak``;
    ``None`` when the signal is silent. ``audio``: float ``(samples,)``."""
    audio = np.asarray(audio, dtype=np.float64)
    n_fade = min(int(round(fade_s * sample_rate)), audio.shape[0])
    if n_fade > 0:
        audio = audio.copy()
        audio[-n_fade:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, n_fade + 1) / n_fade)
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if not top > _SILENCE_PEAK:
        return None
    return (audio * (peak / top)).astype(np.float32)


def _write_corpus(
    out_dir: str | os.PathLike[str],
    manifest: dict[str, Any],
    plan: Sequence[_Clip],
    render: Callable[[_Clip], np.ndarray | None],
    sample_rate: int,
    columns: Sequence[str],
    seed: int,
    overwrite: bool,
    before_render: Callable[[], None] | None = None,
    split_clips: Callable[[list[_Clip]], dict[str, list[str]]] | None = None,
) -> tuple[Path, list[_Clip], list[_Clip]]:
    """Write clips in the generic folder layout.

    ``render(clip)`` gives float32 audio ``(samples,)`` in [-1, 1] at ``sample_rate``,
    or ``None`` to skip the clip. The folder check happens before anything is
    rendered; ``before_render`` (e.g. a probe of an external tool) runs after the
    check and before the first file is written. ``split_clips`` maps the written clips
    to ``{"train", "valid", "test"}`` lists of relative paths (default: a seeded split
    stratified by label).

    Returns:
        ``(out, written, skipped)``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory")
    planned = {c.relpath for c in plan}
    if len(planned) != len(plan):
        raise ValueError("clip ids are not unique")
    existing: set[str] = set()
    if out.is_dir():
        existing = _existing_wavs(out)
        _check_target_folder(out, manifest, planned, overwrite, CorpusExistsError)
    if before_render is not None:
        before_render()

    out.mkdir(parents=True, exist_ok=True)
    # The marker goes first so that an interrupted write is recognised and completed.
    _write_atomic(out / "corpus.json", (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    written: list[_Clip] = []
    skipped: list[_Clip] = []
    for clip in plan:
        audio = render(clip)
        if audio is None:
            skipped.append(clip)
            continue
        clip.meta["duration_s"] = f"{audio.shape[0] / sample_rate:.6f}"
        _write_atomic(out / clip.relpath, _wav_bytes(audio, sample_rate))
        written.append(clip)
    if not written:
        raise RuntimeError(f"every clip rendered silent; nothing written to {out}")

    keep = {c.relpath for c in written}
    for rel in sorted(existing - keep):
        (out / rel).unlink()
    for sub in out.iterdir():
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()

    labels: list[str] = []
    for clip in written:
        if clip.label not in labels:
            labels.append(clip.label)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "label_index", *columns])
    for clip in written:
        writer.writerow(
            [clip.relpath, clip.label, labels.index(clip.label), *(clip.meta.get(c, "") for c in columns)]
        )
    _write_atomic(out / "metadata.csv", buf.getvalue().encode("utf-8"))
    if split_clips is not None:
        split = split_clips(written)
    else:
        split = demo_split(written, seed)  # type: ignore[arg-type]  # needs .label, .id, .relpath
    _write_atomic(out / "split.json", (json.dumps(split, indent=2) + "\n").encode("utf-8"))
    return out, written, skipped


# --------------------------------------------------------------------------- rendering


class _Renderer:
    """A tinysoundfont synthesiser with one SoundFont loaded, rendering event lists to
    exact-length mono clips. Between renders every voice is stopped and the output
    flushed to digital silence, so each render starts from the same state."""

    def __init__(self, sf2: Path, cfg: SoundfontCorpusConfig) -> None:
        tsf = _import_tinysoundfont()
        self.cfg = cfg
        self._dc_block = signal.butter(2, _DC_CUTOFF_HZ, "highpass", fs=cfg.sample_rate, output="sos")
        self.synth = tsf.Synth(samplerate=int(cfg.render_rate))
        try:
            self.sfid = self.synth.sfload(str(sf2))
        except Exception as err:  # the binding raises plain exceptions on bad files
            raise ValueError(f"{sf2}: cannot load SoundFont ({err})") from err

    def preset_name(self, program: int, bank: int = 0) -> str | None:
        try:
            return self.synth.sfpreset_name(self.sfid, bank, int(program))
        except Exception:
            return None

    def _flush(self) -> None:
        self.synth.sounds_off()
        for chan in range(16):
            self.synth.control_change(chan, 121, 0)  # reset all controllers
        for _ in range(200):
            block = np.frombuffer(self.synth.generate(1024), dtype=np.float32)
            if not np.any(block):
                return

    def render(self, channels: dict[int, tuple[int, bool]], events: list[tuple[float, int, int, int, int]]) -> np.ndarray:
        """Render MIDI events.

        Args:
            channels: MIDI channel -> (program, is_drums).
            events: ``(time_s, kind, channel, key, velocity)`` with kind 0 = note-off,
                1 = note-on; events at or after the clip's end are ignored.

        Returns:
            float64 array ``(cfg.num_samples,)`` at ``cfg.sample_rate`` (not normalised).
        """
        cfg = self.cfg
        n_out = cfg.num_samples
        if cfg.render_rate == cfg.sample_rate:
            n_in = n_out
        else:  # a few extra frames so the resampler's output covers the whole clip
            n_in = int(math.ceil(n_out * cfg.render_rate / cfg.sample_rate)) + 64
        for chan, (program, drums) in channels.items():
            self.synth.program_select(chan, self.sfid, 128 if drums else 0, program, is_drums=drums)
        frames = sorted(
            (int(round(t * cfg.render_rate)), kind, chan, key, vel) for t, kind, chan, key, vel in events
        )
        parts: list[np.ndarray] = []
        pos = 0
        for frame, kind, chan, key, vel in frames:
            if frame >= n_in:
                break
            if frame > pos:
                parts.append(np.frombuffer(self.synth.generate(frame - pos), dtype=np.float32))
                pos = frame
            if kind == 1:
                self.synth.noteon(chan, key, vel)
            else:
                self.synth.noteoff(chan, key)
        if n_in > pos:
            parts.append(np.frombuffer(self.synth.generate(n_in - pos), dtype=np.float32))
        self._flush()
        stereo = np.concatenate(parts).reshape(-1, 2).astype(np.float64)
        mono = stereo.mean(axis=1)
        if cfg.render_rate != cfg.sample_rate:
            import soxr

            mono = soxr.resample(mono, cfg.render_rate, cfg.sample_rate, quality="HQ")
        if mono.shape[0] < n_out:
            mono = np.pad(mono, (0, n_out - mono.shape[0]))
        # Some samples carry a DC offset; a gentle high-pass removes it without touching
        # the lowest notes (E1 = 41 Hz).
        return signal.sosfilt(self._dc_block, mono[:n_out])


def _label_for(cfg: SoundfontCorpusConfig, program: int, pitch: int) -> str:
    if cfg.label == "family":
        return gm_family(program)
    if cfg.label == "program":
        return f"{gm_family(program)}_{program:03d}"
    return f"midi{pitch:03d}"


def _plan_notes(cfg: SoundfontCorpusConfig) -> list[_Clip]:
    plan = []
    for program in cfg.programs:
        family = gm_family(program)
        for pitch in cfg.program_pitches(program):
            for velocity in cfg.velocities:
                plan.append(
                    _Clip(
                        label=_label_for(cfg, program, pitch),
                        id=f"{family}_p{program:03d}_m{pitch:03d}_v{velocity:03d}",
                        meta={
                            "kind": "note",
                            "midi_pitch": pitch,
                            "velocity": velocity,
                            "program": program,
                            "family": family,
                        },
                    )
                )
    return plan


# --------------------------------------------------------------------------- phrases


@dataclass
class _Phrase:
    """A phrase as MIDI events plus its description."""

    channels: dict[int, tuple[int, bool]]
    events: list[tuple[float, int, int, int, int]]
    tonic: int
    description: str


def _compose_phrase(seed: int, index: int, seconds: float, available: Callable[[int], bool]) -> _Phrase:
    """Compose phrase ``index``: chords, bass, optional melody and drums, fitting in
    ``0.85 * seconds`` so the last notes can ring out. ``available(program)`` says
    whether the SoundFont has the program."""
    rng = np.random.default_rng([seed, zlib.crc32(b"phrase"), index])
    name, scale_name, roots, sevenths = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    scale = _SCALES[scale_name]
    tonic_pc = int(rng.integers(12))
    tonic = 48 + tonic_pc  # C3..B3: the chord register
    pattern = _PATTERNS[int(rng.integers(len(_PATTERNS)))]

    def pick(pool: tuple[int, ...]) -> int | None:
        usable = [p for p in pool if available(p)]
        return int(usable[int(rng.integers(len(usable)))]) if usable else None

    chord_prog = pick(_PHRASE_CHORD_PROGRAMS)
    bass_prog = pick(_PHRASE_BASS_PROGRAMS) if rng.random() < 0.85 else None
    melody_prog = pick(_PHRASE_MELODY_PROGRAMS) if rng.random() < 0.7 else None
    drums = bool(rng.random() < 0.4)

    def degree_pitch(degree: int, base: int) -> int:
        return base + 12 * (degree // 7) + scale[degree % 7]

    # Tempo and harmonic rhythm: 1 or 2 beats per chord at 72-150 bpm, as many chords of
    # the (cycled) progression as fit, up to two rounds. The whole progression is always
    # played: when 2 beats per chord do not fit, 1 beat per chord is tried, and when that
    # does not fit either, the tempo goes up.
    span = 0.85 * seconds
    bpm = float(rng.uniform(72.0, 150.0))
    beats_per_chord = int(rng.choice([1, 2]))
    chord_len = beats_per_chord * 60.0 / bpm
    if span // chord_len < len(roots) and beats_per_chord == 2:
        beats_per_chord, chord_len = 1, 60.0 / bpm
    n_chords = min(2 * len(roots), int(span // chord_len))
    if n_chords < len(roots):
        n_chords = len(roots)
        chord_len = span / n_chords
        if beats_per_chord * 60.0 / chord_len > 200.0:
            beats_per_chord = 1
    beat = chord_len / beats_per_chord
    roots = tuple(roots[k % len(roots)] for k in range(n_chords))
    subdivisions = beats_per_chord * (4 if beat / 4 >= 0.1 else 2)
    step = chord_len / subdivisions
    events: list[tuple[float, int, int, int, int]] = []

    def note(t: float, dur: float, chan: int, key: int, vel: int) -> None:
        vel = int(np.clip(vel + rng.integers(-6, 7), 1, 127))
        events.append((t, 1, chan, int(key), vel))
        events.append((t + dur, 0, chan, int(key), 0))

    channels: dict[int, tuple[int, bool]] = {}
    if chord_prog is not None:
        channels[0] = (chord_prog, False)
    if bass_prog is not None:
        channels[1] = (bass_prog, False)
    if melody_prog is not None:
        channels[2] = (melody_prog, False)
    if drums:
        channels[9] = (0, True)

    melody_key = degree_pitch(int(rng.choice([0, 2, 4])), tonic + 12)
    for c, root in enumerate(roots):
        t0 = c * chord_len
        tones = [degree_pitch(root + k, tonic) for k in ((0, 2, 4, 6) if sevenths else (0, 2, 4))]
        if chord_prog is not None:
            if pattern == "block":
                for key in tones:
                    note(t0, 0.95 * chord_len, 0, key, 80)
            elif pattern == "strum":
                for k, key in enumerate(tones + [tones[0] + 12]):
                    note(t0 + 0.025 * k, 0.95 * chord_len - 0.025 * k, 0, key, 84)
            else:
                if pattern == "arpeggio_up":
                    cycle = tones + [tones[0] + 12]
                elif pattern == "arpeggio_updown":
                    seq = tones + [tones[0] + 12]
                    cycle = seq + seq[-2:0:-1]
                else:  # alberti: low, high, middle, high
                    cycle = [tones[0], tones[-1], tones[1], tones[-1]]
                for k in range(subdivisions):
                    note(t0 + k * step, 0.9 * step, 0, cycle[k % len(cycle)], 74 + (8 if k == 0 else 0))
        if bass_prog is not None:
            bass_root = degree_pitch(root, tonic - 12)
            while bass_root > 52:
                bass_root -= 12
            if rng.random() < 0.5:
                note(t0, 0.9 * chord_len, 1, bass_root, 96)
            else:
                half = chord_len / 2
                note(t0, 0.9 * half, 1, bass_root, 98)
                note(t0 + half, 0.9 * half, 1, bass_root + 7 if bass_root + 7 <= 55 else bass_root - 5, 90)
        if melody_prog is not None:
            count = int(rng.choice([1, 2, 2, 4]))
            dur = chord_len / count
            for k in range(count):
                if k == 0:  # strong beat: nearest chord tone above the tonic octave
                    targets = [tn + 12 * o for tn in tones for o in (1, 2)]
                    melody_key = min(targets, key=lambda p: (abs(p - melody_key), p))
                else:  # stepwise motion through the scale
                    degree = _nearest_degree(melody_key, tonic, scale) + int(rng.choice([-2, -1, 1, 2]))
                    melody_key = degree_pitch(degree, tonic)
                melody_key = int(np.clip(melody_key, tonic + 7, tonic + 31))
                note(t0 + k * dur, 0.92 * dur, 2, melody_key, 104)
    if drums:
        n_beats = beats_per_chord * len(roots)
        for b in range(n_beats):
            t = b * beat
            note(t, 0.1, 9, 36 if b % 2 == 0 else 38, 100 if b % 2 == 0 else 92)
            note(t, 0.05, 9, 42, 70)
            note(t + beat / 2, 0.05, 9, 42, 58)

    parts = []
    for chan, label in ((0, "chords"), (1, "bass"), (2, "melody")):
        if chan in channels:
            parts.append(f"{label}={channels[chan][0]}")
    if drums:
        parts.append("drums")
    key_name = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")[tonic_pc]
    mode = "major" if scale_name == "major" else "minor"
    description = f"{key_name} {mode} {name} {pattern}, {60.0 / beat:.0f} bpm, {len(roots)} chords; {' '.join(parts)}"
    return _Phrase(channels=channels, events=events, tonic=tonic, description=description)


def _nearest_degree(key: int, tonic: int, scale: tuple[int, ...]) -> int:
    """Scale degree (may exceed 7 or be negative) whose pitch is nearest to ``key``."""
    best, best_dist = 0, 10**9
    for degree in range(-14, 36):
        pitch = tonic + 12 * (degree // 7) + scale[degree % 7]
        if abs(pitch - key) < best_dist:
            best, best_dist = degree, abs(pitch - key)
    return best


# --------------------------------------------------------------------------- corpus


def _resolve_sf2(cfg: SoundfontCorpusConfig) -> Path:
    if cfg.sf2 is None:
        return default_soundfont()
    path = Path(cfg.sf2).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"SoundFont {path} not found (sf2=...); pass the path of a .sf2 file")
    return path


def write_soundfont_corpus(
    out_dir: str | os.PathLike[str], cfg: SoundfontCorpusConfig | None = None, overwrite: bool = False
) -> Path:
    """Render notes and phrases from a SoundFont and write them in the generic layout.

    Writes ``out_dir/<label>/<id>.wav`` (mono 16-bit PCM, ``cfg.num_samples`` samples
    at ``cfg.sample_rate``), ``out_dir/metadata.csv`` (path, label, label_index, kind,
    midi_pitch, velocity, program, instrument, family, description, duration_s; paths
    relative to ``out_dir``; for phrases midi_pitch is the tonic and velocity/program
    are empty), ``out_dir/split.json`` (stratified by label, seeded) and
    ``out_dir/corpus.json`` (config, SoundFont name and SHA-256, renderer version).
    Every file is written atomically; writing the same config again leaves the folder
    byte-identical. Silent renders are skipped and reported in one warning.

    Note ids are ``<family>_p<program>_m<pitch>_v<velocity>`` (zero-padded to 3
    digits), phrase ids ``phrase_<index:04d>``.

    Args:
        out_dir: target folder, created if missing.
        cfg: what to render; ``None`` means ``SoundfontCorpusConfig()``.
        overwrite: replace a folder that holds a different corpus or other
            ``<subdir>/*.wav`` files (stale wavs are deleted, other files kept).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        CorpusExistsError: ``out_dir`` holds a different corpus and ``overwrite`` is False.
        ImportError: tinysoundfont is not installed (the message says how to install it).
        FileNotFoundError: no SoundFont (see :func:`default_soundfont`).
    """
    cfg = cfg or SoundfontCorpusConfig()
    _import_tinysoundfont()
    sf2 = _resolve_sf2(cfg)
    manifest = {
        "format": _CORPUS_FORMAT,
        "version": _CORPUS_VERSION,
        "config": cfg.to_dict(),
        "soundfont": {"name": sf2.name, "sha256": _sha256(sf2)},
        "renderer": f"tinysoundfont {_package_version('tinysoundfont')}",
    }
    plan = _plan_notes(cfg)
    plan += [
        _Clip(label="phrase", id=f"phrase_{i:04d}", meta={"kind": "phrase"}) for i in range(cfg.phrases)
    ]
    state: dict[str, _Renderer] = {}

    def start() -> None:
        state["r"] = _Renderer(sf2, cfg)

    hold_s = cfg.hold_fraction * cfg.clip_seconds

    def render(clip: _Clip) -> np.ndarray | None:
        renderer = state["r"]
        if clip.meta["kind"] == "note":
            program, pitch, velocity = clip.meta["program"], clip.meta["midi_pitch"], clip.meta["velocity"]
            name = renderer.preset_name(program)
            if name is None:
                return None
            clip.meta["instrument"] = name
            audio = renderer.render(
                {0: (program, False)}, [(0.0, 1, 0, pitch, velocity), (hold_s, 0, 0, pitch, 0)]
            )
            level = cfg.peak * (0.35 + 0.65 * velocity / 127.0)
        else:
            index = int(clip.id.rsplit("_", 1)[1])
            phrase = _compose_phrase(
                cfg.seed, index, cfg.clip_seconds, lambda p: renderer.preset_name(p) is not None
            )
            if not phrase.channels:
                return None
            names = [renderer.preset_name(p) or str(p) for c, (p, d) in sorted(phrase.channels.items()) if not d]
            if any(d for _, d in phrase.channels.values()):
                names.append("drums")
            clip.meta.update(
                midi_pitch=phrase.tonic, instrument=" + ".join(names), description=phrase.description
            )
            audio = renderer.render(phrase.channels, phrase.events)
            level = cfg.peak
        return _finish(audio, cfg.sample_rate, level, _FADE_OUT_S)

    columns = (
        "kind", "midi_pitch", "velocity", "program", "instrument", "family", "description", "duration_s",
    )
    out, _, skipped = _write_corpus(
        out_dir, manifest, plan, render, cfg.sample_rate, columns, cfg.seed, overwrite, before_render=start
    )
    if skipped:
        shown = ", ".join(c.id for c in skipped[:8]) + (", ..." if len(skipped) > 8 else "")
        warnings.warn(
            f"skipped {len(skipped)} silent render(s) (the SoundFont {sf2.name} has no sample "
            f"for them): {shown}",
            UserWarning,
            stacklevel=2,
        )
    return out
