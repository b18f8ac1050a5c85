"""Objective audio metrics for copy synthesis: generated audio against the original.

"Copy synthesis" means the estimate was generated from features of the reference (a
vocoder re-synthesising a recording from its mel spectrogram), so both signals share
the sample rate and the time axis. Every reference-based metric here compares them
frame by frame, without any time warping.

Conventions shared by all metrics (this module and :mod:`wavediff.audio.speech_metrics`;
the input checks live in :mod:`wavediff.audio.metric_inputs`):

- Inputs are float torch tensors or numpy arrays shaped ``(B, 1, T)``, ``(B, T)`` or
  ``(T,)`` (mono only). ``estimate`` and ``reference`` must have the same batch size;
  their lengths are cut to the shorter one (vocoders often return ``T // hop * hop``
  samples).
- Results are per example: a float64 tensor of shape ``(B,)`` for batched input and a
  Python ``float`` for 1-D input. Exceptions are stated in the docstring
  (:func:`mrstft_distance` returns a 0-d tensor for 1-D input so that it stays usable as
  a loss; :func:`mel_l1` takes batched tensors only and returns ``(B,)`` in the feature
  dtype, differentiable).
- :data:`METRICS` is the one registry of metric names (defined in
  :mod:`wavediff.audio.metric_registry`, re-exported here with :class:`MetricInfo`,
  :func:`metric_info` and the name lists): for every name a report can hold (these
  copy-synthesis metrics and the distribution metrics of :mod:`wavediff.eval.distribution`)
  its direction, unit, description and whether a report highlights its best value.
- Bad input raises ``ValueError`` with a message naming the argument (NaN/inf, a rank
  other than 1-3, several channels, mismatched batch sizes, empty signals, a sample rate
  the metric cannot use).

Cheap metrics, pure torch, always available: :func:`mrstft_distance`, :func:`mel_l1`,
:func:`lsd`. Speech metrics built on optional packages (``pip install "wavediff[eval]"``)
live in :mod:`wavediff.audio.speech_metrics` and are importable from here too:
:func:`mcd`, :func:`f0_metrics`, :func:`pesq_wb`, :func:`stoi`, :func:`estoi`,
:func:`dnsmos`. :func:`copy_synthesis_metrics` computes a chosen set in one call and
:func:`real_time_factor` times a generation function.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .mel import LogMel
from .mel_config import MelConfig
from .metric_inputs import Audio, check_rate, finish, pair
from .metric_registry import (
    COPY_SYNTHESIS_METRICS,
    DEFAULT_METRICS,
    METRICS,
    MetricInfo,
    available_metrics,
    metric_info,
)

if TYPE_CHECKING:  # provided lazily by __getattr__ below
    from .speech_metrics import MissingDependencyError, dnsmos, estoi, f0_metrics, mcd, pesq_wb, stoi

__all__ = [
    "MetricInfo",
    "METRICS",
    "COPY_SYNTHESIS_METRICS",
    "DEFAULT_METRICS",
    "DEFAULT_RESOLUTIONS",
    "LSD_FLOOR_DB",
    "available_metrics",
    "metric_info",
    "copy_synthesis_metrics",
    "mrstft_distance",
    "mel_l1",
    "lsd",
    "real_time_factor",
    # from speech_metrics (loaded on first use)
    "MissingDependencyError",
    "mcd",
    "f0_metrics",
    "pesq_wb",
    "stoi",
    "estoi",
    "dnsmos",
]

#: (n_fft, hop_length, win_length) of the default :func:`mrstft_distance` resolutions.
DEFAULT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = (
    (512, 128, 512),
    (1024, 256, 1024),
    (2048, 512, 2048),
)

#: Floor of :func:`lsd`, in dB of window-normalised power (see there).
LSD_FLOOR_DB: float = -100.0

# Magnitude floor of the log term of mrstft_distance (unnormalised STFT magnitude).
_MRSTFT_LOG_FLOOR = 1e-5


# ---------------------------------------------------------------------- spectrograms
def _stft_mag(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """|STFT| of (B, T) audio with a periodic Hann window, centred frames, zero padding."""
    window = torch.hann_window(win, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop,
        win_length=win,
        window=window,
        center=True,
        pad_mode="constant",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spec.abs()  # zero (not NaN) gradient where the bin is exactly 0


def _check_resolutions(resolutions: Iterable[Sequence[int]]) -> list[tuple[int, int, int]]:
    out = []
    for res in resolutions:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in res)
        if len(res) != 3 or not ints:
            raise ValueError(f"mrstft_distance: each resolution is (n_fft, hop, win) integers, got {res!r}")
        n_fft, hop, win = (int(v) for v in res)
        if n_fft < 2 or hop < 1 or not 1 <= win <= n_fft:
            raise ValueError(
                f"mrstft_distance: each resolution needs n_fft >= 2, hop >= 1 and "
                f"1 <= win <= n_fft, got {res!r}"
            )
        out.append((n_fft, hop, win))
    if not out:
        raise ValueError("mrstft_distance: resolutions is empty")
    return out


# ----------------------------------------------------------------------- cheap metrics
def mrstft_distance(
    estimate: Audio,
    reference: Audio,
    sample_rate: int | None = None,
    resolutions: Iterable[Sequence[int]] = DEFAULT_RESOLUTIONS,
) -> torch.Tensor:
    """Multi-resolution STFT distance (this library's own implementation, in torch).

    For each resolution ``(n_fft, hop, win)`` the magnitude spectrograms ``E = |STFT(est)|``
    and ``R = |STFT(ref)|`` are taken with a periodic Hann window of ``win`` samples,
    centred frames and zero padding (no normalisation). The distance is the mean over
    resolutions of

    - spectral convergence ``||R - E||_F / ||R||_F`` (Frobenius norms over the whole
      spectrogram of one example; a silent reference divides by the smallest positive
      float, so silence vs silence is 0), plus
    - log-magnitude L1 ``mean |ln max(E, 1e-5) - ln max(R, 1e-5)|`` over bins and frames.

    Implications used by the tests: ``est = g * ref`` (g > 0) gives exactly
    ``|1 - g| + |ln g|`` when no bin is below the floor; a delay of ``d`` samples with
    ``d`` much smaller than the shortest window changes the value only a little.

    Differentiable with respect to both inputs (usable as a training loss); the gradient
    at ``estimate == reference`` is exactly zero.

    Args:
        estimate, reference: ``(B, 1, T)``, ``(B, T)`` or ``(T,)`` audio; cut to the
            shorter length. Computed in float64 if either is float64, else float32, on
            ``estimate``'s device.
        sample_rate: not needed (the distance is rate-agnostic); accepted, and checked
            when given, so all metrics share one call form.
        resolutions: ``(n_fft, hop, win)`` triples.
    Returns:
        float64 tensor ``(B,)``; a 0-d float64 tensor for 1-D input (not a float, so the
        graph is kept). Dimensionless; 0 for identical signals.
    """
    if sample_rate is not None:
        check_rate(sample_rate, "mrstft_distance")
    res = _check_resolutions(resolutions)
    est, ref, scalar = pair(estimate, reference)
    dtype = torch.float64 if torch.float64 in (est.dtype, ref.dtype) else torch.float32
    est, ref = est.to(dtype), ref.to(dtype)
    tiny = torch.finfo(dtype).tiny
    total = torch.zeros(est.shape[0], dtype=dtype, device=est.device)
    for n_fft, hop, win in res:
        e_mag = _stft_mag(est, n_fft, hop, win)
        r_mag = _stft_mag(ref, n_fft, hop, win)
        sc = torch.linalg.vector_norm(r_mag - e_mag, dim=(-2, -1)) / torch.linalg.vector_norm(
            r_mag, dim=(-2, -1)
        ).clamp_min(tiny)
        log_l1 = (
            (e_mag.clamp_min(_MRSTFT_LOG_FLOOR).log() - r_mag.clamp_min(_MRSTFT_LOG_FLOOR).log())
            .abs()
            .mean(dim=(-2, -1))
        )
        total = total + sc + log_l1
    out = (total / len(res)).to(torch.float64)
    return out[0] if scalar else out


def mel_l1(estimate: torch.Tensor, reference: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """Mean absolute difference of log-mel features (in the config's log units) per example.

    ``estimate`` and ``reference``: (B, 1, T) or (B, T) audio at ``config.sample_rate``; the
    shorter length is used. Returns (B,) in the feature dtype (float32 for float32
    audio), on ``estimate``'s device, differentiable.

    With the ``"hifigan"`` preset (natural log of the magnitude mel) a gain ``g`` on the
    estimate gives ``|ln g|`` wherever no mel value is at the ``log_floor`` clamp. With
    ``"diffwave"`` features the unit is the normalised scale (1 = 100 dB).
    """
    n = min(estimate.shape[-1], reference.shape[-1])
    extract = LogMel(config).to(estimate.device)
    a = extract(estimate[..., :n].reshape(estimate.shape[0], -1).float())
    b = extract(reference[..., :n].reshape(reference.shape[0], -1).float().to(estimate.device))
    return (a - b).abs().flatten(1).mean(1)


def lsd(
    estimate: Audio,
    reference: Audio,
    sample_rate: int,
    n_fft: int = 2048,
    hop: int = 512,
) -> torch.Tensor | float:
    """Log-spectral distance in dB.

    Power spectra ``P = |STFT|^2 / sum(w^2)`` with a periodic Hann window ``w`` of
    ``n_fft`` samples, centred frames, zero padding; this normalisation makes the
    expected ``P`` of white noise equal its variance in every bin. Each bin is
    ``10 log10(max(P, 1e-10))``: the floor is :data:`LSD_FLOOR_DB` = -100 dB, about the
    level of 16-bit quantisation noise, so digital silence sits at -100 dB. Per frame the
    RMS over all ``n_fft // 2 + 1`` bins of the dB difference is taken, then the mean over
    all frames (silent ones included).

    A gain ``g`` on the estimate gives exactly ``|20 log10 g|`` where no bin is floored.

    Args:
        estimate, reference: ``(B, 1, T)``, ``(B, T)`` or ``(T,)`` audio.
        sample_rate: Hz; checked for validity only (the value does not change the result).
        n_fft, hop: analysis window length and frame step in samples.
    Returns:
        float64 tensor ``(B,)`` in dB, or a float for 1-D input. Not differentiable.
    """
    check_rate(sample_rate, "lsd")
    if int(n_fft) != n_fft or int(hop) != hop or n_fft < 2 or hop < 1:
        raise ValueError(f"lsd: need integers n_fft >= 2 and hop >= 1, got n_fft={n_fft!r}, hop={hop!r}")
    est, ref, scalar = pair(estimate, reference)
    with torch.no_grad():
        est, ref = est.detach().to(torch.float64), ref.detach().to(torch.float64)
        norm = float(torch.hann_window(int(n_fft), periodic=True, dtype=torch.float64).pow(2).sum())
        floor = 10.0 ** (LSD_FLOOR_DB / 10.0)
        db_e = 10.0 * torch.log10((_stft_mag(est, n_fft, hop, n_fft).pow(2) / norm).clamp_min(floor))
        db_r = 10.0 * torch.log10((_stft_mag(ref, n_fft, hop, n_fft).pow(2) / norm).clamp_min(floor))
        per_frame = (db_e - db_r).pow(2).mean(dim=-2).sqrt()  # (B, frames)
        return finish(per_frame.mean(dim=-1).cpu(), scalar)


# Report name -> key of dnsmos()'s result.
_DNSMOS_KEYS = {"dnsmos": "ovrl", "dnsmos_sig": "sig", "dnsmos_bak": "bak", "dnsmos_p808": "p808"}


def copy_synthesis_metrics(
    estimate: Audio,
    reference: Audio,
    sample_rate: int,
    names: Iterable[str] | None = None,
    mel_config: MelConfig | None = None,
) -> dict[str, list[float]]:
    """Compute several metrics of generated audio against the original.

    Args:
        estimate, reference: ``(B, 1, T)``, ``(B, T)`` or ``(T,)`` audio at ``sample_rate``.
        sample_rate: Hz, shared by both.
        names: names from :data:`COPY_SYNTHESIS_METRICS`, in the order wanted. ``None`` means
            :data:`DEFAULT_METRICS` (the cheap torch ones: ``mrstft_distance``, ``mel_l1``,
            ``lsd``); speech metrics are computed only when named. The WORLD analysis is
            shared by ``mcd``/``f0_*``/``voicing_error`` and one DNSMOS run serves every
            ``dnsmos*`` name. DNSMOS scores the estimate only.
        mel_config: features for ``mel_l1``; must have ``sample_rate``. ``None`` uses the
            ``"hifigan"`` preset at ``sample_rate`` with ``fmax = min(8000, sample_rate/2)``;
            pass the model's own config to report the distance it was trained on.
    Returns:
        ``{name: [value per example]}`` (a list of one value for 1-D input), floats;
        NaN where a metric is undefined for an example (e.g. no frame voiced in both).
    Raises:
        ValueError for unknown names or bad input; :class:`MissingDependencyError` when
        a named metric needs a package of the ``eval`` extra that is not installed.
    """
    if isinstance(names, str):
        raise ValueError(f"names must be a list of metric names, got the string {names!r}")
    wanted = list(DEFAULT_METRICS if names is None else names)
    unknown = [n for n in wanted if n not in COPY_SYNTHESIS_METRICS]
    if unknown:
        elsewhere = [n for n in unknown if n in METRICS]
        hint = (f" ({elsewhere} compare generated clips with held-out clips: `wavediff evaluate` reports "
                "them for unconditional and class-conditional models)") if elsewhere else ""
        raise ValueError(f"unknown metric name(s) {unknown}{hint}; copy-synthesis metrics: "
                         f"{sorted(COPY_SYNTHESIS_METRICS)}")
    rate = check_rate(sample_rate, "copy_synthesis_metrics")
    est, ref, _ = pair(estimate, reference)  # validate once; always batched below

    results: dict[str, list[float]] = {}

    def put(name: str, values: torch.Tensor) -> None:
        results[name] = [float(v) for v in values.detach().to(torch.float64).cpu()]

    requested = set(wanted)
    if any(METRICS[name].speech for name in requested):
        from . import speech_metrics as sm
    f0_names = {"f0_rmse", "f0_rmse_cents", "voicing_error"} & requested
    if f0_names or "mcd" in requested:  # one WORLD analysis for all of them
        world = sm.world_metrics(est, ref, rate, want_mcd="mcd" in requested, want_f0=bool(f0_names))
        for name in f0_names | ({"mcd"} & requested):
            put(name, world[name])
    if requested & set(_DNSMOS_KEYS):  # one DNSMOS run for all of them
        scores = sm.dnsmos(est, rate)
        for name in requested & set(_DNSMOS_KEYS):
            put(name, scores[_DNSMOS_KEYS[name]])
    for name in wanted:
        if name in results:
            continue
        if name == "mrstft_distance":
            put(name, mrstft_distance(est.detach(), ref.detach()))
        elif name == "mel_l1":
            cfg = mel_config
            if cfg is None:
                cfg = MelConfig.preset("hifigan", sample_rate=rate, fmax=min(8000.0, rate / 2.0))
            elif cfg.sample_rate != rate:
                raise ValueError(
                    f"mel_l1: mel_config is for {cfg.sample_rate} Hz but the audio is {rate} Hz"
                )
            with torch.no_grad():
                put(name, mel_l1(est.detach(), ref.detach(), cfg))
        elif name == "lsd":
            put(name, lsd(est, ref, rate))
        elif name == "pesq":
            put(name, sm.pesq_wb(est, ref, rate))
        elif name in ("stoi", "estoi"):
            put(name, sm.stoi(est, ref, rate, extended=name == "estoi"))
    return {name: results[name] for name in wanted}


# ------------------------------------------------------------------------------ speed
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.synchronize()


def real_time_factor(
    fn: Callable[[], Any],
    audio_seconds: float,
    device: str | torch.device = "cpu",
    repeats: int = 3,
    warmup: int = 1,
) -> float:
    """Seconds of wall-clock compute per second of audio produced (RTF; < 1 is faster
    than real time).

    ``fn()`` is called ``warmup`` times untimed (kernel selection, caches, lazy
    initialisation), then ``repeats`` times, each timed on its own with
    ``time.perf_counter``; on CUDA (and MPS) the device is synchronised before starting
    and before stopping the clock, so queued kernels are counted. Returns the median
    time divided by ``audio_seconds`` (the audio one call of ``fn`` produces).
    """
    if not (isinstance(audio_seconds, (int, float)) and math.isfinite(audio_seconds) and audio_seconds > 0):
        raise ValueError(f"audio_seconds must be a positive number, got {audio_seconds!r}")
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if int(warmup) != warmup or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    dev = torch.device(device)
    for _ in range(int(warmup)):
        fn()
    _synchronize(dev)
    times = []
    for _ in range(int(repeats)):
        _synchronize(dev)
        start = time.perf_counter()
        fn()
        _synchronize(dev)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / float(audio_seconds)


# ------------------------------------------------------- speech metrics, loaded lazily
_SPEECH_NAMES = frozenset(
    {"MissingDependencyError", "mcd", "f0_metrics", "pesq_wb", "stoi", "estoi", "dnsmos"}
)


def __getattr__(name: str) -> Any:
    if name in _SPEECH_NAMES:
        from . import speech_metrics

        return getattr(speech_metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
