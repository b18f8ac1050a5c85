"""wavediff: diffusion models of raw audio waveforms."""

__version__ = "0.1.0"
