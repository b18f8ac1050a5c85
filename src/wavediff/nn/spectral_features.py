"""Optional per-bin input maps of the spectral denoiser (:mod:`wavediff.nn.spectral`): each
bin's phase coherence with the neighbouring frames, and a harmonic stack of the log magnitude.
Both map STFT-shaped tensors ``(B, bins, F)`` to lists of maps of the same shape."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HARMONIC_RATIOS", "HarmonicStack", "HarmonicTemplates", "PhaseCoherence"]

#: frequency ratios of the harmonic stack: where a partial's fundamental or its neighbours in
#: a series lie when it is the 2nd or 3rd harmonic, or the fundamental
HARMONIC_RATIOS = (1 / 3, 1 / 2, 2.0, 3.0)
# harmonic templates: lowest fundamental (bins), candidates per octave, width of each partial
# (bins; a Hann window's main lobe is +-2 bins wide) and the highest fundamental (share of the bins)
_TEMPLATE_LOWEST = 1.5
_TEMPLATES_PER_OCTAVE = 24
_TEMPLATE_WIDTH = 0.7
_TEMPLATE_HIGHEST = 1 / 6


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


class HarmonicTemplates(nn.Module):
    """A choice of one fundamental per frame, turned into the comb of its harmonics:
    logits ``(B, candidates + 1, F)`` -> one ``(B, bins, F)`` map.

    The candidates are fundamentals from 1.5 bins up to a sixth of the bins, 24 per octave
    (a quarter tone, 2.9% apart); the last logit is "no pitch" (an empty comb). The map is
    the softmax-weighted sum of the candidates' templates, each a Gaussian bump of 0.7 bins
    at every multiple of its fundamental below the last bin. A softmax that settles on one
    candidate gives the lines of one harmonic series: a network that reads the map sees
    where one note's partials lie, not the union of every pitch the noise allows."""

    def __init__(self, bins: int) -> None:
        super().__init__()
        octaves = math.log2(bins * _TEMPLATE_HIGHEST / _TEMPLATE_LOWEST)
        f0 = _TEMPLATE_LOWEST * 2 ** (torch.arange(int(octaves * _TEMPLATES_PER_OCTAVE) + 1) / _TEMPLATES_PER_OCTAVE)
        centre = torch.arange(bins, dtype=torch.float32)
        harmonic = torch.round(centre[None, :] / f0[:, None])  # nearest multiple of each f0 to each bin
        distance = centre[None, :] - harmonic.clamp_min(1) * f0[:, None]
        templates = torch.exp(-0.5 * (distance / _TEMPLATE_WIDTH) ** 2)
        self.register_buffer("f0", f0, persistent=False)
        self.register_buffer("templates", templates, persistent=False)  # (candidates, bins)

    @property
    def candidates(self) -> int:
        """Fundamentals to choose from (the logits have one more: no pitch)."""
        return self.f0.shape[0]

    def forward(self, logits: Tensor) -> Tensor:
        weights = logits.softmax(dim=1)[:, :-1]  # (B, candidates, F)
        return torch.einsum("bcf,cn->bnf", weights, self.templates)
