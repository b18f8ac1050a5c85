"""What every denoiser network exposes about its configuration (``self.config``)."""

from __future__ import annotations

from torch import nn

__all__ = ["ConfiguredDenoiser"]


class ConfiguredDenoiser(nn.Module):
    """Base of the denoisers: conditioning facts read from ``self.config`` (a
    ``DenoiserConfig`` or ``SpectralConfig``) and the parameter count."""

    config: object

    @property
    def null_class(self) -> int | None:
        """Label of the null class (``num_classes``) for classifier-free guidance, or
        ``None`` for a network without class conditioning."""
        return self.config.num_classes  # type: ignore[attr-defined]

    @property
    def mel_bins(self) -> int | None:
        """Mel channels of the conditioning spectrogram, or ``None`` (not a vocoder)."""
        return self.config.mel_bins  # type: ignore[attr-defined]

    @property
    def hop(self) -> int:
        """Audio samples per mel frame."""
        return self.config.hop  # type: ignore[attr-defined]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
