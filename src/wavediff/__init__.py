"""wavediff: diffusion models of raw audio waveforms."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # `from wavediff import Vocoder` without importing torch/lightning at package import
    if name == "Vocoder":
        from .vocoder import Vocoder

        return Vocoder
    raise AttributeError(f"module 'wavediff' has no attribute {name!r}")
