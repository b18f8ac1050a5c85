"""Short multi-instrument MIDI phrases composed from a seed (the SoundFont corpus's phrases).

A phrase is a chord progression (block chords, arpeggios, Alberti bass or strums), a bass
line, an optional melody and an optional drum groove, in a key, mode and tempo drawn from
the seed, as MIDI events for a synthesiser to render (:func:`compose_phrase`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Phrase", "compose_phrase"]

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


@dataclass
class Phrase:
    """A phrase as MIDI events plus its description.

    Attributes:
        channels: MIDI channel -> (GM program, is_drums); channel 9 holds the drums.
        events: ``(time_s, kind, channel, key, velocity)`` with kind 0 = note-off,
            1 = note-on, unsorted.
        tonic: MIDI note of the key's tonic in the chord register (48..59).
        description: key, mode, progression, pattern, tempo and instruments in words.
    """

    channels: dict[int, tuple[int, bool]]
    events: list[tuple[float, int, int, int, int]]
    tonic: int
    description: str


def compose_phrase(seed: int, index: int, seconds: float, available: Callable[[int], bool]) -> Phrase:
    """Compose phrase ``index`` of the corpus seeded with ``seed``: chords, bass, optional
    melody and drums, fitting in ``0.85 * seconds`` so the last notes can ring out.
    ``available(program)`` says whether the synthesiser has the GM program; instruments are
    drawn from the available ones only. The same arguments give the same phrase."""
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
    return Phrase(channels=channels, events=events, tonic=tonic, description=description)


def _nearest_degree(key: int, tonic: int, scale: tuple[int, ...]) -> int:
    """Scale degree (may exceed 7 or be negative) whose pitch is nearest to ``key``."""
    best, best_dist = 0, 10**9
    for degree in range(-14, 36):
        pitch = tonic + 12 * (degree // 7) + scale[degree % 7]
        if abs(pitch - key) < best_dist:
            best, best_dist = degree, abs(pitch - key)
    return best

