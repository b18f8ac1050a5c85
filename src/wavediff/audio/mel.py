"""Mel spectrogram features: computation, compression, checks and conversion.

A :class:`MelConfig` (defined in :mod:`wavediff.audio.mel_config`, re-exported here with
:class:`MelConfigMismatch`, :data:`MEL_PRESETS` and :data:`CONVERTIBLE_FIELDS`) describes a
feature completely; the functions and modules here compute exactly what it describes.

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

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .io import check_waveform
from .mel_config import CONVERTIBLE_FIELDS, MEL_PRESETS, MelConfig, MelConfigMismatch

__all__ = [
    "MelConfig",
    "MelConfigMismatch",
    "MEL_PRESETS",
    "CONVERTIBLE_FIELDS",
    "MelSpectrogram",
    "LogMel",
    "mel_filters",
    "mel_spectrogram",
    "log_mel",
    "compress_mel",
    "decompress_mel",
    "convert_log_mel",
    "check_mel",
    "nominal_range",
]

# DiffWave's normalisation: db = 20*log10(mel) - 20, features = clamp((db + 100) / 100, 0, 1).
_DW_REF_DB = 20.0
_DW_MIN_DB = -100.0


# ---------------------------------------------------------------------------- filters
@functools.lru_cache(maxsize=32)
def mel_filters(cfg: MelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The analysis window and mel filter bank of ``cfg``, float64 on CPU, cached per config.

    Returns ``(window, fbank)``: the periodic Hann window ``(win_length,)`` (not yet
    zero-padded to ``n_fft``) and the librosa filter bank ``(n_mels, n_fft // 2 + 1)`` that
    maps a linear spectrogram to the linear mel. Shared, not copied: do not modify them
    in place.
    """
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
    window, fbank = mel_filters(cfg)
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
        window, fbank = mel_filters(cfg)
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
