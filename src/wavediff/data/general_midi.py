"""General MIDI facts: the instrument family of a program and its natural register.

Used by the SoundFont corpus (:mod:`wavediff.data.soundfont`) for labels and for the
default pitch grid of each program.
"""

from __future__ import annotations

__all__ = ["GM_FAMILIES", "gm_family", "program_register"]

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

