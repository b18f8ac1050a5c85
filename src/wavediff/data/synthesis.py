"""Small pieces shared by the corpus synthesisers (demo instruments, SoundFont, espeak-ng)."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["label_key", "midi_to_hz", "raised_cosine_ramp"]


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency in Hz of a (possibly fractional) MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)


def raised_cosine_ramp(n: int) -> np.ndarray:
    """Raised-cosine fade-in of ``n`` samples, float64 ``(n,)`` from 0 towards 1
    (``0.5 - 0.5 cos(pi k / n)``); reversed, a fade-out."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))


def label_key(label: str) -> int:
    """The per-label part of a generator seed: CRC-32 of the UTF-8 label, the same on every
    run and platform (unlike ``hash()``), so a label's clips do not depend on the others."""
    return zlib.crc32(label.encode("utf-8"))
