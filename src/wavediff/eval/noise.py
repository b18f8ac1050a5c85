"""Noise levels against the data: which frequency bands each logsnr drowns, and where the
loss weighting puts its effort.

Conventions (docs/DESIGN.md): ``x_t = alpha x_0 + sigma eps`` (variance preserving),
``logsnr = log(alpha^2 / sigma^2)``. White noise has a flat spectrum while audio does not, so
the signal-to-noise ratio of one frequency band at noise level ``logsnr`` is

    SNR(f, logsnr) = alpha^2 P_x(f) / (sigma^2 P_eps(f)),
    SNR_dB(f)      = 10 log10(P_x(f) / P_eps(f)) + logsnr * 10 / ln 10,

where ``P_x`` is the mean power spectrum of the clean signal ``x_0`` (the audio mapped by the
recipe's ``DataTransform``: scaled and pre-emphasised, or the audio itself without a recipe)
and ``P_eps`` that of unit white
noise under the same normalisation. Spectra here are normalised so that ``P_eps(f) = 1`` in
every bin (Welch: Hann window, ``P(f) = mean over frames |FFT(w x)|^2 / sum(w^2)``), so
``10 log10 P_x(f)`` is "dB relative to unit white noise" and band ``f`` crosses 0 dB at

    logsnr_0(f) = -ln P_x(f).

Above ``logsnr_0(f)`` the band is still audible through the noise, below it it is drowned.
White noise of variance ``s^2`` gives ``logsnr_0 = -ln s^2`` in every band.

The effective loss weight over logsnr: training draws ``t`` from the time sampler and
weighs the eps-MSE by ``lambda(t)``, so the weight per unit of logsnr is
``lambda(l) * q(l)`` with ``q`` the density of logsnr under the sampler: ``|dt/dl|`` for
uniform (and stratified) ``t``, and the Gaussian ``N(-2 p_mean, (2 p_std)^2)`` for
``lognormal`` (``ln sigma_edm ~ N(p_mean, p_std^2)``, ``logsnr = -2 ln sigma_edm``). Each curve
is normalised to unit area over the schedule's logsnr range.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..audio.data_transform import DataTransform, suggest_data_scale
from ..audio.io import AudioError, audio_info, load_audio
from ..diffusion.schedules import Schedule, get_schedule, schedule_from_config
from ..diffusion.time_sampling import sample_time
from ..diffusion.weighting import WEIGHTINGS, get_weighting, weighting_from_config
from ..files import atomic_write, write_text_atomic

__all__ = [
    "DEFAULT_NOISE_LEVELS",
    "analyze_noise",
    "band_crossings",
    "band_mask",
    "mean_power_spectrum",
    "octave_bands",
    "plot_noise_analysis",
    "save_noise_analysis",
    "weight_densities",
]

#: pre-emphasis coefficients for which ``suggested_data_scale`` is reported
SUGGESTED_PRE_EMPHASIS = (0.0, 0.9, 0.95)

#: logsnr values drawn as noise floors in the spectrum panel (extended to the data's range).
DEFAULT_NOISE_LEVELS: tuple[float, ...] = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0)
#: Power floor (relative to unit white noise) before taking logs: -150 dB, so a silent bin
#: reports a crossing logsnr of ~34.5 instead of infinity.
POWER_FLOOR = 1e-15
_DB = 10.0 / math.log(10.0)  # dB per nat of power ratio


def mean_power_spectrum(clips: Sequence[np.ndarray | torch.Tensor], sample_rate: int,
                        n_fft: int = 1024, hop: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Welch average power spectrum over every frame of every clip.

    Args:
        clips: mono waveforms, each of shape ``(samples,)`` (or ``(1, samples)``), in [-1, 1].
        sample_rate: Hz, for the frequency axis.
        n_fft: frame (and FFT) length in samples; Hann window.
        hop: frame step (default ``n_fft // 2``, 50 % overlap). Clips shorter than one frame
            are zero-padded to ``n_fft`` (their power is then underestimated).

    Returns:
        ``(freqs, power, frames)``: ``freqs`` in Hz, shape ``(n_fft // 2 + 1,)``; ``power`` the
        mean ``|FFT(w x)|^2 / sum(w^2)`` per bin, same shape, normalised so that unit-variance
        white noise has power 1 in every bin (0 dB); ``frames`` the number of frames averaged
        (all frames of all clips weigh the same, so long clips count more).
    """
    if not clips:
        raise ValueError("mean_power_spectrum: no clips given")
    hop = hop or n_fft // 2
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    total = torch.zeros(n_fft // 2 + 1, dtype=torch.float64)
    frames = 0
    for clip in clips:
        x = torch.as_tensor(np.asarray(clip), dtype=torch.float64).reshape(-1)
        if x.numel() < n_fft:
            x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
        seg = x.unfold(0, n_fft, hop)  # (frames, n_fft)
        total += torch.fft.rfft(seg * window, dim=-1).abs().pow(2).sum(0)
        frames += seg.shape[0]
    power = (total / frames / window.pow(2).sum()).numpy()
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return freqs, power, frames


def band_mask(freqs: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Bins of ``freqs`` in ``[low_hz, high_hz)`` (``high_hz`` included when it is the last bin,
    Nyquist), never the DC bin."""
    upper = freqs <= high_hz if high_hz >= freqs[-1] else freqs < high_hz
    return (freqs > 0) & (freqs >= low_hz) & upper


def octave_bands(sample_rate: int, freqs: np.ndarray) -> list[dict[str, Any]]:
    """Octave bands (centres ``1000 * 2^k`` Hz, edges at ``centre / sqrt 2`` and ``centre * sqrt 2``,
    the top edge cut at Nyquist) that hold at least one non-DC bin of ``freqs``.

    Returns dicts with ``name`` (nominal centre, e.g. ``"125 Hz"``, ``"2 kHz"``), ``center_hz``,
    ``low_hz``, ``high_hz`` (bins with ``low <= f < high``; the top band includes Nyquist)."""
    nyquist = sample_rate / 2.0
    nominal = {-6: "16 Hz", -5: "31.5 Hz", -4: "63 Hz", -3: "125 Hz", -2: "250 Hz", -1: "500 Hz"}
    bands = []
    for k in range(-10, 10):
        centre = 1000.0 * 2.0**k
        low, high = centre / math.sqrt(2.0), min(centre * math.sqrt(2.0), nyquist)
        if low >= nyquist:
            break
        if not band_mask(freqs, low, high).any():
            continue
        if k >= 0:
            name = f"{2**k:g} kHz"
        else:
            name = nominal.get(k, f"{centre:.3g} Hz")
        bands.append({"name": name, "center_hz": centre, "low_hz": low, "high_hz": high})
    return bands


def band_crossings(freqs: np.ndarray, power: np.ndarray,
                   bands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per band: mean power (linear average over its bins) in dB re unit white noise and the
    logsnr where the band's SNR is 0 dB (``-ln`` of that mean power)."""
    out = []
    for band in bands:
        inside = band_mask(freqs, band["low_hz"], band["high_hz"])
        p = max(float(power[inside].mean()), POWER_FLOOR)
        out.append({**band, "bins": int(inside.sum()), "power_db": _DB * math.log(p), "crossing_logsnr": -math.log(p)})
    return out


def _lognormal_defaults() -> tuple[float, float]:
    params = inspect.signature(sample_time).parameters
    return float(params["p_mean"].default), float(params["p_std"].default)


def weight_densities(schedule: Schedule, logsnr: torch.Tensor, time_sampling: str = "uniform",
                     presets: dict[str, dict[str, Any]] | None = None
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Effective loss weight per unit of logsnr for each weighting preset.

    Args:
        schedule: the noise schedule (gives ``t(l)`` and ``dlogsnr/dt``).
        logsnr: float64 grid of shape ``(n,)``, increasing, inside the schedule's range.
        time_sampling: ``uniform`` / ``stratified`` (uniform ``t``) or ``lognormal``.
        presets: ``{name: params}``; default: every preset of ``wavediff.diffusion.weighting``
            with its default parameters.

    Returns:
        ``(curves, sampler)``: ``curves[name]`` has ``params``, ``lambda`` (the weight on the
        eps-MSE at each grid logsnr), ``density`` (``lambda * q`` normalised to unit area by the
        trapezoid rule over the grid) and ``mean_weight`` (``E[lambda]`` under the sampler,
        restricted to the range); ``sampler`` has ``q`` (density of logsnr under the time
        sampler) and a description of the assumption.
    """
    l64 = logsnr.to(torch.float64)
    t = schedule.t_from_logsnr(l64)
    dt_dl = 1.0 / schedule.dlogsnr_dt(t).abs()
    if time_sampling in ("uniform", "stratified"):
        q = dt_dl
        note = (f"time_sampling={time_sampling!r}: t is uniform on [0, 1] (stratified only lowers the "
                "variance), so logsnr has density |dt/dlogsnr| on the schedule's range")
    elif time_sampling == "lognormal":
        p_mean, p_std = _lognormal_defaults()
        mu, sd = -2.0 * p_mean, 2.0 * p_std
        q = torch.exp(-0.5 * ((l64 - mu) / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi))
        cdf = lambda v: 0.5 * (1.0 + math.erf((v - mu) / (sd * math.sqrt(2.0))))  # noqa: E731
        inside = cdf(float(l64[-1])) - cdf(float(l64[0]))
        note = (f"time_sampling='lognormal': ln sigma_edm ~ N({p_mean}, {p_std}^2), so logsnr ~ N({mu:g}, {sd:g}^2); "
                f"{1 - inside:.1%} of the draws fall outside the schedule's range and are clamped to its "
                "ends (point masses, not drawn)")
    else:
        raise ValueError(f"unknown time sampling {time_sampling!r}; choose uniform, stratified or lognormal")
    presets = presets if presets is not None else {name: {} for name in WEIGHTINGS}
    x = l64.numpy()
    curves = {}
    for name, params in presets.items():
        weighting = get_weighting(name, **params)
        lam = weighting(l64, schedule).to(torch.float64)
        dens = (lam * q).numpy()
        area = float(np.trapezoid(dens, x))
        curves[name] = {"params": weighting.params, "lambda": lam.numpy(),
                        "density": dens / area if area > 0 else dens, "mean_weight": area}
    return curves, {"q": q.numpy(), "assumption": note}


def _recipe_from(config: Any):
    from ..train.config import Recipe, load_recipe

    return config if isinstance(config, Recipe) else load_recipe(config)


def _plain_folder_items(root: Path) -> list[Any]:
    from ..data.corpora import AUDIO_EXTENSIONS, CorpusLayoutError, index_corpus

    if not root.is_dir():
        raise ValueError(f"{root}: no such folder; pass --data a folder of audio clips "
                         "(e.g. one written by `wavediff data demo --out data/demo`)")
    try:
        return list(index_corpus("folder", root, labels=None, split_file=None).items)
    except CorpusLayoutError as err:
        raise ValueError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found; pass --data a folder of audio "
                         "clips (e.g. one written by `wavediff data demo --out data/demo`), or --config a "
                         f"recipe whose corpus lies there. ({str(err).splitlines()[0]})") from None


def _pick(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over the (sorted) list, so every label folder is represented."""
    if count <= 0 or len(items) <= count:
        return list(items)
    idx = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def _load_clips(items: Sequence[Any], sample_rate: int, max_samples: int, what: str,
                progress: bool) -> tuple[list[np.ndarray], list[str]]:
    clips, used, bad = [], [], []
    iterator: Any = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="reading audio", unit="clip")
    for item in iterator:
        try:
            audio, _ = load_audio(item.path, sample_rate, mono="mix")
        except AudioError as err:
            bad.append(f"{Path(item.path).name}: {str(err).splitlines()[0]}")
            continue
        clips.append(audio[0, :max_samples].numpy())
        used.append(str(item.id))
    if bad:
        shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        warnings.warn(f"{what}: skipped {len(bad)} file(s) that could not be decoded:\n  {shown}", stacklevel=3)
    if not clips:
        raise AudioError(f"{what}: none of the {len(items)} file(s) could be decoded; check the files "
                         "(see the warning above) or point --data at another folder")
    return clips, used


def _first_rate(items: Sequence[Any], root: Path) -> int:
    """Sample rate of the first readable file (the default analysis rate of a plain folder)."""
    first = None
    for item in items:
        try:
            return audio_info(item.path)[0]
        except AudioError as err:
            first = first or str(err).splitlines()[0]
    raise AudioError(f"{root}: none of the {len(items)} audio file(s) could be read (first problem: {first}); "
                     "re-export the files or point --data at another folder")


def analyze_noise(data: str | os.PathLike | None = None, *, config: Any = None, sample_rate: int | None = None,
                  max_clips: int = 64, max_seconds: float = 30.0, n_fft: int = 1024,
                  logsnr_points: int = 401, noise_levels: Sequence[float] = DEFAULT_NOISE_LEVELS,
                  progress: bool = False) -> dict[str, Any]:
    """Mean power spectrum of the clean ``x_0``, per-band 0-dB crossing logsnr and effective loss
    weights, and the ``data_scale`` that would give ``x_0`` unit RMS.

    Args:
        data: a corpus folder. Without ``config`` it is a plain folder of audio files (any
            depth); with ``config`` it replaces the recipe's ``data.root`` (``None``: the
            recipe's own root).
        config: a recipe (path or :class:`~wavediff.train.config.Recipe`): its corpus reader,
            sample rate, schedule, weighting and time sampling are used (clips from the train
            split). Without it: the default cosine schedule, uniform ``t``, no preset marked.
        sample_rate: Hz to resample to; default the recipe's, else the first file's rate.
        max_clips: at most this many clips, spread evenly over the sorted file list.
        max_seconds: at most this many seconds from the start of each clip.
        n_fft: Welch frame length (Hann window, 50 % overlap).
        logsnr_points: size of the logsnr grid over the schedule's range.
        noise_levels: logsnr values of the noise floors drawn in the spectrum panel.
        progress: show a progress bar while reading audio.

    Returns:
        a JSON-friendly dict (see module docstring; every number finite): ``sample_rate``,
        ``freqs`` (Hz), ``power_db`` (dB re unit white noise), ``crossing_logsnr`` (per bin),
        ``bands`` (octave bands with ``crossing_logsnr``), ``logsnr`` (grid), ``weights``
        (per preset: ``params``, ``density``, ``lambda``, ``mean_weight``), ``recipe_weighting``,
        ``schedule``, ``time_sampling``, ``data_transform`` (the map the spectra are of),
        ``suggested_data_scale`` (per pre-emphasis coefficient), ``assumptions`` and provenance.

    Raises:
        ValueError: missing/empty folder (message names it and the fix), bad recipe.
        AudioError: no file could be decoded (undecodable ones are skipped with a warning).
    """
    recipe = _recipe_from(config) if config is not None else None
    if recipe is not None:
        recipe = copy.deepcopy(recipe)
        if data is not None:
            recipe.data.root = str(data)
        root = Path(recipe.data.root)
        if recipe.data.corpus == "demo":  # written on first use, as training does
            from ..train.run import index_from_recipe

            index = index_from_recipe(recipe)
        else:  # the same reader as training, without importing the trainer
            from ..data.corpora import index_corpus

            index = index_corpus(recipe.data.corpus, root, **dict(recipe.data.options))
        items = index.split("train") or list(index.items)
        rate = int(sample_rate or recipe.data.sample_rate)
        schedule = schedule_from_config(recipe.diffusion.schedule)
        own = weighting_from_config(recipe.diffusion.weighting)
        own_name, own_params = own.name, own.params
        time_sampling = recipe.diffusion.time_sampling
        corpus = recipe.data.corpus
        transform = DataTransform.from_config(recipe.diffusion)
    else:
        if data is None:
            raise ValueError("analyze_noise needs a data folder, a recipe, or both")
        root = Path(data)
        items = _plain_folder_items(root)
        rate = int(sample_rate or _first_rate(items, root))
        schedule, own_name, own_params, time_sampling, corpus = get_schedule("cosine"), None, {}, "uniform", "folder"
        transform = DataTransform()
    if n_fft < 16 or n_fft & (n_fft - 1):
        raise ValueError(f"n_fft must be a power of two >= 16, got {n_fft}")
    chosen = _pick(items, max_clips)
    clips, used = _load_clips(chosen, rate, max(n_fft, int(max_seconds * rate)), str(root), progress)

    suggested = {f"{c:g}": suggest_data_scale(clips, c) for c in SUGGESTED_PRE_EMPHASIS}
    # the diffusion runs on x_0 = data_scale * pre_emphasis(audio): analyse what it sees
    clips = [transform.encode(torch.from_numpy(c).double()).numpy() for c in clips]
    freqs, power, frames = mean_power_spectrum(clips, rate, n_fft)
    power = np.maximum(power, POWER_FLOOR)
    crossing = -np.log(power)
    bands = band_crossings(freqs, power, octave_bands(rate, freqs))

    grid = torch.linspace(schedule.logsnr_min, schedule.logsnr_max, logsnr_points, dtype=torch.float64)
    presets: dict[str, dict[str, Any]] = {name: {} for name in WEIGHTINGS}
    if own_name is not None and own_name in presets:
        presets[own_name] = own_params
    curves, sampler = weight_densities(schedule, grid, time_sampling, presets)

    assumptions = [
        "x_t = alpha x0 + sigma eps (variance preserving), logsnr = log(alpha^2 / sigma^2)",
        f"power spectra: Welch, Hann window, n_fft={n_fft}, hop={n_fft // 2}, normalised so unit white "
        "noise is 0 dB in every bin; all frames of all clips weigh the same",
        "SNR_dB(f, logsnr) = power_db(f) + logsnr * 10 / ln(10); crossing_logsnr = -ln P_x(f) is where it is 0 dB",
        f"power below {10 * math.log10(POWER_FLOOR):.0f} dB is floored there (crossing <= {-math.log(POWER_FLOOR):.1f})",
        sampler["assumption"],
        "weight density = lambda(logsnr) * q(logsnr), normalised to unit area over the schedule's logsnr range",
        f"spectra are of x_0 = data_scale * pre_emphasis(audio) with the recipe's data_transform "
        f"{transform.to_dict()}; suggested_data_scale gives x_0 unit RMS for each pre_emphasis",
    ]
    if recipe is None:
        assumptions.append("no recipe: default cosine schedule and uniform t; no preset marked as the recipe's")
    return {
        "data": str(root),
        "corpus": corpus,
        "recipe": None if recipe is None else recipe.name,
        "sample_rate": rate,
        "clips": len(clips),
        "clip_ids": used,
        "frames": frames,
        "n_fft": n_fft,
        "hop": n_fft // 2,
        "freqs": freqs.tolist(),
        "power_db": (_DB * np.log(power)).tolist(),
        "crossing_logsnr": crossing.tolist(),
        "bands": bands,
        "data_transform": transform.to_dict(),
        "suggested_data_scale": suggested,
        "noise_levels": [float(v) for v in noise_levels],
        "schedule": schedule.config(),
        "logsnr_range": [schedule.logsnr_min, schedule.logsnr_max],
        "time_sampling": time_sampling,
        "recipe_weighting": None if own_name is None else {
            "name": own_name, **curves.get(own_name, {}).get("params", own_params)},
        "logsnr": grid.tolist(),
        "sampling_density": sampler["q"].tolist(),
        "weights": {name: {"params": c["params"], "density": c["density"].tolist(), "lambda": c["lambda"].tolist(),
                           "mean_weight": c["mean_weight"]} for name, c in curves.items()},
        "assumptions": assumptions,
    }


def _noise_levels(result: dict[str, Any]) -> list[float]:
    """The requested levels, extended in steps of 5 to cover the data's crossings inside the range."""
    lo_r, hi_r = result["logsnr_range"]
    cross = [b["crossing_logsnr"] for b in result["bands"]] or result["crossing_logsnr"]
    levels = set(result.get("noise_levels") or DEFAULT_NOISE_LEVELS)
    lo, hi = max(lo_r, min(min(levels), min(cross))), min(hi_r, max(max(levels), max(cross)))
    step = 5.0 if (hi - lo) <= 50 else 10.0
    levels |= {v for v in np.arange(math.ceil(lo / step) * step, hi + 1e-9, step)}
    return sorted(float(v) for v in levels if lo_r <= v <= hi_r)


def plot_noise_analysis(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the three-panel figure (PNG, atomically): (a) clean power spectrum against white-noise
    floors at several logsnr, (b) 0-dB crossing logsnr over frequency, (c) effective loss
    weight density over logsnr per preset, with the bands' crossings marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freqs = np.asarray(result["freqs"])[1:]  # no DC on a log axis
    power_db = np.asarray(result["power_db"])[1:]
    crossing = np.asarray(result["crossing_logsnr"])[1:]
    lo_r, hi_r = result["logsnr_range"]
    fig, (ax_p, ax_c, ax_w) = plt.subplots(3, 1, figsize=(9, 12), constrained_layout=True)
    title = f"{result['data']} ({result['clips']} clips, {result['sample_rate']} Hz)"
    fig.suptitle(title, fontsize=11)

    levels = _noise_levels(result)
    cmap = plt.get_cmap("viridis")
    ax_p.semilogx(freqs, power_db, color="black", linewidth=1.6, label="clean audio")
    for i, level in enumerate(levels):
        floor = -level * _DB  # noise power relative to alpha^2 at this logsnr
        ax_p.axhline(floor, color=cmap(i / max(1, len(levels) - 1)), linestyle="--", linewidth=1,
                     label=f"noise, logsnr {level:g}")
    floors = [-level * _DB for level in levels]
    ax_p.set_ylim(min(float(power_db.min()) - 10, min(floors) - 5), max(float(power_db.max()) + 10, max(floors) + 5))
    ax_p.set_xlabel("frequency (Hz)")
    ax_p.set_ylabel("power (dB re unit white noise)")
    ax_p.set_title("(a) clean spectrum vs white-noise floors: a band is drowned where the floor is above it", fontsize=10)
    ax_p.legend(fontsize=7, ncol=2, loc="lower left")
    ax_p.grid(True, which="both", alpha=0.25)

    ax_c.semilogx(freqs, crossing, color="tab:blue", linewidth=1.2, label="per FFT bin")
    for band in result["bands"]:
        ax_c.hlines(band["crossing_logsnr"], max(band["low_hz"], freqs[0]), band["high_hz"], color="tab:red", linewidth=2.5)
        ax_c.text(band["center_hz"], band["crossing_logsnr"], f" {band['name']}", fontsize=7, va="bottom", ha="center")
    ax_c.plot([], [], color="tab:red", linewidth=2.5, label="octave bands")
    for bound in (lo_r, hi_r):
        ax_c.axhline(bound, color="gray", linestyle=":", linewidth=1)
    ax_c.set_xlabel("frequency (Hz)")
    ax_c.set_ylabel("logsnr where SNR = 0 dB")
    ax_c.set_title("(b) 0-dB crossing: above the curve the band is audible through the noise, below it is drowned "
                   "(dotted: schedule range)", fontsize=10)
    ax_c.legend(fontsize=8)
    ax_c.grid(True, which="both", alpha=0.25)

    grid = np.asarray(result["logsnr"])
    own = (result.get("recipe_weighting") or {}).get("name")
    for name, curve in result["weights"].items():
        mine = name == own
        ax_w.plot(grid, curve["density"], linewidth=2.8 if mine else 1.1, zorder=3 if mine else 2,
                  label=f"{name} (recipe)" if mine else name)
    # densities span orders of magnitude (snr/v/edm pile up at the noisy end): log axis
    peak = max(float(np.max(c["density"])) for c in result["weights"].values())
    ax_w.set_yscale("log")
    ax_w.set_ylim(peak * 1e-4, peak * 3)
    shown = sorted((b for b in result["bands"] if lo_r <= b["crossing_logsnr"] <= hi_r), key=lambda b: b["crossing_logsnr"])
    for i, band in enumerate(shown):
        ax_w.axvline(band["crossing_logsnr"], color="gray", linestyle=":", linewidth=0.8, zorder=1)
        # staggered heights so labels of nearby crossings do not overprint
        ax_w.text(band["crossing_logsnr"], peak * 2.5 / 10 ** (0.45 * (i % 3)), band["name"], rotation=90,
                  fontsize=7, va="top", ha="right", color="dimgray")
    ax_w.set_xlim(lo_r, hi_r)
    ax_w.set_xlabel("logsnr (left: noisy, right: clean)")
    ax_w.set_ylabel("loss weight per unit logsnr (unit area, log)")
    ax_w.set_title(f"(c) effective loss weight, {result['time_sampling']} time sampling; dotted: octave-band 0-dB crossings",
                   fontsize=10)
    ax_w.legend(fontsize=8, ncol=2, loc="best")
    ax_w.grid(True, alpha=0.25)

    path = Path(path)
    try:
        with atomic_write(path) as handle:
            fig.savefig(handle, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


def save_noise_analysis(result: dict[str, Any], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``noise_analysis.json`` and ``noise_analysis.png`` into ``out_dir`` (atomically)."""
    out = Path(out_dir)
    json_path = out / "noise_analysis.json"
    write_text_atomic(json_path, json.dumps(result, indent=1, allow_nan=False))
    return json_path, plot_noise_analysis(result, out / "noise_analysis.png")
