"""Distribution metrics between generated and real audio on download-free features.

Standard FAD embeddings (VGGish, PANNs, CLAP) cannot be fetched here, so wavediff measures
distributions on normalised log-mel statistics:

* frame features: every log-mel frame ``(n_mels,)`` of a clip (floored at about -80 dBFS,
  see :data:`FEATURE_LOG_FLOOR`); ``fd_mel`` is the Frechet
  distance between Gaussian fits of the real and the generated frames, after standardising
  each mel band with the real frames' mean and std (so the number does not depend on the
  dB offset of the log floor and every band counts alike);
* clip embeddings: per clip the mean and std over time of each standardised band
  ``(2 * n_mels,)``; precision / recall (Kynkaenniemi et al. 2019, k-NN balls), the
  nearest-neighbour copy check and the class-consistency check use these.

The numbers rank models trained on the same corpus; they are not comparable to published
FAD values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from ..audio.mel import LogMel, MelConfig

FEATURE_NOTE = ("fd_mel, precision, recall and the copy check use normalised log-mel statistics "
                "(no downloaded embedding network); they rank models on the same corpus and are "
                "not comparable to published FAD numbers.")


#: Log floor of the feature mels: white noise at about -80 dBFS reaches it in every band.
#: Without it, noise far below audibility dominates the distances whenever the real clips
#: hold digital silence (synthetic corpora; silence between notes): at the hifigan floor
#: (1e-5, about -100 dBFS) real clips with white noise 40 dB under the signal already score
#: chance on class consistency. It plays the part of the log offset of VGGish-style features.
FEATURE_LOG_FLOOR = 1e-4


def feature_mel_config(sample_rate: int) -> MelConfig:
    """The log-mel front-end of the distribution metrics at ``sample_rate`` (64 bands up to
    min(8 kHz, Nyquist), 1024-point FFT, hop 256, natural log floored at
    :data:`FEATURE_LOG_FLOOR`)."""
    return MelConfig.preset("hifigan", sample_rate=sample_rate, n_mels=64, fmax=min(8000.0, sample_rate / 2),
                            log_floor=FEATURE_LOG_FLOOR)


@dataclass
class Standardiser:
    """Per-band mean and std of real log-mel frames, used for every feature set alike."""

    mean: np.ndarray  # (n_mels,)
    std: np.ndarray  # (n_mels,)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return (frames - self.mean) / self.std


class MelFeatures:
    """Log-mel frames and clip embeddings of audio (B, 1, T) or (B, T) at one sample rate."""

    def __init__(self, sample_rate: int) -> None:
        self.config = feature_mel_config(sample_rate)
        self.extract = LogMel(self.config)
        self.standardiser: Standardiser | None = None

    @torch.inference_mode()
    def log_mel(self, audio: torch.Tensor) -> np.ndarray:
        """(B, n_mels, frames) float64 log-mel."""
        x = torch.as_tensor(audio, dtype=torch.float32)
        x = x.reshape(x.shape[0], -1)
        return self.extract(x).double().numpy()

    def fit(self, real_audio: torch.Tensor) -> "MelFeatures":
        """Take the per-band normalisation from the real (reference) clips."""
        mel = self.log_mel(real_audio)
        frames = mel.transpose(0, 2, 1).reshape(-1, mel.shape[1])
        self.standardiser = Standardiser(frames.mean(0), frames.std(0) + 1e-6)
        return self

    def _standard(self, audio: torch.Tensor) -> np.ndarray:
        if self.standardiser is None:
            raise RuntimeError("call fit(real_audio) first: features are normalised with the real clips' statistics")
        mel = self.log_mel(audio).transpose(0, 2, 1)  # (B, frames, n_mels)
        return self.standardiser(mel)

    def frames(self, audio: torch.Tensor) -> np.ndarray:
        """(B * frames, n_mels) standardised log-mel frames."""
        z = self._standard(audio)
        return z.reshape(-1, z.shape[-1])

    def clip_embeddings(self, audio: torch.Tensor) -> np.ndarray:
        """(B, 2 * n_mels): per-band mean and std over time of the standardised log-mel."""
        z = self._standard(audio)
        return np.concatenate([z.mean(1), z.std(1)], axis=1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of feature rows ``a`` (n, d) and ``b`` (m, d):
    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("the Frechet distance needs at least 2 feature rows per set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * covmean))
    return max(value, 0.0)


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(x, x)
    # column 0 after sorting is the point itself (distance 0)
    return np.sort(d, axis=1)[:, min(k, len(x) - 1)]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al. 2019) of clip embeddings.

    Precision: the fraction of generated clips inside the union of k-NN balls of the real
    clips (are samples realistic?); recall: the fraction of real clips inside the union of
    k-NN balls of the generated clips (is the data covered?). Both in [0, 1], higher is
    better.
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("precision/recall need at least 2 real and 2 generated clips")
    r_real, r_fake = _knn_radius(real, k), _knn_radius(fake, k)
    d = _pairwise(fake, real)  # (fake, real)
    precision = float((d <= r_real[None, :]).any(1).mean())
    recall = float((d.T <= r_fake[None, :]).any(1).mean())
    return precision, recall


def copy_check(generated: np.ndarray, train: np.ndarray, held_out: np.ndarray) -> dict[str, float]:
    """Are samples copies of training clips?

    Compares each generated clip's distance to its nearest training clip with the same
    distance for real held-out clips (which are certainly not copies). Returns
    ``nn_train_ratio``: median generated->train distance over median held-out->train
    distance (about 1 for a model that generalises, near 0 for a model that memorises), and
    ``copy_fraction``: the share of generated clips closer to a training clip than the
    closest held-out clip is (lower is better).
    """
    if len(train) == 0 or len(held_out) == 0 or len(generated) == 0:
        raise ValueError("the copy check needs generated, training and held-out clips")
    gen_nn = _pairwise(generated, train).min(1)
    real_nn = _pairwise(held_out, train).min(1)
    return {"nn_train_ratio": float(np.median(gen_nn) / max(np.median(real_nn), 1e-12)),
            "copy_fraction": float((gen_nn < real_nn.min()).mean())}


def class_consistency(generated: np.ndarray, labels: np.ndarray, real: np.ndarray,
                      real_labels: np.ndarray) -> float:
    """Share of generated clips whose nearest real class centroid (in clip-embedding
    space) is the class they were generated for (higher is better)."""
    classes = np.unique(real_labels)
    centroids = np.stack([real[real_labels == c].mean(0) for c in classes])
    nearest = classes[_pairwise(generated, centroids).argmin(1)]
    return float((nearest == labels).mean())
