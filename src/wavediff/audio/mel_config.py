"""The description of a mel feature: :class:`MelConfig`, its presets and its checks.

One :class:`MelConfig` describes a feature completely (STFT, mel filter bank, log and
normalisation). It is stored with every model that consumes or produces mels, and
:meth:`MelConfig.require_same` refuses features made with another config
(:class:`MelConfigMismatch`, listing every differing field). The features themselves are
computed in :mod:`wavediff.audio.mel`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["MelConfig", "MelConfigMismatch", "MEL_PRESETS", "CONVERTIBLE_FIELDS"]

_PAD_MODES = ("reflect", "constant", "replicate")
_MEL_SCALES = ("slaney", "htk")
_MEL_NORMS = ("slaney", None)
_LOGS = ("log10", "ln")
_NORMALISATIONS = ("diffwave", "none")
_INT_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels")
_FLOAT_FIELDS = ("fmin", "power", "log_floor")

#: Fields in which two configs may differ and still be converted by
#: :func:`wavediff.audio.mel.convert_log_mel`.
CONVERTIBLE_FIELDS: frozenset[str] = frozenset({"log", "log_floor", "normalisation", "stft_normalized"})


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
