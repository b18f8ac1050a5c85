"""Mel spectrogram features.

One :class:`MelConfig` describes a feature completely (STFT, mel filter bank, log and
normalisation). It is stored with every model that consumes or produces mels, and
:meth:`MelConfig.require_same` refuses features made with another config.

Pipeline for audio ``(..., T)`` (float32, values in [-1, 1]):

1. pad both ends (``center=True``: ``n_fft // 2`` samples, the librosa/torchaudio
   convention; ``center=False``: ``frame_pad`` samples, by default
   ``(n_fft - hop_length) // 2`` as in HiFi-GAN) with ``pad_mode``;
2. STFT with a periodic Hann window of ``win_length`` samples (zero-padded to ``n_fft``
   in the middle of the frame), frames every ``hop_length`` samples;
3. ``|X|`` (``power=1``) or ``|X|**2`` (``power=2``), divided by ``sqrt(sum(window**2))``
   (resp. its square) when ``stft_normalized`` (torchaudio's ``normalized=True``, used
   by DiffWave);
4. mel filter bank from ``librosa.filters.mel`` -> linear mel ``(..., n_mels, frames)``
   (:class:`MelSpectrogram`);
5. ``log(max(mel, log_floor))`` in base 10 or e, then the optional normalisation
   (:class:`LogMel`, :func:`log_mel`).

Frame ``k`` is centred on sample ``k * hop_length - pad + n_fft // 2``: on
``k * hop_length`` for ``center=True``, and on ``k * hop_length + hop_length // 2`` (the
middle of hop block ``k``) for the HiFi-GAN framing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .io import check_waveform

__all__ = [
    "MelConfig",
    "MelConfigMismatch",
    "MEL_PRESETS",
    "MelSpectrogram",
    "LogMel",
    "mel_spectrogram",
    "log_mel",
    "compress_mel",
    "decompress_mel",
    "convert_log_mel",
    "check_mel",
    "CONVERTIBLE_FIELDS",
]

_PAD_MODES = ("reflect", "constant", "replicate")
_MEL_SCALES = ("slaney", "htk")
_MEL_NORMS = ("slaney", None)
_LOGS = ("log10", "ln")
_NORMALISATIONS = ("diffwave", "none")
_INT_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels")
_FLOAT_FIELDS = ("fmin", "power", "log_floor")

#: Fields in which two configs may differ and still be converted by :func:`convert_log_mel`.
CONVERTIBLE_FIELDS: frozenset[str] = frozenset({"log", "log_floor", "normalisation", "stft_normalized"})

# DiffWave's normalisation: db = 20*log10(mel) - 20, features = clamp((db + 100) / 100, 0, 1).
_DW_REF_DB = 20.0
_DW_MIN_DB = -100.0


class MelConfigMismatch(ValueError):
    """A mel feature (or config) does not match the config it is used with.

    ``differences`` holds one human-readable line per differing field.
    """

    def __init__(self, message: str, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences: list[str] = list(differences or [])


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"MelConfig.{name} must be an integer, got {value!r}")
    if float(value) != int(value):
        raise ValueError(f"MelConfig.{name} must be an integer, got {value!r}")
    return int(value)


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"MelConfig.{name} must be a number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Complete description of a mel feature. Immutable and hashable.

    Defaults equal the ``"hifigan"`` preset. Use :meth:`preset` for named settings and
    ``dataclasses.replace(cfg, field=value)`` (or ``MelConfig.preset(name, field=value)``)
    for variations.

    Attributes:
        sample_rate: Hz of the audio the features are computed from.
        n_fft: FFT size in samples; ``n_fft // 2 + 1`` frequency bins.
        hop_length: samples between frames.
        win_length: Hann window length in samples (``<= n_fft``).
        n_mels: mel bands.
        fmin, fmax: band edges of the filter bank in Hz; ``fmax=None`` means
            ``sample_rate / 2`` and is stored resolved.
        power: 1.0 for magnitude, 2.0 for power spectra.
        center: pad ``n_fft // 2`` samples at both ends (librosa/torchaudio framing,
            ``T // hop + 1`` frames). When False, ``frame_pad`` samples are padded.
        pad_mode: ``"reflect"``, ``"constant"`` (zeros) or ``"replicate"``.
        frame_pad: samples padded at both ends when ``center`` is False; ``None`` means
            ``(n_fft - hop_length) // 2`` (HiFi-GAN framing: ``T // hop`` frames when
            ``n_fft - hop_length`` is even), 0 means no padding. Must be None when
            ``center`` is True.
        stft_normalized: divide the STFT by ``sqrt(sum(window**2))`` like torchaudio's
            ``Spectrogram(normalized=True)``.
        mel_scale: ``"slaney"`` (librosa default) or ``"htk"`` (torchaudio default).
        mel_norm: ``"slaney"`` (each triangle has unit area in Hz^-1 units, librosa
            default) or ``None`` (triangles of peak 1, torchaudio default).
        log: ``"log10"`` or ``"ln"``.
        log_floor: mel values are clamped to at least this before the log.
        normalisation: ``"none"`` (features = log) or ``"diffwave"``
            (``clamp((20*log10(mel) - 20 + 100) / 100, 0, 1)``; needs ``log="log10"``).
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    power: float = 1.0
    center: bool = False
    pad_mode: str = "reflect"
    frame_pad: int | None = None
    stft_normalized: bool = False
    mel_scale: str = "slaney"
    mel_norm: str | None = "slaney"
    log: str = "ln"
    log_floor: float = 1e-5
    normalisation: str = "none"

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in _INT_FIELDS:
            put(name, _as_int(name, getattr(self, name)))
        for name in _FLOAT_FIELDS:
            put(name, _as_float(name, getattr(self, name)))
        put("fmax", self.sample_rate / 2.0 if self.fmax is None else _as_float("fmax", self.fmax))
        if self.frame_pad is not None:
            put("frame_pad", _as_int("frame_pad", self.frame_pad))
        if isinstance(self.mel_norm, str) and self.mel_norm.lower() == "none":
            put("mel_norm", None)
        for name in ("center", "stft_normalized"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"MelConfig.{name} must be True or False, got {getattr(self, name)!r}")
            put(name, bool(getattr(self, name)))

        for name, choices in (
            ("pad_mode", _PAD_MODES),
            ("mel_scale", _MEL_SCALES),
            ("mel_norm", _MEL_NORMS),
            ("log", _LOGS),
            ("normalisation", _NORMALISATIONS),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"MelConfig.{name} must be one of {choices}, got {getattr(self, name)!r}")

        problems = []
        if self.sample_rate <= 0:
            problems.append(f"sample_rate must be positive, got {self.sample_rate}")
        if self.n_fft < 2:
            problems.append(f"n_fft must be >= 2, got {self.n_fft}")
        if not 1 <= self.win_length <= self.n_fft:
            problems.append(f"win_length must be in 1..n_fft={self.n_fft}, got {self.win_length}")
        if self.hop_length < 1:
            problems.append(f"hop_length must be >= 1, got {self.hop_length}")
        if self.n_mels < 1:
            problems.append(f"n_mels must be >= 1, got {self.n_mels}")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2.0:
            problems.append(
                f"need 0 <= fmin < fmax <= sample_rate/2 = {self.sample_rate / 2:g}, "
                f"got fmin={self.fmin:g}, fmax={self.fmax:g}"
            )
        if self.power not in (1.0, 2.0):
            problems.append(f"power must be 1.0 (magnitude) or 2.0 (power), got {self.power}")
        if self.center and self.frame_pad is not None:
            problems.append("frame_pad must be None when center=True (center pads n_fft // 2)")
        if self.frame_pad is not None and self.frame_pad < 0:
            problems.append(f"frame_pad must be >= 0, got {self.frame_pad}")
        if not (self.log_floor > 0.0 and math.isfinite(self.log_floor)):
            problems.append(f"log_floor must be a positive number, got {self.log_floor}")
        if self.normalisation == "diffwave" and self.log != "log10":
            problems.append("normalisation='diffwave' is defined on log10 values; set log='log10'")
        if problems:
            raise ValueError("invalid MelConfig: " + "; ".join(problems))

    # ----------------------------------------------------------------- presets / dicts
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> MelConfig:
        """Named config (see :data:`MEL_PRESETS`), optionally with fields replaced."""
        try:
            base = MEL_PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown mel preset {name!r}; available: {sorted(MEL_PRESETS)}") from None
        return dataclasses.replace(base, **overrides) if overrides else base

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{field: value}`` dict of Python scalars (JSON/YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, allow_missing: bool = False) -> MelConfig:
        """Rebuild a config from :meth:`to_dict` output.

        Unknown keys raise ``ValueError`` naming them. Missing keys raise too unless
        ``allow_missing`` is True, in which case they take the class defaults: a stored
        config must never be completed silently with values it was not made with.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown MelConfig key(s): {unknown}; valid keys: {names}")
        missing = [n for n in names if n not in data]
        if missing and not allow_missing:
            raise ValueError(
                f"MelConfig dict lacks key(s) {missing}; pass allow_missing=True to fill "
                f"them with defaults if that is what the data was made with"
            )
        return cls(**dict(data))

    # ------------------------------------------------------------------- comparisons
    def describe_difference(
        self,
        other: MelConfig,
        labels: tuple[str, str] = ("checkpoint", "input"),
    ) -> list[str]:
        """One line per field that differs, e.g. ``"hop_length: 256 (checkpoint) vs 200 (input)"``.

        ``labels`` name ``self`` and ``other`` in the lines. Empty when equal.
        """
        if not isinstance(other, MelConfig):
            raise TypeError(f"expected a MelConfig, got {type(other).__name__}")
        lines = []
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a != b:
                lines.append(f"{f.name}: {a!r} ({labels[0]}) vs {b!r} ({labels[1]})")
        return lines

    def require_same(
        self,
        other: MelConfig,
        what: str = "mel",
        labels: tuple[str, str] = ("checkpoint", "input"),
    ) -> None:
        """Raise :class:`MelConfigMismatch` unless ``other`` equals this config.

        ``self`` is the expected config (e.g. the checkpoint's), ``other`` the one the
        ``what`` was made with. The message lists every differing field and the fix.
        """
        diffs = self.describe_difference(other, labels)
        if not diffs:
            return
        convertible = all(line.split(":", 1)[0] in CONVERTIBLE_FIELDS for line in diffs)
        hint = (
            "only log/normalisation settings differ, so convert_log_mel(x, src, dst) can "
            "convert it exactly (away from the clamp floors), or"
            if convertible
            else "features made with other STFT/filter-bank settings cannot be converted;"
        )
        raise MelConfigMismatch(
            f"the {what} was made with a different MelConfig than the {labels[0]} expects "
            f"({len(diffs)} field(s) differ):\n  "
            + "\n  ".join(diffs)
            + f"\nFix: {hint} recompute the {what} from the audio with the expected config "
            f"(LogMel(cfg)(audio)), or use a {labels[0]} made for this config.",
            diffs,
        )

    # ---------------------------------------------------------------------- framing
    @property
    def pad(self) -> int:
        """Samples padded at each end before framing."""
        if self.center:
            return self.n_fft // 2
        return (self.n_fft - self.hop_length) // 2 if self.frame_pad is None else self.frame_pad

    @property
    def min_samples(self) -> int:
        """Shortest input (in samples) that gives at least one frame."""
        need = max(1, self.n_fft - 2 * self.pad)
        if self.pad_mode == "reflect" and self.pad > 0:
            need = max(need, self.pad + 1)  # reflection needs pad < T
        return need

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples: ``(T + 2*pad - n_fft) // hop + 1``.

        ``center=True``: ``T // hop + 1`` (``n_fft`` even). HiFi-GAN framing
        (``pad = (n_fft - hop) // 2``, ``n_fft - hop`` even): ``T // hop``.
        Raises ``ValueError`` below :attr:`min_samples`.
        """
        num_samples = int(num_samples)
        if num_samples < self.min_samples:
            raise ValueError(
                f"{num_samples} samples is too short for this MelConfig: at least "
                f"{self.min_samples} are needed (n_fft={self.n_fft}, pad={self.pad}, "
                f"pad_mode={self.pad_mode!r})"
            )
        return (num_samples + 2 * self.pad - self.n_fft) // self.hop_length + 1

    def stft_scale(self) -> float:
        """Factor the STFT magnitude is divided by: ``sqrt(sum(window**2))`` or 1.

        For a periodic Hann window of length N the sum is ``3N/8`` (N multiple of 4),
        so 19.596 for N = 1024.
        """
        if not self.stft_normalized:
            return 1.0
        return float(torch.hann_window(self.win_length, periodic=True, dtype=torch.float64).pow(2).sum().sqrt())


MEL_PRESETS: dict[str, MelConfig] = {
    # DiffWave (Kong et al. 2021, and its public reference code): torchaudio's
    # MelSpectrogram defaults (HTK scale, unnormalised triangles, center=True with
    # reflect padding) with normalized=True (STFT divided by sqrt(sum(hann^2)) =
    # sqrt(384)) and magnitude, then clamp((20*log10(max(mel, 1e-5)) - 20 + 100) / 100, 0, 1).
    # The reference code uses fmax = sample_rate / 2 = 11025 Hz; this preset stops at
    # 8000 Hz like HiFi-GAN. MelConfig.preset("diffwave", fmax=11025) gives the reference
    # features exactly. T samples (T >= 513) -> T // 256 + 1 frames.
    "diffwave": MelConfig(
        sample_rate=22050,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=80,
        fmin=20.0,
        fmax=8000.0,
        power=1.0,
        center=True,
        pad_mode="reflect",
        frame_pad=None,
        stft_normalized=True,
        mel_scale="htk",
        mel_norm=None,
        log="log10",
        log_floor=1e-5,
        normalisation="diffwave",
    ),
    # HiFi-GAN (Kong et al. 2020, config v1): librosa filters (Slaney scale and area
    # normalisation), reflect padding of (n_fft - hop) / 2 = 384 samples, center=False,
    # magnitude, ln(max(mel, 1e-5)). T samples (T >= 385) -> T // 256 frames.
    # The reference code takes sqrt(|X|^2 + 1e-9); that lifts each mel value by at most
    # 1.6e-6, which the 1e-5 floor hides on silence and which moves ln-mel by < 0.002
    # above mel = 1e-3. It is left out so the features equal librosa's.
    "hifigan": MelConfig(
        sample_rate=22050,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=80,
        fmin=0.0,
        fmax=8000.0,
        power=1.0,
        center=False,
        pad_mode="reflect",
        frame_pad=None,
        stft_normalized=False,
        mel_scale="slaney",
        mel_norm="slaney",
        log="ln",
        log_floor=1e-5,
        normalisation="none",
    ),
}


# ---------------------------------------------------------------------------- filters
@functools.lru_cache(maxsize=32)
def _filters_f64(cfg: MelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(window (win_length,), mel filter bank (n_mels, n_fft//2 + 1)) in float64 on CPU."""
    import librosa  # deferred: its first filter-bank call is slow to set up

    fbank = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=cfg.mel_scale == "htk",
        norm=cfg.mel_norm,
        dtype=np.float64,
    )
    window = torch.hann_window(cfg.win_length, periodic=True, dtype=torch.float64)
    return window, torch.from_numpy(np.ascontiguousarray(fbank))


@functools.lru_cache(maxsize=32)
def _filters(cfg: MelConfig, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    window, fbank = _filters_f64(cfg)
    return window.to(device, dtype), fbank.to(device, dtype)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # FFTs in half precision are restricted (CPU: none; CUDA: powers of two only).
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _check_audio(audio: torch.Tensor, cfg: MelConfig, validate: bool) -> None:
    if validate:
        check_waveform(audio, "audio")
    elif not isinstance(audio, torch.Tensor) or not audio.is_floating_point():
        raise TypeError("audio must be a floating-point torch.Tensor of shape (..., T)")
    if audio.ndim == 0 or audio.shape[-1] < cfg.min_samples:
        n = audio.shape[-1] if audio.ndim else 0
        raise ValueError(
            f"audio has {n} samples but this MelConfig needs at least {cfg.min_samples} "
            f"(n_fft={cfg.n_fft}, pad={cfg.pad} with {cfg.pad_mode!r} padding); pad or "
            f"skip shorter clips"
        )


def _mel(audio: torch.Tensor, cfg: MelConfig, window: torch.Tensor, fbank: torch.Tensor) -> torch.Tensor:
    lead, num_samples = audio.shape[:-1], audio.shape[-1]
    x = audio.reshape(-1, num_samples).to(window.dtype)
    if cfg.pad > 0:
        # Padding done here (not by torch.stft) so both framings share one code path.
        x = F.pad(x.unsqueeze(1), (cfg.pad, cfg.pad), mode=cfg.pad_mode).squeeze(1)
    spec = torch.stft(
        x,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    if cfg.power == 1.0:
        # |z| has a zero (not NaN) gradient at z = 0, so silence is safe in a loss.
        mag = spec.abs()
    else:
        mag = torch.view_as_real(spec).pow(2).sum(-1)
    if cfg.stft_normalized:
        mag = mag / window.pow(2).sum().sqrt().pow(cfg.power)
    mel = torch.matmul(fbank, mag)  # (N, n_mels, frames)
    return mel.reshape(*lead, cfg.n_mels, mel.shape[-1])


def mel_spectrogram(audio: torch.Tensor, cfg: MelConfig, *, validate: bool = True) -> torch.Tensor:
    """Linear mel spectrogram of ``audio`` ``(..., T)`` -> ``(..., n_mels, cfg.num_frames(T))``.

    Magnitude (``power=1``) or power (``power=2``) mel values, before the log.
    Differentiable; runs on ``audio``'s device; float32 unless the input is float64.
    Filter banks are cached per (config, device, dtype). ``validate`` checks for
    NaN/inf (one device synchronisation).
    """
    _check_audio(audio, cfg, validate)
    dtype = _compute_dtype(audio)
    window, fbank = _filters(cfg, audio.device, dtype)
    return _mel(audio, cfg, window, fbank)


def compress_mel(mel: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Linear mel -> final features: ``log(max(mel, log_floor))`` plus the normalisation.

    ``normalisation="diffwave"``: ``clamp((20*log10(max(mel, floor)) - 20 + 100) / 100, 0, 1)``,
    so 0 stands for mel <= 1e-4 and 1 for mel >= 10 (log10 floor 1e-5 is below the
    lower clamp). ``"none"``: ``log10`` or ``ln`` of the clamped mel, ``>= log(floor)``.
    """
    floored = mel.clamp(min=cfg.log_floor)
    logs = torch.log10(floored) if cfg.log == "log10" else torch.log(floored)
    if cfg.normalisation == "diffwave":
        db = 20.0 * logs - _DW_REF_DB
        return ((db - _DW_MIN_DB) / -_DW_MIN_DB).clamp(0.0, 1.0)
    return logs


def decompress_mel(features: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Inverse of :func:`compress_mel`; exact wherever no clamp was active.

    Features at a clamp (the log floor, or 0/1 for ``"diffwave"``) map back to the
    clamp's mel value: what lay beyond it is lost.
    """
    logs = features
    if cfg.normalisation == "diffwave":
        db = features * -_DW_MIN_DB + _DW_MIN_DB
        logs = (db + _DW_REF_DB) / 20.0
    return torch.pow(10.0, logs) if cfg.log == "log10" else torch.exp(logs)


def log_mel(audio: torch.Tensor, cfg: MelConfig, *, validate: bool = True) -> torch.Tensor:
    """Final mel features of ``audio`` ``(..., T)`` -> ``(..., n_mels, frames)``.

    ``compress_mel(mel_spectrogram(audio, cfg), cfg)``: log, floor and normalisation as
    the config says. Differentiable (zero gradient where a clamp is active).
    """
    return compress_mel(mel_spectrogram(audio, cfg, validate=validate), cfg)


class MelSpectrogram(nn.Module):
    """Linear mel spectrogram as a module: ``(..., T)`` -> ``(..., n_mels, frames)``.

    The Hann window and the librosa mel filter bank are computed once and kept as
    (non-persistent) buffers, so ``.to(device)`` moves them and state dicts stay free of
    derived data; the config itself is what gets stored. Set ``validate=False`` to skip
    the NaN/inf check (saves a device synchronisation in training loops).
    """

    def __init__(self, cfg: MelConfig, *, validate: bool = True) -> None:
        super().__init__()
        if not isinstance(cfg, MelConfig):
            raise TypeError(f"expected a MelConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.validate = validate
        window, fbank = _filters_f64(cfg)
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("fbank", fbank.float(), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return self.cfg.num_frames(num_samples)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        _check_audio(audio, self.cfg, self.validate)
        dtype = _compute_dtype(audio)
        return _mel(audio, self.cfg, self.window.to(dtype), self.fbank.to(dtype))

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"sample_rate={c.sample_rate}, n_fft={c.n_fft}, hop_length={c.hop_length}, "
            f"win_length={c.win_length}, n_mels={c.n_mels}, fmin={c.fmin:g}, fmax={c.fmax:g}"
        )


class LogMel(nn.Module):
    """Final mel features as a module: ``(..., T)`` -> ``(..., n_mels, frames)``.

    :class:`MelSpectrogram` followed by :func:`compress_mel`. Differentiable, so it can
    serve as a feature extractor inside a loss.
    """

    def __init__(self, cfg: MelConfig, *, validate: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.mel = MelSpectrogram(cfg, validate=validate)

    def num_frames(self, num_samples: int) -> int:
        return self.cfg.num_frames(num_samples)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return compress_mel(self.mel(audio), self.cfg)


# -------------------------------------------------------------------- checks / convert
def check_mel(
    mel: torch.Tensor,
    cfg: MelConfig,
    name: str = "mel",
    *,
    check_range: bool = True,
    atol: float = 1e-4,
) -> torch.Tensor:
    """Validate final mel features ``(..., n_mels, frames)`` against ``cfg``; return them.

    Raises :class:`MelConfigMismatch` when dim -2 is not ``cfg.n_mels`` or (with
    ``check_range``) when values lie outside what ``cfg`` can produce: ``[0, 1]`` for
    ``"diffwave"`` normalisation, ``>= log(log_floor)`` otherwise; ``ValueError`` for
    NaN/inf or a wrong rank.
    """
    if not isinstance(mel, torch.Tensor) or not mel.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point torch.Tensor, got {type(mel).__name__}")
    if mel.ndim < 2:
        raise ValueError(f"{name}: expected shape (..., n_mels, frames), got {tuple(mel.shape)}")
    if mel.shape[-2] != cfg.n_mels:
        hint = (
            " Its last axis has n_mels entries: transpose (frames, n_mels) to (n_mels, frames)."
            if mel.shape[-1] == cfg.n_mels
            else " It was made with another config; recompute it with this one."
        )
        raise MelConfigMismatch(
            f"{name}: has {mel.shape[-2]} mel bins on dim -2 (shape {tuple(mel.shape)}) but "
            f"the MelConfig expects n_mels={cfg.n_mels}.{hint}",
            [f"n_mels: {cfg.n_mels} (expected) vs {mel.shape[-2]} ({name})"],
        )
    if mel.numel() == 0:
        return mel
    if not bool(torch.isfinite(mel).all()):
        raise ValueError(f"{name}: contains NaN/inf values; it comes from a diverged computation")
    if check_range:
        lo, hi = float(mel.min()), float(mel.max())
        if cfg.normalisation == "diffwave":
            ok, expect = lo >= -atol and hi <= 1.0 + atol, "[0, 1]"
        else:
            floor = math.log10(cfg.log_floor) if cfg.log == "log10" else math.log(cfg.log_floor)
            ok, expect = lo >= floor - atol, f">= {floor:.4g} ({cfg.log} of log_floor {cfg.log_floor:g})"
        if not ok:
            raise MelConfigMismatch(
                f"{name}: values span [{lo:.4g}, {hi:.4g}] but features of this MelConfig "
                f"(log={cfg.log!r}, normalisation={cfg.normalisation!r}) lie in {expect}. It "
                f"looks like a mel from another convention: convert it with "
                f"convert_log_mel(mel, src_cfg, cfg) or recompute it from the audio."
            )
    return mel


def convert_log_mel(mel: torch.Tensor, src: MelConfig, dst: MelConfig) -> torch.Tensor:
    """Re-express final mel features made with ``src`` as if made with ``dst``.

    Possible only when the configs differ in :data:`CONVERTIBLE_FIELDS` alone (log base,
    log floor, normalisation, ``stft_normalized`` scale): then both describe the same
    linear mel up to a known constant, and the conversion is exact for values that were
    not clamped. Values at a clamp of ``src`` (log floor; 0 or 1 for ``"diffwave"``)
    stay at that clamp's level. Any other difference (sample rate, FFT size, hop,
    window, mel bands, fmin/fmax, mel scale/norm, power, padding) changes the underlying
    spectrum and raises :class:`MelConfigMismatch`.

    Args:
        mel: ``(..., n_mels, frames)`` features of ``src``.
    Returns:
        tensor of the same shape and dtype with ``dst``'s features.
    """
    diffs = [
        line
        for line in src.describe_difference(dst, labels=("source", "target"))
        if line.split(":", 1)[0] not in CONVERTIBLE_FIELDS
    ]
    if diffs:
        raise MelConfigMismatch(
            "cannot convert mel features between these configs: they differ in fields that "
            "change the underlying spectrum:\n  "
            + "\n  ".join(diffs)
            + f"\nOnly {sorted(CONVERTIBLE_FIELDS)} may differ. Recompute the features from "
            "the audio with the target config (LogMel(dst)(audio)) instead.",
            diffs,
        )
    check_mel(mel, src, "mel")
    # float64 so that exp/log round trips add no visible error.
    linear = decompress_mel(mel.double(), src) * src.stft_scale() ** src.power
    out = compress_mel(linear / dst.stft_scale() ** dst.power, dst)
    return out.to(mel.dtype)


def nominal_range(cfg: MelConfig) -> tuple[float, float]:
    """The range of final features for audio in [-1, 1]: ``[0, 1]`` for DiffWave
    normalisation, otherwise from the log floor up to the log of a loud full-band mel value
    (about 2 nats / 1 decade above 1). Used to scale a network's mel input."""
    if cfg.normalisation == "diffwave":
        return 0.0, 1.0
    if cfg.log == "log10":
        return math.log10(cfg.log_floor), 1.0
    return math.log(cfg.log_floor), 2.0
