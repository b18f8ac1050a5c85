"""The five synthetic instruments of the demo corpus, played note by note in numpy/scipy.

Every note is a function of a seeded :class:`numpy.random.Generator` (no global random
state):

``pluck``
    Karplus-Strong plucked string: one period of a triangular string shape (set by the
    pluck position) plus a filtered noise burst excites a delay-line loop whose two-tap
    averaging filter sets how fast the upper harmonics die (the damping/brightness
    parameter) and whose first-order all-pass tunes the loop to a fractional period, so
    the pitch is exact.
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

Per note (:func:`render_note`) the generator draws a velocity (which sets brightness and
peak level), a detune of a few cents, an onset offset inside the clip and a gentle
synthetic room (an exponentially decaying, low-passed noise impulse response mixed 12-20 dB
below the dry note). Every clip is DC-blocked, faded out over its last 10 ms and
peak-normalised to 0.5-0.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import signal

from wavediff.data.synthesis import midi_to_hz, raised_cosine_ramp

__all__ = ["INSTRUMENTS", "render_note"]


def _exp_decay(t: np.ndarray, t60: float) -> np.ndarray:
    """Amplitude envelope falling by 60 dB after ``t60`` seconds (``t`` in seconds)."""
    return np.exp(-6.907755 * t / t60)


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


# --------------------------------------------------------------------------- instruments


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
    out[: int(0.002 * sr)] *= raised_cosine_ramp(int(0.002 * sr))
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
    out[: int(0.001 * sr)] *= raised_cosine_ramp(int(0.001 * sr))
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
    out[: int(0.001 * sr)] *= raised_cosine_ramp(int(0.001 * sr))
    return np.concatenate([np.zeros(note.onset), out])


_SYNTHS: dict[str, Callable[[_Note, np.random.Generator], np.ndarray]] = {
    "pluck": _pluck,
    "bowed": _bowed,
    "bell": _bell,
    "drum": _drum,
    "hat": _hat,
}

#: The instruments, in the demo corpus's label order.
INSTRUMENTS: tuple[str, ...] = tuple(_SYNTHS)


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
    x[x.size - n_fade :] *= raised_cosine_ramp(n_fade)[::-1]
    x = x - x.mean()
    return x * (peak / (np.max(np.abs(x)) + 1e-12))


def render_note(
    kind: str, midi_pitch: int, rng: np.random.Generator, sample_rate: int, seconds: float
) -> tuple[np.ndarray, dict[str, float]]:
    """Play one note of instrument ``kind`` at ``midi_pitch``: draw the performance
    (velocity, detune, onset), synthesise the dry note, add the room and finish the clip.

    Args:
        kind: one of :data:`INSTRUMENTS`.
        midi_pitch: MIDI note number; its frequency must be below ``sample_rate / 6``.
        rng: the generator all randomness is drawn from.
        sample_rate: Hz (>= 8000).
        seconds: clip length (>= 0.1).

    Returns:
        ``(audio, params)``: float32 audio ``(round(seconds * sample_rate),)``, zero-mean,
        peak in [0.5, 0.9]; params ``velocity`` (0.5..1), ``detune_cents``, ``onset_s`` and
        ``peak``.
    """
    if kind not in _SYNTHS:
        raise ValueError(f"unknown demo class {kind!r}; expected one of {INSTRUMENTS}")
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

