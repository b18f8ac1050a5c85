"""What every denoiser network exposes about its configuration (``self.config``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

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

    def _embed_class(self, class_label: Tensor | int | None, batch: int | None) -> Tensor | None:
        """The ``(B, mlp_dim)`` class vectors of ``class_label`` (an ``int`` or a ``(1,)`` tensor
        broadcasts to the batch), or ``None`` for a network without classes; ``batch`` is the
        mel's batch size when there is one. Wrong or missing labels raise ``ValueError``."""
        embedding = self.class_embedding  # type: ignore[attr-defined]
        classes = self.config.num_classes  # type: ignore[attr-defined]
        if embedding is None:
            if class_label is not None:
                raise ValueError("this denoiser is not class-conditioned (num_classes=None) but class_label was given")
            return None
        if class_label is None:
            raise ValueError(
                f"this denoiser is class-conditioned: expected class_label of shape (B,) with values in "
                f"0..{classes} ({classes} = null class for the unconditional branch), got None"
            )
        device = embedding.embedding.weight.device
        if isinstance(class_label, int) and not isinstance(class_label, bool):
            class_label = torch.full((1,), class_label, dtype=torch.long, device=device)
        if not isinstance(class_label, Tensor):
            raise ValueError(f"class_label must be an int or an integer tensor, got {type(class_label).__name__}")
        if batch is not None and class_label.dim() == 1 and class_label.shape[0] not in (1, batch):
            raise ValueError(f"class_label has batch size {class_label.shape[0]} but mel has batch size {batch}")
        return embedding(class_label.to(device))

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
