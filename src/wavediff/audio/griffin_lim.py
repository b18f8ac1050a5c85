"""Griffin-Lim mel inversion: the untrained baseline every neural vocoder must beat.

Two stages, both in torch, with exactly the framing of the :class:`MelConfig` the mel was
computed with (padding, window, centring, normalisation):

1. :func:`mel_to_magnitude`: final mel features -> linear magnitude spectrogram, the
   non-negative least-squares solution of ``fbank @ S = mel`` (pseudo-inverse start,
   then multiplicative NNLS updates, which keep ``S >= 0``);
2. :func:`griffin_lim`: the "fast" Griffin-Lim iteration (Perraudin et al., 2013; momentum
   0.99, librosa's default) from seeded random phases: alternate between a signal whose
   STFT has the target magnitude and the consistent STFT of that signal.

``griffin_lim(log_mel(audio, cfg), cfg)`` therefore reconstructs ``audio`` up to phase.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .mel import decompress_mel, mel_filters
from .mel_config import MelConfig

__all__ = ["DEFAULT_ITERATIONS", "MelFraming", "griffin_lim", "griffin_lim_magnitude", "least_squares_inversion",
           "mel_to_magnitude", "stft_magnitude"]

#: Iterations of :func:`griffin_lim` (as the baseline rows of vocoder reports use it).
DEFAULT_ITERATIONS = 64
_NNLS_ITERATIONS = 30
_MOMENTUM = 0.99


def least_squares_inversion(mel: torch.Tensor, fbank: torch.Tensor, fbank_pinv: torch.Tensor,
                            iterations: int) -> torch.Tensor:
    """Non-negative least-squares ``S`` with ``fbank @ S ~ mel``: ``(..., n_mels, F) ->
    (..., n_fft//2+1, F)`` (linear mel, not log). Pseudo-inverse start clipped at 0, then
    ``iterations`` multiplicative updates, which keep ``S >= 0``."""
    mag = (fbank_pinv @ mel).clamp_min(0.0)
    fbank_t = fbank.T
    target = fbank_t @ mel
    for _ in range(iterations):
        mag = mag * target / (fbank_t @ (fbank @ mag) + 1e-12)
    return mag


def mel_to_magnitude(features: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Linear STFT magnitude whose mel is ``features``: ``(..., n_mels, F) -> (..., n_fft//2+1, F)``.

    The features are first decompressed (log, floor and normalisation undone); for
    ``power=2`` configs the result is still a magnitude (square root of the power).
    Bins above ``fmax`` (no filter covers them) come out as 0.
    """
    mel = decompress_mel(features.double(), cfg)
    _, fbank = mel_filters(cfg)
    mag = least_squares_inversion(mel, fbank, torch.linalg.pinv(fbank), _NNLS_ITERATIONS)
    if cfg.power == 2.0:
        mag = mag.clamp_min(0.0).sqrt()
    return (mag * cfg.stft_scale()).float()


def _overlap_add(frames: torch.Tensor, window: torch.Tensor, hop: int) -> torch.Tensor:
    """Windowed overlap-add of ``(B, n_fft, N)`` frames, divided by the summed squared
    window (where it is not ~0): the least-squares inverse of the STFT."""
    batch, n_fft, count = frames.shape
    total = (count - 1) * hop + n_fft
    kernel = dict(output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))
    signal = F.fold(frames * window[:, None], **kernel).reshape(batch, total)
    norm = F.fold(window.pow(2)[None, :, None].expand(1, n_fft, count).contiguous(), **kernel).reshape(1, total)
    return signal / norm.clamp_min(1e-3)


class MelFraming:
    """The STFT of a :class:`MelConfig` (its padding, window and hop) and its least-squares
    inverse, for ``frames`` frames and ``length`` samples."""

    def __init__(self, cfg: MelConfig, frames: int, length: int, device: torch.device) -> None:
        window, _ = mel_filters(cfg)
        window = F.pad(window.float(), ((cfg.n_fft - cfg.win_length) // 2, (cfg.n_fft - cfg.win_length + 1) // 2))
        self.window, self.cfg, self.frames, self.length = window.to(device), cfg, frames, length

    def to_audio(self, spec: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        signal = _overlap_add(torch.fft.irfft(spec, n=cfg.n_fft, dim=1), self.window, cfg.hop_length)
        signal = signal[:, cfg.pad : cfg.pad + self.length]
        return F.pad(signal, (0, self.length - signal.shape[-1]))

    def to_spec(self, audio: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        padded = F.pad(audio[:, None], (cfg.pad, cfg.pad), mode=cfg.pad_mode)[:, 0] if cfg.pad else audio
        spec = torch.stft(padded, cfg.n_fft, cfg.hop_length, cfg.n_fft, self.window, center=False,
                          return_complex=True)
        return spec[..., : self.frames]


def stft_magnitude(audio: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Linear STFT magnitude of ``audio`` with the MelConfig's framing: ``(B, T) -> (B, n_fft//2+1,
    F)``, in the units :func:`mel_to_magnitude` returns (what a mel vocoder would need to know)."""
    frames = cfg.num_frames(audio.shape[-1])
    return MelFraming(cfg, frames, audio.shape[-1], audio.device).to_spec(audio.float()).abs()


def griffin_lim_magnitude(magnitude: torch.Tensor, cfg: MelConfig, *, length: int | None = None,
                          iterations: int = DEFAULT_ITERATIONS, seed: int = 0) -> torch.Tensor:
    """Waveform whose STFT magnitude (the MelConfig's framing) is about ``magnitude``:
    ``(B, n_fft//2+1, F) -> (B, length)``; seeded random start, fast Griffin-Lim."""
    if magnitude.dim() != 3 or magnitude.shape[1] != cfg.n_fft // 2 + 1:
        raise ValueError(f"expected a magnitude of shape (B, {cfg.n_fft // 2 + 1}, frames), "
                         f"got {tuple(magnitude.shape)}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    frames = magnitude.shape[-1]
    framing = MelFraming(cfg, frames, frames * cfg.hop_length if length is None else int(length), magnitude.device)
    gen = torch.Generator().manual_seed(seed)
    phase = torch.rand(magnitude.shape, generator=gen).to(magnitude.device) * (2 * math.pi)
    audio = framing.to_audio(magnitude * torch.exp(1j * phase))
    previous = None
    for _ in range(iterations):
        spec = framing.to_spec(audio)
        accelerated = spec if previous is None else spec + _MOMENTUM * (spec - previous)
        previous = spec
        audio = framing.to_audio(magnitude * torch.exp(1j * torch.angle(accelerated)))
    return audio


def griffin_lim(
    features: torch.Tensor,
    cfg: MelConfig,
    *,
    length: int | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    seed: int = 0,
) -> torch.Tensor:
    """Waveform whose mel is about ``features``: ``(B, n_mels, F) -> (B, length)``.

    Args:
        features: final mel features in ``cfg``'s convention (as :func:`log_mel` gives).
        cfg: the MelConfig of the features (its framing is inverted exactly).
        length: samples of the output; default ``F * hop_length``.
        iterations: Griffin-Lim iterations (64: the usual baseline).
        seed: seed of the initial random phases (the result is deterministic).

    Returns:
        float32 audio in the units of the original waveform (not normalised).
    """
    if features.dim() != 3 or features.shape[1] != cfg.n_mels:
        raise ValueError(f"expected mel features of shape (B, {cfg.n_mels}, frames), got {tuple(features.shape)}")
    magnitude = mel_to_magnitude(features.cpu(), cfg).to(features.device)
    return griffin_lim_magnitude(magnitude, cfg, length=length, iterations=iterations, seed=seed)
