"""Denoiser networks: the DiffWave-family model, its embeddings and conditioners.

>>> from wavediff.nn import build_denoiser
>>> net = build_denoiser("base", mel_bins=80, hop=256)   # DiffWave base as a vocoder
>>> # out = net(x_t, logsnr, mel=mel)  x_t (B, 1, T), logsnr (B,), mel (B, 80, T // hop)
"""

from .conditioners import ClassEmbedding, Conditioning, MelUpsampler, factorize_hop
from .build import Network, build_denoiser, build_network
from .config import PRESETS, DenoiserConfig, SpectralConfig, network_config_from_dict
from .diffwave import DiffWave, ResidualLayer
from .spectral import SpectralDenoiser
from .embeddings import LogSNRFourierFeatures, NoiseLevelEmbedding
from .step_embedding import DiffWaveStepEmbedding

__all__ = [
    "build_denoiser",
    "build_network",
    "network_config_from_dict",
    "Network",
    "DiffWave",
    "DenoiserConfig",
    "SpectralConfig",
    "SpectralDenoiser",
    "PRESETS",
    "Conditioning",
    "ResidualLayer",
    "MelUpsampler",
    "ClassEmbedding",
    "LogSNRFourierFeatures",
    "NoiseLevelEmbedding",
    "DiffWaveStepEmbedding",
    "factorize_hop",
]
