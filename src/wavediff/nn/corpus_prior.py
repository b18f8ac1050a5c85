"""The ``corpus`` prior of the spectral denoiser: fitting it, and its posterior given ``x_t``.

The prior is a zero-mean complex Gaussian per STFT bin and frame whose power ``P`` is a
statistic of the training segments. With one component per class, ``P`` is the class's mean
power; a class's notes of many pitches then give a ``P`` that holds the harmonics of all of
them, and the Wiener mean passes every one of those lines. With ``K`` components per class
(k-means of the segments' log power: notes of one pitch and envelope fall together) the
prior is a mixture, and the base estimate is its exact posterior mean given the noisy STFT
``X`` (noise of power ``sigma^2`` per coefficient):

    r_k  = softmax_k( log w_k + tau * sum_{bins, frames} log CN(X; 0, alpha^2 P_k + sigma^2) )
    E[X0 | X] = sum_k r_k * alpha P_k / (alpha^2 P_k + sigma^2) * X

At low SNR ``r`` is the mixture weights (every note's lines, faintly); as the noise falls, one
component's comb takes over. ``tau = hop / n_fft`` counts the overlapping frames' redundant
coefficients once (the STFT has ``n_fft / hop`` times more coefficients than the signal has
samples), which makes the likelihood of a whole clip that of about as many independent
coefficients as it has samples. Each component is blended with a tenth of its class's mean
power (``COMPONENT_FLOOR``), so that no component is silent where the class has energy.

Pure tensor functions: no modules, no I/O.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["component_posterior", "fit_class_powers", "fit_components", "kmeans", "mixture_posterior"]

# log-power floor of the k-means features (power in the network's normalised units, where
# the data has about unit power per bin): silence below it is all one silence
_FEATURE_FLOOR = 1e-4
_KMEANS_ITERATIONS = 30
# share of its class's mean power in every component: no component is silent where the class
# has energy, so a held-out note between the training notes' harmonics keeps a Wiener gain near
# 1 at high SNR (pure components made a 60-step demo run's likelihood bound on held-out notes
# 4.5 bits per sample, worse than the untrained network's 1.5; tests/test_train.py)
COMPONENT_FLOOR = 0.1


def kmeans(features: Tensor, k: int, seed: int = 0) -> Tensor:
    """Cluster the rows of ``features`` ``(N, D)`` into at most ``k`` groups (k-means++ seeding,
    then Lloyd iterations; deterministic for a seed; fewer groups when there are fewer distinct
    rows). Returns each row's group ``(N,)`` int64, numbered from 0 with none empty."""
    n = features.shape[0]
    if n == 0:
        raise ValueError("kmeans needs at least one row")
    k = min(k, n)
    x = features.detach().double().cpu()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    centres = [x[int(torch.randint(n, (1,), generator=gen))]]
    distance = (x - centres[0]).square().sum(1)
    for _ in range(1, k):
        if float(distance.sum()) <= 0:  # fewer distinct rows than groups: fewer groups
            break
        chosen = int(torch.multinomial(distance / distance.sum(), 1, generator=gen))
        centres.append(x[chosen])
        distance = torch.minimum(distance, (x - x[chosen]).square().sum(1))
    centre = torch.stack(centres)
    k = len(centres)
    assign = torch.cdist(x, centre).argmin(1)
    for _ in range(_KMEANS_ITERATIONS):
        for j in range(k):
            members = assign == j
            if not members.any():  # an empty group takes the row farthest from its own centre
                far = (x - centre[assign]).square().sum(1).argmax()
                assign[far] = j
                members = assign == j
            centre[j] = x[members].mean(0)
        new = torch.cdist(x, centre).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    # renumber so that every group 0..k-1 is used (an emptied group is filled above)
    used = torch.unique(assign)
    return torch.searchsorted(used, assign).to(features.device)


def _inertia(features: Tensor, assign: Tensor) -> float:
    """Sum of squared distances of the rows to their group's mean (what k-means minimises)."""
    groups = int(assign.max()) + 1
    counts = torch.bincount(assign, minlength=groups).double()[:, None]
    centre = torch.zeros(groups, features.shape[1], dtype=torch.float64).index_add_(0, assign, features) / counts
    return float((features - centre[assign]).square().sum())


def fit_components(power: Tensor, k: int, seed: int = 0, features: str = "spectrogram",
                   restarts: int = 1) -> tuple[Tensor, Tensor]:
    """A ``k``-component prior from segments' power ``(N, bins, frames)``: k-means of their log
    power (floored at ``_FEATURE_FLOOR``), each component the mean power of its segments.

    ``features="spectrogram"`` clusters the log power of every bin and frame;
    ``"spectrum"`` the log of each segment's power averaged over frames (a note's pitch is the
    same in every frame, its envelope is not: notes of one pitch fall together). The best of
    ``restarts`` k-means runs (seeds ``seed .. seed + restarts - 1``, least inertia) is kept.

    Returns ``(component_power (k, bins, frames), log_weight (k,))``, the weights being the
    share of segments in each component; with fewer than ``k`` distinct groups the unused
    components repeat the first one's power with weight 0 (``log_weight = -inf``)."""
    if power.dim() != 3 or power.shape[0] < 1:
        raise ValueError(f"expected power of shape (N, bins, frames), got {tuple(power.shape)}")
    if features not in ("spectrogram", "spectrum"):
        raise ValueError(f"features must be 'spectrogram' or 'spectrum', got {features!r}")
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    clean = power.double().clamp_min(0)
    if features == "spectrum":
        clean = clean.mean(-1)
    features_ = torch.log(clean + _FEATURE_FLOOR).flatten(1).cpu()
    runs = [kmeans(features_, k, seed + run) for run in range(restarts)]
    assign = min(runs, key=lambda a: _inertia(features_, a)).to(power.device)
    groups = int(assign.max()) + 1
    out = power.new_zeros((k,) + tuple(power.shape[1:]), dtype=torch.float64)
    counts = torch.bincount(assign, minlength=k).double()
    out.index_add_(0, assign, power.double())
    out[:groups] /= counts[:groups, None, None]
    out[groups:] = out[0]
    log_weight = torch.log(counts / counts.sum())  # -inf for unused components
    return out, log_weight


def fit_class_powers(power: Tensor, labels: Tensor | None, classes: int, components: int = 1,
                     smoothing: int = 0, features: str = "spectrogram", restarts: int = 1) -> tuple[Tensor, Tensor]:
    """The corpus prior of every class from segments' power ``(N, bins, frames)``.

    Group ``k < classes`` is fitted on the segments with ``labels == k`` (``labels`` ``(N,)``,
    or ``None`` when there are no classes), group ``classes`` (the null class of guidance) on
    all of them, and a class without segments gets the null class's. With ``components == 1``
    a group is its segments' mean power; with more, a mixture (:func:`fit_components`, with
    ``features`` and ``restarts``) whose components each hold ``COMPONENT_FLOOR`` of the
    group's mean power.
    ``smoothing > 0`` averages every power over +-``smoothing`` bins (fewer at the edges).

    Returns ``(power, log_weight)``: ``(classes + 1, bins, frames)`` or, for a mixture,
    ``(classes + 1, components, bins, frames)``, in float64; and ``(classes + 1, components)``
    log weights (zeros for ``components == 1``).
    """
    null = classes
    mixture = (components,) if components > 1 else ()
    fitted = power.new_zeros((classes + 1,) + mixture + tuple(power.shape[1:]), dtype=torch.float64)
    log_weight = power.new_zeros((classes + 1, components), dtype=torch.float64)
    groups = [(null, torch.arange(power.shape[0], device=power.device))]
    if labels is not None:
        groups += [(k, torch.nonzero(labels == k).flatten()) for k in range(classes)]
    for group, members in groups:
        if not len(members):
            fitted[group], log_weight[group] = fitted[null], log_weight[null]
            continue
        mean = power[members].double().mean(0)
        if components > 1:
            mixture_power, log_weight[group] = fit_components(power[members], components, seed=group,
                                                                        features=features, restarts=restarts)
            fitted[group] = (1 - COMPONENT_FLOOR) * mixture_power + COMPONENT_FLOOR * mean
        else:
            fitted[group] = mean
    if smoothing:
        # keeps each class's envelope, drops the comb of every note's harmonics
        bins, frames = power.shape[1:]
        flat = F.avg_pool1d(fitted.transpose(-1, -2).reshape(-1, 1, bins), 2 * smoothing + 1, 1, smoothing,
                            count_include_pad=False)
        fitted = flat.reshape(fitted.shape[:-2] + (frames, bins)).transpose(-1, -2)
    return fitted, log_weight


def _responsibility(spec: Tensor, inverse: Tensor, log_weight: Tensor, redundancy: float) -> Tensor:
    """Each component's posterior ``(B, K)`` (float64) given the clip's STFT ``(B, bins, F)``,
    from ``1 / v`` ``(B, K, bins, F)``: ``softmax(log w + tau * sum log CN(X; 0, v))``."""
    energy = (spec.real.square() + spec.imag.square()).unsqueeze(1)
    # float32 over bins, float64 over frames: exact enough, and twice as fast as float64 throughout
    log_likelihood = torch.addcmul(torch.log(inverse), energy, inverse, value=-1.0).sum(-2).double().sum(-1)
    return torch.softmax(log_weight.double() + redundancy * log_likelihood, dim=1)


def component_posterior(spec: Tensor, alpha2: Tensor, sigma2: Tensor, power: Tensor, log_weight: Tensor,
                        redundancy: float) -> Tensor:
    """The responsibilities ``r`` ``(B, K)`` (float64, rows summing to 1) of a mixture prior's
    components for one noisy STFT per example; the arguments are those of
    :func:`mixture_posterior`. At ``sigma2 -> 0`` (``alpha2 = 1``) it says which component a
    clean segment belongs to."""
    inverse = torch.addcmul(sigma2.unsqueeze(1), alpha2.unsqueeze(1), power).reciprocal_()
    return _responsibility(spec, inverse, log_weight, redundancy)


def mixture_posterior(spec: Tensor, alpha2: Tensor, sigma2: Tensor, power: Tensor, log_weight: Tensor,
                      redundancy: float) -> tuple[Tensor, Tensor]:
    """The posterior of a mixture-of-Gaussians prior given one noisy STFT per example.

    Args:
        spec: ``X = alpha X0 + sigma N``, ``(B, bins, F)`` complex, noise of unit power per
            coefficient.
        alpha2, sigma2: ``(B, 1, 1)`` signal and noise variances of the noise level.
        power: component powers ``(B, K, bins, F)`` (floored: positive).
        log_weight: ``(B, K)`` log mixture weights (``-inf`` for unused components; a row with
            one finite weight is that component alone: a pinned component).
        redundancy: ``tau``, the weight of each coefficient's log-likelihood (``hop / n_fft``).

    Returns:
        ``(wiener, mean_power)``, both ``(B, bins, F)``: the posterior-weighted Wiener gain
        (``E[X0 | X] = wiener * X``) and the posterior expectation of the prior power.
    """
    a2, s2 = alpha2.unsqueeze(1), sigma2.unsqueeze(1)
    inverse = torch.addcmul(s2, a2, power).reciprocal_()         # 1 / v, (B, K, bins, F)
    responsibility = _responsibility(spec, inverse, log_weight, redundancy).to(power.dtype)
    gain = torch.einsum("bk,bkxy->bxy", responsibility, power * inverse) * a2.squeeze(1).sqrt()
    return gain, torch.einsum("bk,bkxy->bxy", responsibility, power)
