"""Rendering MIDI events with a SoundFont: the ``tinysoundfont`` synthesiser behind the
SoundFont corpus (:mod:`wavediff.data.soundfont`).

Every render has an exact number of samples: the synthesiser is asked for an exact number of
frames at the render rate, the result is averaged to mono, resampled with soxr and cut to
length, so a note that never ends cannot make a clip longer; a 15 Hz high-pass removes the
DC offset some samples carry. ``tinysoundfont`` is imported only when a renderer is made.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

__all__ = ["SoundfontRenderer", "import_tinysoundfont"]

_DC_CUTOFF_HZ = 15.0  # 2nd-order high-pass that removes the DC offset of some samples


def import_tinysoundfont() -> Any:
    """The ``tinysoundfont`` module; an ImportError that says how to install it when missing."""
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


class SoundfontRenderer:
    """A tinysoundfont synthesiser with one SoundFont loaded, rendering event lists to
    exact-length mono clips. Between renders every voice is stopped and the output
    flushed to digital silence, so each render starts from the same state."""

    def __init__(self, sf2: Path, render_rate: int, sample_rate: int, num_samples: int) -> None:
        """Load ``sf2`` into a synthesiser running at ``render_rate`` Hz; every render gives
        ``num_samples`` samples at ``sample_rate`` Hz (soxr resampling when they differ)."""
        tsf = import_tinysoundfont()
        self.render_rate, self.sample_rate, self.num_samples = int(render_rate), int(sample_rate), int(num_samples)
        self._dc_block = signal.butter(2, _DC_CUTOFF_HZ, "highpass", fs=self.sample_rate, output="sos")
        self.synth = tsf.Synth(samplerate=self.render_rate)
        try:
            self.sfid = self.synth.sfload(str(sf2))
        except Exception as err:  # the binding raises plain exceptions on bad files
            raise ValueError(f"{sf2}: cannot load SoundFont ({err})") from err

    def preset_name(self, program: int, bank: int = 0) -> str | None:
        """Name of the SoundFont's preset for ``program`` in ``bank``; None when it has none."""
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

    def render(self, channels: dict[int, tuple[int, bool]],
               events: list[tuple[float, int, int, int, int]]) -> np.ndarray:
        """Render MIDI events.

        Args:
            channels: MIDI channel -> (program, is_drums).
            events: ``(time_s, kind, channel, key, velocity)`` with kind 0 = note-off,
                1 = note-on; events at or after the clip's end are ignored.

        Returns:
            float64 array ``(num_samples,)`` at ``sample_rate`` (not normalised).
        """
        n_out = self.num_samples
        if self.render_rate == self.sample_rate:
            n_in = n_out
        else:  # a few extra frames so the resampler's output covers the whole clip
            n_in = int(math.ceil(n_out * self.render_rate / self.sample_rate)) + 64
        for chan, (program, drums) in channels.items():
            self.synth.program_select(chan, self.sfid, 128 if drums else 0, program, is_drums=drums)
        frames = sorted(
            (int(round(t * self.render_rate)), kind, chan, key, vel) for t, kind, chan, key, vel in events
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
        if self.render_rate != self.sample_rate:
            import soxr

            mono = soxr.resample(mono, self.render_rate, self.sample_rate, quality="HQ")
        if mono.shape[0] < n_out:
            mono = np.pad(mono, (0, n_out - mono.shape[0]))
        # Some samples carry a DC offset; a gentle high-pass removes it without touching
        # the lowest notes (E1 = 41 Hz).
        return signal.sosfilt(self._dc_block, mono[:n_out])
