"""Speech metrics built on optional packages (the ``eval`` extra).

``pip install "wavediff[eval]"`` installs them: ``pyworld`` (WORLD analysis: Harvest /
DIO+StoneMask pitch, CheapTrick spectral envelope), ``pysptk`` (mel-cepstrum),
``pesq`` (ITU-T P.862.2 wide-band PESQ), ``pystoi`` (STOI / ESTOI) and ``speechmos``
(DNSMOS; its ONNX models ship inside its wheel and are loaded from the installed
package with ``onnxruntime``, nothing is downloaded). Each package is imported on first
use; a missing one raises :class:`MissingDependencyError` naming the extra.

Input and output conventions are those of :mod:`wavediff.audio.metric_inputs`: float
audio ``(B, 1, T)``, ``(B, T)`` or ``(T,)``; estimate and reference cut to the shorter
length; results as float64 tensors ``(B,)``, or floats for 1-D input. All computations
run on the CPU in float64 numpy and are not differentiable. What each metric's value
means (direction, unit) is in the registry :data:`wavediff.audio.metrics.METRICS`;
:func:`wavediff.audio.metrics.copy_synthesis_metrics` computes several at once.

Reference-based metrics here compare the two signals frame by frame without dynamic
time warping: copy synthesis reproduces the reference's own time axis, so frame ``k``
of the estimate is the same instant as frame ``k`` of the reference, and warping would
only hide timing errors the model made.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import math
import os
import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch

from .metric_inputs import Audio, as_batch, check_rate, finish, numpy_batch, pair, resample_rows

__all__ = [
    "MissingDependencyError",
    "EXTRA_HINT",
    "mcd",
    "f0_metrics",
    "pesq_wb",
    "stoi",
    "estoi",
    "dnsmos",
    "mcep_alpha",
    "world_metrics",
]

#: How to install the optional packages.
EXTRA_HINT = 'pip install "wavediff[eval]"'

_PESQ_RATE = 16000
_DNSMOS_RATE = 16000
_DNSMOS_WINDOW_S = 9.01  # seconds of audio per DNSMOS model input
_WORLD_MIN_RATE = 8000
_STOI_MIN_RATE = 8000
# pystoi needs 30 frames of 256 samples, hop 128, at 10 kHz: 0.3968 s of speech.
_STOI_MIN_SECONDS = 0.4
_TEN_OVER_LN10 = 10.0 / math.log(10.0)


class MissingDependencyError(ImportError):
    """A metric needs a package of the ``eval`` extra that is not installed."""


# ------------------------------------------------------------------------ lazy imports
@contextlib.contextmanager
def _pkg_resources_stand_in() -> Iterator[None]:
    """Let pyworld (0.3.5) and pysptk (1.0.1) import without ``pkg_resources``.

    Both import ``pkg_resources`` at import time (for their version string and the path
    of pysptk's example audio), and setuptools 82 removed it. When it is not importable
    a minimal stand-in with those two functions is registered for the duration of the
    import, then removed so that nothing else sees it. With an older setuptools the real
    module is used.
    """
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pkg_resources.*")
            yield
        return
    stand_in = types.ModuleType("pkg_resources")

    def get_distribution(name: str) -> Any:
        return types.SimpleNamespace(project_name=name, version=importlib.metadata.version(name))

    def resource_filename(module: str, resource: str) -> str:
        return os.path.join(os.path.dirname(sys.modules[module].__file__ or ""), resource)

    stand_in.get_distribution = get_distribution  # type: ignore[attr-defined]
    stand_in.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]


def _require(module: str, metric: str) -> Any:
    """Import ``module`` for ``metric`` or raise :class:`MissingDependencyError`."""
    try:
        with _pkg_resources_stand_in():
            return importlib.import_module(module)
    except ImportError as err:
        missing = err.name or module
        raise MissingDependencyError(
            f"{metric} needs the optional package {missing!r}, which is not installed "
            f"(needed through {module!r}). Install the evaluation extra: {EXTRA_HINT}"
        ) from err


# ------------------------------------------------------------------ WORLD-based metrics
F0Method = Literal["harvest", "dio"]


def mcep_alpha(sample_rate: int) -> float:
    """All-pass constant whose frequency warping best fits the mel scale at this rate.

    ``pysptk.util.mcepalpha``: 0.312 at 8 kHz, 0.41 at 16 kHz, 0.455 at 22.05 kHz,
    0.466 at 24 kHz, 0.544 at 44.1 kHz, 0.554 at 48 kHz.
    """
    return _mcep_alpha(check_rate(sample_rate, "mcep_alpha"))


@functools.lru_cache(maxsize=8)
def _mcep_alpha(rate: int) -> float:
    return float(_require("pysptk", "mcd").util.mcepalpha(rate))


@functools.lru_cache(maxsize=16)
def _freqt_matrix(sptk: Any, length: int, order: int, alpha: float) -> np.ndarray:
    """``(length, order + 1)`` matrix ``W`` with ``c @ W == pysptk.freqt(c, order, alpha)``.

    The all-pass frequency warping of a cepstrum is linear in the cepstrum, so applying
    ``pysptk.freqt`` to the unit vectors gives its matrix once per (length, order,
    alpha); every frame is then warped by one matrix product.
    """
    eye = np.eye(length, dtype=np.float64)
    rows = [np.asarray(sptk.freqt(eye[k], order, alpha), dtype=np.float64) for k in range(length)]
    return np.stack(rows)


def _sp2mc(sptk: Any, power: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """``pysptk.sp2mc`` for a whole ``(frames, n_fft // 2 + 1)`` power-envelope matrix.

    Same steps as ``pysptk.sp2mc`` (real cepstrum of the log power spectrum, ``c_0``
    halved, then ``freqt``) with the warping applied as a matrix, which avoids
    pysptk's per-frame Python overhead. Returns ``(frames, order + 1)``.
    """
    ceps = np.fft.irfft(np.log(power), axis=-1)
    ceps[:, 0] /= 2.0
    return ceps @ _freqt_matrix(sptk, ceps.shape[-1], order, float(alpha))


def _world_f0(
    pw: Any, x: np.ndarray, rate: int, method: str, frame_period: float, f0_floor: float, f0_ceil: float
) -> tuple[np.ndarray, np.ndarray]:
    """(f0 in Hz, 0 where unvoiced; frame times in s) of float64 audio ``x``."""
    if method == "harvest":
        return pw.harvest(x, rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period)
    f0, t = pw.dio(x, rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period)
    return pw.stonemask(x, f0, t, rate), t


def world_metrics(
    estimate: torch.Tensor,
    reference: torch.Tensor,
    sample_rate: int,
    *,
    want_mcd: bool,
    want_f0: bool,
    order: int = 24,
    alpha: float | None = None,
    frames: Literal["all", "voiced"] = "all",
    f0_method: F0Method = "harvest",
    frame_period: float = 5.0,
    f0_floor: float = 71.0,
    f0_ceil: float = 800.0,
) -> dict[str, torch.Tensor]:
    """One WORLD analysis per signal serving :func:`mcd` and :func:`f0_metrics` at once.

    ``estimate`` and ``reference``: audio as in the module notes; keyword arguments as in
    those two functions. Returns float64 tensors ``(B,)``: ``"mcd"`` when ``want_mcd``,
    ``"f0_rmse"``, ``"f0_rmse_cents"`` and ``"voicing_error"`` when ``want_f0``.
    """
    metric = "mcd" if want_mcd else "f0_metrics"
    rate = check_rate(sample_rate, metric, minimum=_WORLD_MIN_RATE)
    if f0_method not in ("harvest", "dio"):
        raise ValueError(f"{metric}: f0_method must be 'harvest' or 'dio', got {f0_method!r}")
    if frames not in ("all", "voiced"):
        raise ValueError(f"mcd: frames must be 'all' or 'voiced', got {frames!r}")
    if not (frame_period > 0 and math.isfinite(frame_period)):
        raise ValueError(f"{metric}: frame_period must be a positive number of ms, got {frame_period!r}")
    if not 0 < f0_floor < f0_ceil:
        raise ValueError(f"{metric}: need 0 < f0_floor < f0_ceil, got {f0_floor!r}, {f0_ceil!r}")
    if want_mcd:
        if isinstance(order, bool) or int(order) != order or order < 1:
            raise ValueError(f"mcd: order must be an integer >= 1, got {order!r}")
        if alpha is not None and not -1.0 < alpha < 1.0:
            raise ValueError(f"mcd: alpha must lie in (-1, 1), got {alpha!r}")
    est, ref, _ = pair(estimate, reference)
    min_len = int(math.ceil(rate * frame_period / 1000.0))
    if est.shape[-1] < min_len:
        raise ValueError(f"{metric}: audio of {est.shape[-1]} samples is shorter than one frame")
    pw = _require("pyworld", metric)
    sptk = _require("pysptk", "mcd") if want_mcd else None
    a = mcep_alpha(rate) if (want_mcd and alpha is None) else alpha
    e_np, r_np = numpy_batch(est), numpy_batch(ref)

    out: dict[str, list[float]] = {k: [] for k in ("mcd", "f0_rmse", "f0_rmse_cents", "voicing_error")}

    def analyse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        f0, t = _world_f0(pw, x, rate, f0_method, frame_period, f0_floor, f0_ceil)
        if not want_mcd:
            return f0, None
        return f0, _sp2mc(sptk, pw.cheaptrick(x, f0, t, rate, f0_floor=f0_floor), int(order), a)

    last_ref: tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]] | None = None
    for e, r in zip(e_np, r_np):
        f0_e, mc_e = analyse(e)
        if last_ref is not None and np.array_equal(last_ref[0], r):
            f0_r, mc_r = last_ref[1]  # same reference as the previous example
        else:
            f0_r, mc_r = analyse(r)
            last_ref = (r, (f0_r, mc_r))
        n = min(len(f0_e), len(f0_r))  # equal for equal lengths; guard anyway
        if want_mcd:
            mc_e, mc_r = mc_e[:n], mc_r[:n]
            per_frame = _TEN_OVER_LN10 * np.sqrt(2.0 * np.sum((mc_e[:, 1:] - mc_r[:, 1:]) ** 2, axis=1))
            mask = f0_r[:n] > 0 if frames == "voiced" else np.ones(n, dtype=bool)
            out["mcd"].append(float(per_frame[mask].mean()) if mask.any() else math.nan)
        if want_f0:
            fe, fr = f0_e[:n], f0_r[:n]
            ve, vr = fe > 0, fr > 0
            both = ve & vr
            out["voicing_error"].append(float(np.mean(ve != vr)))
            if both.any():
                out["f0_rmse"].append(float(np.sqrt(np.mean((fe[both] - fr[both]) ** 2))))
                cents = 1200.0 * np.log2(fe[both] / fr[both])
                out["f0_rmse_cents"].append(float(np.sqrt(np.mean(cents**2))))
            else:
                out["f0_rmse"].append(math.nan)
                out["f0_rmse_cents"].append(math.nan)
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items() if v}


def mcd(
    estimate: Audio,
    reference: Audio,
    sample_rate: int,
    order: int = 24,
    *,
    alpha: float | None = None,
    frames: Literal["all", "voiced"] = "all",
    f0_method: F0Method = "harvest",
    frame_period: float = 5.0,
) -> torch.Tensor | float:
    """Mel-cepstral distortion in dB, ``c_0`` (level) excluded.

    Each signal is analysed on its own with WORLD: pitch by ``f0_method`` (Harvest, or
    DIO refined by StoneMask), spectral envelope by CheapTrick every ``frame_period`` ms;
    ``pysptk.sp2mc`` (applied to all frames at once, same numbers) turns each envelope
    into ``order + 1`` mel-cepstral coefficients with the all-pass constant ``alpha``
    (default :func:`mcep_alpha` of the rate, the mel-scale fit). Per frame

        ``MCD = (10 / ln 10) * sqrt(2 * sum_{d=1..order} (mc_est[d] - mc_ref[d])^2)``,

    which equals the RMS difference in dB of the two log envelopes on the warped
    frequency axis after removing their mean level. Frames are paired 1:1 (no DTW, see the
    module notes) and averaged over all frames (``frames="all"``, the default, defined
    for any signal) or over frames the reference's pitch track marks voiced
    (``frames="voiced"``; NaN when there are none). A gain changes only ``c_0``, so it
    leaves the MCD at ~0.

    Returns:
        float64 tensor ``(B,)`` in dB, or a float for 1-D input.
    Raises:
        ValueError for bad input or a sample rate below 8 kHz;
        :class:`MissingDependencyError` without ``pyworld``/``pysptk``.
    """
    est, ref, scalar = pair(estimate, reference)
    res = world_metrics(
        est, ref, sample_rate, want_mcd=True, want_f0=False, order=order, alpha=alpha,
        frames=frames, f0_method=f0_method, frame_period=frame_period,
    )
    return finish(res["mcd"], scalar)


def f0_metrics(
    estimate: Audio,
    reference: Audio,
    sample_rate: int,
    *,
    f0_method: F0Method = "harvest",
    frame_period: float = 5.0,
    f0_floor: float = 71.0,
    f0_ceil: float = 800.0,
) -> dict[str, torch.Tensor | float]:
    """Pitch accuracy of the estimate against the reference, from WORLD pitch tracks.

    Both signals are tracked with ``f0_method`` (``"harvest"``, the default and the more
    robust on speech; or ``"dio"`` + StoneMask, about 30x faster) every ``frame_period``
    ms between ``f0_floor`` and ``f0_ceil`` Hz; a frame is voiced where the track is > 0.
    Harvest is built for speech: it calls a pure sine, or a tone with fewer than about
    four harmonics, unvoiced. Use ``f0_method="dio"`` for such synthetic signals.

    Returns a dict of per-example values (float64 tensors ``(B,)``, or floats for 1-D
    input):

    - ``"f0_rmse"``: RMS of ``f0_est - f0_ref`` in Hz over frames voiced in both
      (NaN when no frame is);
    - ``"f0_rmse_cents"``: RMS of ``1200 log2(f0_est / f0_ref)`` over the same frames
      (100 cents = one semitone);
    - ``"voicing_error"``: fraction of all frames whose voiced/unvoiced decisions differ.
    """
    est, ref, scalar = pair(estimate, reference)
    res = world_metrics(
        est, ref, sample_rate, want_mcd=False, want_f0=True, f0_method=f0_method,
        frame_period=frame_period, f0_floor=f0_floor, f0_ceil=f0_ceil,
    )
    return {k: finish(res[k], scalar) for k in ("f0_rmse", "f0_rmse_cents", "voicing_error")}


# --------------------------------------------------------------------------- PESQ/STOI
def pesq_wb(estimate: Audio, reference: Audio, sample_rate: int) -> torch.Tensor | float:
    """Wide-band PESQ (ITU-T P.862.2) as MOS-LQO, higher is better (about 1.04 to 4.64).

    Both signals are resampled to 16 kHz with soxr (HQ) when needed; PESQ aligns levels
    and time offsets itself. Audio below 16 kHz is refused (wide-band PESQ needs the
    50-7000 Hz band). An example where PESQ finds no speech (e.g. a silent reference)
    scores NaN with a warning.

    Returns:
        float64 tensor ``(B,)``, or a float for 1-D input.
    """
    rate = check_rate(sample_rate, "pesq_wb", minimum=_PESQ_RATE)
    est, ref, scalar = pair(estimate, reference)
    pesq_mod = _require("pesq", "pesq_wb")
    e_np = resample_rows(est, rate, _PESQ_RATE)
    r_np = resample_rows(ref, rate, _PESQ_RATE)
    values = []
    for i, (e, r) in enumerate(zip(e_np, r_np)):
        try:
            with np.errstate(invalid="ignore", divide="ignore"):  # silent input: 0 / 0 inside pesq
                values.append(float(pesq_mod.pesq(_PESQ_RATE, r, e, "wb")))
        except pesq_mod.NoUtterancesError:
            warnings.warn(
                f"pesq_wb: no speech found in example {i}; its score is NaN", RuntimeWarning, stacklevel=2
            )
            values.append(math.nan)
        except pesq_mod.BufferTooShortError as err:
            raise ValueError(
                f"pesq_wb: example {i} is too short for PESQ ({e.size} samples at 16 kHz)"
            ) from err
    return finish(values, scalar)


def stoi(estimate: Audio, reference: Audio, sample_rate: int, extended: bool = False) -> torch.Tensor | float:
    """Short-time objective intelligibility (``pystoi``), higher is better, about 0 to 1.

    ``extended=True`` gives ESTOI (Jensen & Taal 2016). pystoi resamples to 10 kHz
    itself and drops the reference's silent frames (40 dB below its loudest). STOI looks
    at 384 ms segments, so small delays barely matter but misalignments of a large
    fraction of a segment do. Clips with fewer than 30 speech frames (about 0.4 s) score
    NaN with a warning (pystoi alone would return 1e-5).

    Returns:
        float64 tensor ``(B,)``, or a float for 1-D input.
    """
    name = "estoi" if extended else "stoi"
    rate = check_rate(sample_rate, name, minimum=_STOI_MIN_RATE)
    est, ref, scalar = pair(estimate, reference)
    pystoi = _require("pystoi", name)
    e_np, r_np = numpy_batch(est), numpy_batch(ref)
    values = []
    too_short = e_np.shape[-1] < _STOI_MIN_SECONDS * rate
    for i, (e, r) in enumerate(zip(e_np, r_np)):
        caught: list[warnings.WarningMessage] = []
        if not too_short:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value = float(pystoi.stoi(r, e, rate, extended=bool(extended)))
        if too_short or any("Not enough STFT frames" in str(w.message) for w in caught):
            warnings.warn(
                f"{name}: example {i} has too little speech after silence removal; its score is NaN",
                RuntimeWarning,
                stacklevel=2,
            )
            value = math.nan
        values.append(value)
    return finish(values, scalar)


def estoi(estimate: Audio, reference: Audio, sample_rate: int) -> torch.Tensor | float:
    """Extended STOI: :func:`stoi` with ``extended=True``."""
    return stoi(estimate, reference, sample_rate, extended=True)


# ------------------------------------------------------------------------------ DNSMOS
def dnsmos(audio: Audio, sample_rate: int, *, personalized: bool = False) -> dict[str, torch.Tensor | float]:
    """Reference-free DNSMOS scores (Microsoft's P.835 and P.808 predictors), higher is better.

    Uses the ONNX models inside the ``speechmos`` wheel (``dnsmos_models/``; with
    ``personalized=True`` the primary model from ``pdnsmos_models/``), run with
    onnxruntime on the CPU; no file is downloaded. The audio is resampled to 16 kHz with
    soxr and clipped to [-1, 1] (what a 16-bit file of it would hold). The models score
    9.01 s windows every second and the scores are averaged; a clip shorter than one
    window is repeated end to end to exactly 9.01 s (one window), so short clips are
    judged as a loop, and a seam in the loop counts in the score.

    Args:
        audio: ``(B, 1, T)``, ``(B, T)`` or ``(T,)`` float audio at ``sample_rate``
            (at least 16 kHz).
    Returns:
        ``{"ovrl", "sig", "bak", "p808"}`` -> float64 tensor ``(B,)`` (floats for 1-D
        input): overall, speech signal and background quality (P.835) and the P.808
        overall MOS, each on a 1-5 scale.
    """
    rate = check_rate(sample_rate, "dnsmos", minimum=_DNSMOS_RATE)
    x, scalar = as_batch(audio, "audio")
    runner = _require("speechmos.dnsmos", "dnsmos")
    x_np = np.clip(resample_rows(x, rate, _DNSMOS_RATE), -1.0, 1.0).astype(np.float32)
    model_type = "dnsmos_personalized" if personalized else "dnsmos"
    scores: dict[str, list[float]] = {"ovrl": [], "sig": [], "bak": [], "p808": []}
    window = int(getattr(runner, "INPUT_LENGTH", _DNSMOS_WINDOW_S) * _DNSMOS_RATE)
    for row in x_np:
        if row.size < window:  # loop the clip to exactly one model window
            row = np.resize(row, window)
        res = runner.run(np.ascontiguousarray(row), _DNSMOS_RATE, model_type=model_type)
        for key in scores:
            scores[key].append(float(res[f"{key}_mos"]))
    return {k: finish(v, scalar) for k, v in scores.items()}
