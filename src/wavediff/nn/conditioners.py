"""Conditioning inputs of the denoiser: mel upsampler, class embedding, precomputed bundle.

Conditioning that does not depend on ``x_t`` or ``logsnr`` (the mel spectrogram upsampled
to the sample rate, the class embedding) is gathered in a :class:`Conditioning` object by
:meth:`wavediff.nn.DiffWave.condition`, so a sampler can compute it once per clip and
reuse it at every step.

Length rule between a waveform of ``T`` samples and its mel of ``F`` frames at ``hop``
samples per frame: ``F == T // hop`` or ``F == ceil(T / hop)`` (at least one frame).
Frame ``i`` is centred on samples ``[i * hop, (i + 1) * hop)``; the upsampled features
(``F * hop`` samples) are cropped on the right, or padded by repeating the last sample,
to exactly ``T`` samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "factorize_hop",
    "allowed_frame_counts",
    "check_frame_count",
    "fit_to_length",
    "MelUpsampler",
    "ClassEmbedding",
    "Conditioning",
]

# Largest upsampling factor of one transposed-convolution stage chosen automatically
# (its kernel is twice as long). A hop with no factorisation within it (a large prime)
# gets the factorisation with the smallest largest factor.
MAX_STAGE_FACTOR = 32
LEAKY_RELU_SLOPE = 0.4


def _factorizations(n: int, parts: int, largest: int) -> list[tuple[int, ...]]:
    """All ways of writing n as a product of at most ``parts`` factors >= 2, each <= largest,
    in non-increasing order."""
    if n == 1:
        return [()]
    if parts == 0:
        return []
    out = []
    for f in range(min(n, largest), 1, -1):
        if n % f == 0:
            for rest in _factorizations(n // f, parts - 1, f):
                out.append((f,) + rest)
    return out


def factorize_hop(hop: int, max_factors: int = 3) -> tuple[int, ...]:
    """Upsampling factors (largest first) whose product is ``hop``.

    Uses the fewest stages whose factors are all ``<= MAX_STAGE_FACTOR`` (most balanced
    among those); a hop that has no such factorisation in ``max_factors`` stages (e.g. a
    large prime) gets the factorisation with the smallest largest factor, possibly a single
    stage. ``hop == 1`` gives ``()`` (no upsampling). Examples: 256 -> (16, 16),
    200 -> (20, 10), 300 -> (20, 15), 251 -> (251,), 2048 -> (16, 16, 8).
    """
    if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
        raise ValueError(f"hop must be a positive int, got {hop!r}")
    if hop == 1:
        return ()
    candidates = _factorizations(hop, max_factors, hop)
    within = [c for c in candidates if c[0] <= MAX_STAGE_FACTOR]
    if within:
        return min(within, key=lambda c: (len(c), c[0]))
    return min(candidates, key=lambda c: (c[0], len(c)))


def allowed_frame_counts(length: int, hop: int) -> tuple[int, ...]:
    """Mel frame counts accepted for ``length`` samples: ``length // hop`` and
    ``ceil(length / hop)`` (zero excluded)."""
    counts = sorted({length // hop, -(-length // hop)} - {0})
    return tuple(counts)


def check_frame_count(frames: int, length: int, hop: int) -> None:
    """Raise ``ValueError`` unless ``frames`` mel frames fit ``length`` samples at ``hop``."""
    allowed = allowed_frame_counts(length, hop)
    if frames not in allowed:
        expected = " or ".join(str(a) for a in allowed)
        raise ValueError(
            f"mel has {frames} frames but x_t has {length} samples at hop {hop}: expected "
            f"{expected} frames (T // hop = {length // hop}, ceil(T / hop) = {-(-length // hop)})"
        )


def fit_to_length(features: Tensor, length: int) -> Tensor:
    """Crop on the right, or pad by repeating the last sample, to ``length`` samples.

    Shapes: ``(B, D, L)`` -> ``(B, D, length)``: a view when nothing is padded (the
    denoiser reads it row by row, so a copy of ``D x length`` values would only cost time).
    """
    current = features.shape[-1]
    if current >= length:
        return features[..., :length]
    return F.pad(features, (0, length - current), mode="replicate")


class _UpsampleStage(nn.Module):
    """One DiffWave-style stage: a 2D transposed convolution over (mel, time) with kernel
    ``(3, 2 * factor)`` and stride ``(1, factor)``, cropped to exactly ``factor`` times
    the input length, then leaky ReLU (slope 0.4).

    Shapes: ``(B, 1, M, L)`` -> ``(B, 1, M, L * factor)``.
    """

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.conv = nn.ConvTranspose2d(1, 1, kernel_size=(3, 2 * factor), stride=(1, factor), padding=(1, 0))

    def forward(self, x: Tensor) -> Tensor:
        batch, _, mels, length = x.shape
        f = self.factor
        # The transposed conv produces (L + 1) * f samples; input column i touches outputs
        # [i * f, i * f + 2 f); dropping f // 2 at the start centres frame i on
        # [i * f, (i + 1) * f).
        #
        # Computed as one small matmul rather than with conv_transpose2d (~2x faster on the
        # CPU, same sums): output sample i * f + p of mel row m is
        #   sum_{a, c} x[m + a - 1, i + c - 1] * w[2 - a, (1 - c) * f + p],  a < 3, c < 2,
        # i.e. every (3 x 2) window of the zero-padded input times a (6, f) weight.
        padded = F.pad(x[:, 0], (1, 1, 1, 1))  # (B, M + 2, L + 2)
        windows = padded.unfold(1, 3, 1).unfold(2, 2, 1)  # (B, M, L + 1, 3, 2)
        weight = self.conv.weight.view(3, 2, f).flip(0, 1).reshape(6, f)
        full = torch.matmul(windows.reshape(batch, mels, length + 1, 6), weight).view(batch, mels, (length + 1) * f)
        start = f // 2
        if torch.is_grad_enabled():
            y = F.leaky_relu(full[..., start : start + length * f] + self.conv.bias, LEAKY_RELU_SLOPE)
        else:  # in place: no second full-size buffer
            y = F.leaky_relu_(full.add_(self.conv.bias), LEAKY_RELU_SLOPE)[..., start : start + length * f]
        return y.unsqueeze(1)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class MelUpsampler(nn.Module):
    """Upsample a mel spectrogram from frame rate to sample rate, for any hop.

    The hop is split into integer factors (see :func:`factorize_hop`) and each factor is a
    learned transposed-convolution stage (:class:`_UpsampleStage`).

    Args:
        hop: audio samples per mel frame.
        factors: explicit stage factors (product must be ``hop``); ``None`` = automatic.

    Shapes:
        ``mel``: ``(B, M, F)`` -> ``(B, M, F * hop)``.
    """

    def __init__(self, hop: int, factors: Sequence[int] | None = None) -> None:
        super().__init__()
        factors = tuple(factors) if factors is not None else factorize_hop(hop)
        if math.prod(factors) != hop:
            raise ValueError(f"upsample factors {factors} multiply to {math.prod(factors)}, expected hop={hop}")
        self.hop = hop
        self.factors = factors
        self.stages = nn.ModuleList(_UpsampleStage(f) for f in factors)

    def forward(self, mel: Tensor) -> Tensor:
        x = mel.unsqueeze(1)
        for stage in self.stages:
            x = stage(x)
        return x.squeeze(1)

    def macs_per_frame(self, mel_bins: int) -> int:
        """Multiply-accumulates per mel frame (per batch element) of all stages."""
        total, rate = 0, 1
        for f in self.factors:
            # each input element is scattered over a 3 x 2f kernel
            total += mel_bins * rate * 3 * 2 * f
            rate *= f
        return total


class ClassEmbedding(nn.Module):
    """Learned class vectors, with a reserved null class for classifier-free guidance.

    Args:
        num_classes: number of real classes; labels are ``0 .. num_classes - 1`` and the
            label ``num_classes`` is the null ("no class") class.
        dim: embedding width.

    Shapes:
        ``labels``: ``(B,)`` integer -> ``(B, dim)``.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes + 1, dim)

    @property
    def null_class(self) -> int:
        return self.num_classes

    def forward(self, labels: Tensor) -> Tensor:
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise ValueError(f"class_label must be an integer tensor, got dtype {labels.dtype}")
        if labels.dim() != 1:
            raise ValueError(f"class_label must have shape (B,), got {tuple(labels.shape)}")
        if labels.numel():
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high > self.num_classes:
                raise ValueError(
                    f"class_label out of range: got values in [{low}, {high}], expected 0 .. "
                    f"{self.num_classes - 1} or the null class {self.num_classes}"
                )
        return self.embedding(labels)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, null_class={self.null_class}"


@dataclass(frozen=True)
class Conditioning:
    """Conditioning that does not depend on ``x_t`` or ``logsnr``; compute it once per clip
    with :meth:`wavediff.nn.DiffWave.condition` and pass it as ``cond=`` at every step.

    Attributes:
        mel_features: ``(B, mel_bins, frames * hop)`` mel upsampled to the sample rate,
            or ``None`` for a network without mel conditioning.
        frames: number of mel frames ``F`` the features came from.
        hop: samples per frame.
        class_embedding: ``(B, mlp_dim)`` class vectors, or ``None``.
        prior_power: ``(B, bins, frames)`` power per STFT bin implied by the mel (the
            spectral denoiser's Wiener prior), or ``None``. The spectral denoiser keeps
            ``mel_features`` at mel frame rate, ``(B, mel_bins, frames)``.
        prior_magnitude: ``(B, mel n_fft // 2 + 1, frames)`` the prior's STFT magnitude of
            ``x_0`` with the mel's own framing (what the spectral denoiser's projection
            restores), or ``None``.
        prior_log_weight: ``(B, K)`` log weights of a mixture prior (the spectral denoiser's
            ``corpus`` prior with ``prior_components = K > 1``; ``prior_power`` is then
            ``(B, K, bins, frames)``), or ``None``.
    """

    mel_features: Tensor | None = None
    frames: int | None = None
    hop: int | None = None
    class_embedding: Tensor | None = None
    prior_power: Tensor | None = None
    prior_magnitude: Tensor | None = None
    prior_log_weight: Tensor | None = None

    @property
    def batch_size(self) -> int | None:
        """Batch size, or ``None`` when nothing is conditioned (fits any batch)."""
        for t in (self.mel_features, self.class_embedding):
            if t is not None:
                return t.shape[0]
        return None

    def mel_for_length(self, length: int) -> Tensor | None:
        """Mel features fitted to ``length`` samples: ``(B, mel_bins, length)``.

        Raises:
            ValueError: ``frames`` does not fit ``length`` samples at ``hop``.
        """
        if self.mel_features is None:
            return None
        assert self.frames is not None and self.hop is not None
        check_frame_count(self.frames, length, self.hop)
        return fit_to_length(self.mel_features, length)

    def to(self, *args: Any, **kwargs: Any) -> "Conditioning":
        """Copy with tensors moved/cast like :meth:`torch.Tensor.to`."""
        return replace(
            self,
            mel_features=None if self.mel_features is None else self.mel_features.to(*args, **kwargs),
            class_embedding=None if self.class_embedding is None else self.class_embedding.to(*args, **kwargs),
            prior_power=None if self.prior_power is None else self.prior_power.to(*args, **kwargs),
            prior_magnitude=None if self.prior_magnitude is None else self.prior_magnitude.to(*args, **kwargs),
            prior_log_weight=None if self.prior_log_weight is None else self.prior_log_weight.to(*args, **kwargs),
        )
