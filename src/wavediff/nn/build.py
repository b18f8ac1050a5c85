"""Build a denoiser network from a preset name or a stored config."""

from __future__ import annotations

from typing import Any, Mapping

from .config import PRESETS, DenoiserConfig, NetworkConfig, SpectralConfig, network_config_from_dict
from .diffwave import DiffWave
from .spectral import SpectralDenoiser

__all__ = ["Network", "build_denoiser", "build_network"]

Network = DiffWave | SpectralDenoiser


def build_network(config: NetworkConfig | Mapping[str, Any]) -> Network:
    """The network of a config (or of its ``to_dict()``, as checkpoints store it)."""
    if not isinstance(config, (DenoiserConfig, SpectralConfig)):
        config = network_config_from_dict(config)
    if isinstance(config, SpectralConfig):
        return SpectralDenoiser(config)
    return DiffWave(config)


def build_denoiser(
    preset: str = "base",
    mel_bins: int | None = None,
    hop: int = 256,
    num_classes: int | None = None,
    **overrides: Any,
) -> Network:
    """Build a denoiser from a named preset.

    Args:
        preset: one of :data:`PRESETS` (``"tiny"``, ``"base"``, ``"large"``: DiffWave;
            ``"spectral"``: the frame-rate STFT network).
        mel_bins: mel bins for vocoder conditioning; ``None`` = no mel conditioning.
        hop: audio samples per mel frame.
        num_classes: number of classes for class conditioning; ``None`` = none.
        **overrides: any other field of the preset's config (e.g. ``residual_layers=20``).

    Example:
        ``build_denoiser("base", mel_bins=80, hop=256)`` is DiffWave base as a vocoder.

    Raises:
        ValueError: unknown preset or unknown / invalid field.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown denoiser preset {preset!r}; available presets: {', '.join(PRESETS)}")
    config = PRESETS[preset].replace(mel_bins=mel_bins, hop=hop, num_classes=num_classes, **overrides)
    return build_network(config)
