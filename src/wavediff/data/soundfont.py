"""SoundFont corpus: sampled-instrument notes and short phrases rendered locally.

Renders an NSynth-style corpus from a General MIDI SoundFont (SF2) with the
``tinysoundfont`` synthesiser, so real recorded instrument samples are available
without downloading a dataset:

notes
    A grid of GM program x MIDI pitch x velocity. Each note starts at time 0, is held
    for ``hold_fraction`` of the clip and then released, so a clip has an attack, a
    sustain or decay, and the instrument's release. By default each program is played
    over its natural register (:func:`~wavediff.data.general_midi.program_register`);
    ``pitches`` sets an explicit list instead.
phrases
    Short multi-instrument passages built in code from MIDI events
    (:mod:`wavediff.data.phrases`): a chord progression (block chords, arpeggios,
    Alberti bass or strums), a bass line, an optional melody and an optional drum
    groove, in a key, mode and tempo drawn from the seed.

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
program (:func:`~wavediff.data.general_midi.gm_family`: keyboard, organ, guitar, bass,
string, flute, brass, reed, ...); ``"program"`` is ``<family>_<program:03d>``;
``"pitch"`` is ``midi<pitch:03d>``. Phrases are always labelled ``"phrase"``.

On disk (:func:`write_soundfont_corpus`) the corpus uses the generic folder layout
(:mod:`wavediff.data.corpus_writer`)::

    out_dir/<label>/<id>.wav     16-bit PCM, mono
    out_dir/metadata.csv         path,label,label_index,kind,midi_pitch,velocity,program,
                                 instrument,family,description,duration_s
    out_dir/split.json           {"train": [...], "valid": [...], "test": [...]}
    out_dir/corpus.json          the config, the SoundFont's name and SHA-256

Everything is a deterministic function of the config and the SoundFont file: writing
the same config twice gives byte-identical folders.
"""


from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from wavediff.data.corpus_writer import PlannedClip, write_corpus
from wavediff.data.general_midi import gm_family, program_register
from wavediff.data.phrases import compose_phrase
from wavediff.data.soundfont_renderer import SoundfontRenderer, import_tinysoundfont
from wavediff.data.synthesis import midi_to_hz

__all__ = [
    "DEFAULT_PROGRAMS",
    "SoundfontCorpusConfig",
    "default_soundfont",
    "write_soundfont_corpus",
]

_CORPUS_FORMAT = "wavediff-soundfont-corpus"
_CORPUS_VERSION = 1
_DEFAULT_SF2_NAME = "TimGM6mb.sf2"
_SILENCE_PEAK = 1e-5  # a render whose peak stays below this (linear) is treated as silent
_FADE_OUT_S = 0.010

#: GM programs rendered by default: piano, church organ, nylon guitar, fingered bass,
#: string ensemble, trumpet, clarinet, flute (one per family).
DEFAULT_PROGRAMS: tuple[int, ...] = (0, 19, 24, 33, 48, 56, 71, 73)


# --------------------------------------------------------------------------- SoundFont and synthesiser


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
            over :func:`~wavediff.data.general_midi.program_register`. Notes at or above
            ``0.45 * sample_rate`` Hz are refused (explicit) or dropped (register).
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


# --------------------------------------------------------------------------- clips


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


def _label_for(cfg: SoundfontCorpusConfig, program: int, pitch: int) -> str:
    if cfg.label == "family":
        return gm_family(program)
    if cfg.label == "program":
        return f"{gm_family(program)}_{program:03d}"
    return f"midi{pitch:03d}"


def _plan_notes(cfg: SoundfontCorpusConfig) -> list[PlannedClip]:
    plan = []
    for program in cfg.programs:
        family = gm_family(program)
        for pitch in cfg.program_pitches(program):
            for velocity in cfg.velocities:
                plan.append(
                    PlannedClip(
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
        wavediff.data.CorpusExistsError: ``out_dir`` holds a different corpus and
            ``overwrite`` is False.
        ImportError: tinysoundfont is not installed (the message says how to install it).
        FileNotFoundError: no SoundFont (see :func:`default_soundfont`).
    """
    cfg = cfg or SoundfontCorpusConfig()
    import_tinysoundfont()
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
        PlannedClip(label="phrase", id=f"phrase_{i:04d}", meta={"kind": "phrase"}) for i in range(cfg.phrases)
    ]
    state: dict[str, SoundfontRenderer] = {}

    def start() -> None:
        state["r"] = SoundfontRenderer(sf2, cfg.render_rate, cfg.sample_rate, cfg.num_samples)

    hold_s = cfg.hold_fraction * cfg.clip_seconds

    def render(clip: PlannedClip) -> np.ndarray | None:
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
            phrase = compose_phrase(
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
    skipped = write_corpus(
        out_dir, manifest, plan, render, cfg.sample_rate, columns, seed=cfg.seed, overwrite=overwrite,
        before_render=start,
    )
    if skipped:
        shown = ", ".join(c.id for c in skipped[:8]) + (", ..." if len(skipped) > 8 else "")
        warnings.warn(
            f"skipped {len(skipped)} silent render(s) (the SoundFont {sf2.name} has no sample "
            f"for them): {shown}",
            UserWarning,
            stacklevel=2,
        )
    return Path(out_dir)
