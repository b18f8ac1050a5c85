"""Optional per-bin input maps of the spectral denoiser (:mod:`wavediff.nn.spectral`): each
bin's phase coherence with the neighbouring frames, and a harmonic stack of the log magnitude.
Both map STFT-shaped tensors ``(B, bins, F)`` to lists of maps of the same shape."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HARMONIC_RATIOS", "HarmonicStack", "PhaseCoherence"]

#: frequency ratios of the harmonic stack: where a partial's fundamental or its neighbours in
#: a series lie when it is the 2nd or 3rd harmonic, or the fundamental
HARMONIC_RATIOS = (1 / 3, 1 / 2, 2.0, 3.0)


class PhaseCoherence(nn.Module):
    """Phase coherence of each bin with the previous and the next frame: complex
    ``(B, bins, F)`` -> four real ``(B, bins, F)`` maps (real and imaginary parts of the
    backward and the forward unit phasor).

    ``X[m] conj(X[m-1])``, turned back by the advance of a sinusoid at bin k's centre
    frequency (``2 pi k hop / n_fft`` per frame), is about ``|X|^2 exp(2i pi (f - f_k) hop / sr)``
    for a steady partial at ``f``: the same in every frame, turning by a fixed step from bin
    to bin, where noise gives one that changes from frame to frame. The raw ``Re X``, ``Im X``
    of a steady partial turn by the bin's own advance, which a kernel shared across bins
    cannot undo. Zero where a frame has no neighbour."""

    def __init__(self, bins: int, hop: int, n_fft: int) -> None:
        super().__init__()
        advance = torch.exp(-2j * math.pi * torch.arange(bins) * hop / n_fft)
        self.register_buffer("advance", advance[:, None].to(torch.complex64), persistent=False)

    def forward(self, spec: Tensor) -> list[Tensor]:
        product = spec[..., 1:] * spec[..., :-1].conj() * self.advance
        phasor = torch.view_as_real(product / (product.abs() + 1e-6)).movedim(-1, 1)  # (B, 2, bins, F-1)
        backward, forward = F.pad(phasor, (1, 0)), F.pad(phasor, (0, 1))
        return [backward[:, 0], backward[:, 1], forward[:, 0], forward[:, 1]]


class HarmonicStack(nn.Module):
    """``(B, bins, F)`` -> one ``(B, bins, F)`` map per ratio r of :data:`HARMONIC_RATIOS`:
    at bin k, the value at bin ``r k`` (linear interpolation; 0 past the last bin). With these,
    a kernel that sees a few bins sees whether a peak has the partners of a harmonic series
    or is a lone peak of the noise."""

    def __init__(self, bins: int) -> None:
        super().__init__()
        position = torch.tensor(HARMONIC_RATIOS)[:, None] * torch.arange(bins)
        lo = position.floor().long().clamp(max=bins - 1)
        frac = position - position.floor()
        inside = (position <= bins - 1).float()
        self.register_buffer("lo", lo, persistent=False)
        self.register_buffer("hi", (lo + 1).clamp(max=bins - 1), persistent=False)
        self.register_buffer("weights", torch.stack([(1 - frac) * inside, frac * inside])[..., None],
                             persistent=False)

    def forward(self, values: Tensor) -> list[Tensor]:
        stacked = values[:, self.lo] * self.weights[0] + values[:, self.hi] * self.weights[1]  # (B, ratios, bins, F)
        return list(stacked.unbind(1))
