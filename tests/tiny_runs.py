"""Recipe overrides that make training and distillation runs tiny (a few seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a 2-layer, 8-channel denoiser
NET = "model.overrides={residual_layers: 2, residual_channels: 8, dilation_cycle: 2, embedding_dim: 16, mlp_dim: 32}"
# the same as a DiffWave network in any recipe (the demo recipe's own network is the spectral one)
TINY_NET = ["model.preset=tiny", NET]
# short segments, small batches, two validation clips, a log line every step
SMALL = ["data.segment_samples=1024", "data.batch_size=2", "data.valid_clips=2", "trainer.log_every=1"]
