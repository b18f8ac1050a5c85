"""Fit a ``corpus`` prior (``SpectralConfig.prior="corpus"``) from a run's training data.

The spectral denoiser's ``corpus`` prior is the training segments' mean power per STFT bin
and frame (per class for a class-conditioned network): a data statistic, like
``data_scale``, computed once before training from segments drawn the way training draws
them, and stored in the network (so in every checkpoint, EMA copy and distilled student).
"""

from __future__ import annotations

from typing import Any

import torch

from ..audio.data_transform import DataTransform
from ..data.datasets import SegmentDataset

__all__ = ["PRIOR_SEGMENTS", "fit_corpus_prior"]

#: training segments the prior is averaged over (each clip several times on small corpora)
PRIOR_SEGMENTS = 1024


def fit_corpus_prior(module: Any, store: Any, segment_samples: int, seed: int,
                     segments: int = PRIOR_SEGMENTS) -> bool:
    """Fit the corpus prior of ``module.net`` (a :class:`~wavediff.train.module.DiffusionModule`)
    on ``segments`` random training segments of ``store`` (a ``ClipStore``), encoded with the
    recipe's data transform, and copy it into the EMA network. Returns whether the network
    has such a prior (``False``: nothing to do)."""
    net = module.net
    config = getattr(net, "config", None)
    if not getattr(config, "uses_corpus_prior", False):
        return False
    transform = DataTransform.from_config(module.recipe.diffusion)
    dataset = SegmentDataset(store, segment_samples, segments, seed=seed + 7919)
    items = [dataset[i] for i in range(segments)]
    x0 = transform.encode(torch.stack([item["audio"] for item in items]))
    labels = torch.stack([item["label"] for item in items]) if config.num_classes is not None else None
    net.fit_corpus_prior(x0, labels)
    ema = dict(module.ema.model.named_buffers())
    for name, buffer in net.named_buffers():
        if name.startswith("corpus_"):  # the power, and a mixture's weights
            ema[name].copy_(buffer)
    return True
