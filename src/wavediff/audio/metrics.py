"""Objective audio metrics (reference-based). Lower is better unless stated."""

from __future__ import annotations

import torch

from .mel import LogMel, MelConfig


def mel_l1(estimate: torch.Tensor, reference: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """Mean absolute difference of log-mel features (in the config's log units) per example.

    ``estimate`` and ``reference``: (B, 1, T) or (B, T) audio at ``config.sample_rate``; the
    shorter length is used. Returns (B,)."""
    n = min(estimate.shape[-1], reference.shape[-1])
    extract = LogMel(config).to(estimate.device)
    a = extract(estimate[..., :n].reshape(estimate.shape[0], -1).float())
    b = extract(reference[..., :n].reshape(reference.shape[0], -1).float().to(estimate.device))
    return (a - b).abs().flatten(1).mean(1)
