"""Detect truncated WAV files: libsndfile reads the samples that are there and says nothing
when the header promises more (an interrupted copy or download)."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

__all__ = ["TruncatedAudioWarning", "warn_if_truncated", "wav_shortfall"]

# a streaming writer leaves these in the size fields when it cannot know the length
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class TruncatedAudioWarning(UserWarning):
    """An audio file holds fewer samples than its header declares."""


def wav_shortfall(path: str | Path) -> tuple[int, int] | None:
    """``(declared_frames, present_frames)`` of a WAV file whose ``data`` chunk is cut short,
    else None (also for files that are not RIFF/WAVE or have no usable header)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = 0
            while True:
                header = handle.read(8)
                if len(header) < 8:
                    return None
                chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
                if chunk_id == b"fmt ":
                    fmt = handle.read(size)
                    if len(fmt) >= 14:
                        block_align = struct.unpack("<H", fmt[12:14])[0]
                    handle.seek(size % 2, 1)
                elif chunk_id == b"data":
                    if size in _UNKNOWN_SIZES or block_align == 0:
                        return None
                    start = handle.tell()
                    handle.seek(0, 2)
                    present = handle.tell() - start
                    if present >= size:
                        return None
                    return size // block_align, present // block_align
                else:
                    handle.seek(size + size % 2, 1)
    except (OSError, struct.error):
        return None


def warn_if_truncated(path: str | Path) -> None:
    """Warn (:class:`TruncatedAudioWarning`) when ``path`` is a WAV file cut short."""
    if Path(path).suffix.lower() != ".wav":
        return
    short = wav_shortfall(path)
    if short is not None:
        declared, present = short
        warnings.warn(f"{path}: the file is truncated: its header declares {declared} samples but only {present} "
                      "are present (an interrupted copy or download?); re-export or re-download it",
                      TruncatedAudioWarning, stacklevel=3)
