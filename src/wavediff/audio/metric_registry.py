"""The metric registry: what every metric name in a report means.

:data:`METRICS` holds, for every name a report can carry (the copy-synthesis metrics of
:mod:`wavediff.audio.metrics` and :mod:`wavediff.audio.speech_metrics`, and the
distribution metrics of :mod:`wavediff.eval.distribution`), a :class:`MetricInfo`: its
direction, unit, one-line description, whether a report highlights its best value and
the optional packages it needs. Reports, summaries, the gallery and the demos read these
facts from here and nowhere else. :mod:`wavediff.audio.metrics` re-exports every name.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterable
from typing import Any, Literal

__all__ = [
    "MetricInfo",
    "MetricKind",
    "METRICS",
    "COPY_SYNTHESIS_METRICS",
    "DEFAULT_METRICS",
    "available_metrics",
    "metric_info",
]

MetricKind = Literal["copy_synthesis", "distribution"]


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """What one metric name in a report means: the one place reports, summaries and the
    gallery read it from.

    Attributes:
        name: the key in reports (``report.json`` rows, ``summary.md``, the gallery).
        higher_is_better: direction of what the metric measures; ``None`` for a metric
            with a target value instead of a direction (``nn_train_ratio``: about 1).
        unit: the unit of its values: ``"dB"``, ``"Hz"``, ``"cents"``, ``"MOS"``,
            ``"fraction"`` (a share in [0, 1]), ``"ratio"``, ``"log-mel units"`` or
            ``"dimensionless"``.
        description: one line: what it measures, and why when ``highlight`` is False.
        kind: ``"copy_synthesis"``: generated audio against the clip it re-synthesises,
            computed by :func:`~wavediff.audio.metrics.copy_synthesis_metrics`
            (``wavediff evaluate --metrics``, vocoders); ``"distribution"``: generated clips against held-out clips,
            computed by :mod:`wavediff.eval.distribution` (unconditional and
            class-conditional models).
        highlight: a better value means better audio, so reports mark the best row.
            False for numbers that measure something else (fidelity to a teacher,
            memorisation) or that rate noise as good at a report's clip counts: shown,
            never marked best.
        reference_free: computed from the estimate alone (copy synthesis).
        requires: import names of optional packages (the ``eval`` extra) it needs.
        speech: a speech-only copy-synthesis metric, computed by
            :func:`~wavediff.audio.metrics.copy_synthesis_metrics` only when asked for by name.
    """

    name: str
    higher_is_better: bool | None
    unit: str
    description: str
    kind: MetricKind = "copy_synthesis"
    highlight: bool = True
    reference_free: bool = False
    requires: tuple[str, ...] = ()
    speech: bool = False

    def __post_init__(self) -> None:
        if self.highlight and self.higher_is_better is None:
            raise ValueError(f"{self.name}: a metric without a direction cannot be highlighted")
        if not self.unit or not self.description or "\n" in self.description:
            raise ValueError(f"{self.name}: needs a unit and a one-line description")

    def report_entry(self) -> dict[str, Any]:
        """The ``metric_info`` entry of ``report.json``."""
        return {"higher_is_better": self.higher_is_better, "unit": self.unit,
                "description": self.description, "highlight": self.highlight}


def _copy(name: str, higher_is_better: bool, unit: str, description: str, **kw: Any) -> tuple[str, MetricInfo]:
    return name, MetricInfo(name, higher_is_better, unit, description, "copy_synthesis", **kw)


def _dist(name: str, higher_is_better: bool | None, unit: str, description: str,
          highlight: bool = True) -> tuple[str, MetricInfo]:
    return name, MetricInfo(name, higher_is_better, unit, description, "distribution", highlight)


_WORLD = ("pyworld",)
_DNSMOS_PKGS = ("speechmos", "onnxruntime", "requests")

#: Every metric name wavediff reports, in report order: copy-synthesis metrics first, then
#: the distribution metrics of ``wavediff evaluate``. Which of them a report highlights,
#: and why the others are not, is decided here (``highlight``). At 32 clips per row k-NN
#: precision rated broadband noise 0.78-1.0 against a real-vs-real 0.78 and k-NN recall
#: rose to 0.6-0.7 for quiet noise with a few loud noise clips, so neither is reported;
#: ``fd_mel``, ``coverage``, ``class_consistency`` and ``periodicity_gap`` rank real clips above
#: white, low-passed and added noise (tests/test_report_metrics_prefer_audio.py).
METRICS: dict[str, MetricInfo] = dict(
    [
        _copy("mrstft_distance", False, "dimensionless",
              "multi-resolution STFT distance to the original clip: spectral convergence + "
              "ln-magnitude L1, mean over 3 resolutions"),
        _copy("mel_l1", False, "log-mel units",
              "mean absolute log-mel difference to the original clip, in the model's MelConfig log units"),
        _copy("lsd", False, "dB", "log-spectral distance to the original clip: RMS over frequency "
              "of the power-spectrum dB difference, mean over frames"),
        _copy("mcd", False, "dB", "mel-cepstral distortion c1..c24 of WORLD CheapTrick envelopes, "
              "frames aligned 1:1", requires=_WORLD + ("pysptk",), speech=True),
        _copy("f0_rmse", False, "Hz", "RMS F0 error over frames voiced in both (WORLD Harvest)",
              requires=_WORLD, speech=True),
        _copy("f0_rmse_cents", False, "cents", "RMS F0 error over frames voiced in both (WORLD Harvest)",
              requires=_WORLD, speech=True),
        _copy("voicing_error", False, "fraction", "share of frames whose voiced/unvoiced decision "
              "differs (WORLD Harvest)", requires=_WORLD, speech=True),
        _copy("pesq", True, "MOS", "wide-band PESQ (ITU-T P.862.2) MOS-LQO at 16 kHz, 1.04-4.64",
              requires=("pesq",), speech=True),
        _copy("stoi", True, "fraction", "short-time objective intelligibility, 0-1",
              requires=("pystoi",), speech=True),
        _copy("estoi", True, "fraction", "extended STOI, 0-1", requires=("pystoi",), speech=True),
        _copy("dnsmos", True, "MOS", "DNSMOS P.835 overall quality (OVRL), reference-free, 1-5",
              reference_free=True, requires=_DNSMOS_PKGS, speech=True),
        _copy("dnsmos_sig", True, "MOS", "DNSMOS P.835 speech signal quality (SIG), reference-free, 1-5",
              reference_free=True, requires=_DNSMOS_PKGS, speech=True),
        _copy("dnsmos_bak", True, "MOS", "DNSMOS P.835 background noise quality (BAK), reference-free, 1-5",
              reference_free=True, requires=_DNSMOS_PKGS, speech=True),
        _copy("dnsmos_p808", True, "MOS", "DNSMOS P.808 overall MOS, reference-free, 1-5",
              reference_free=True, requires=_DNSMOS_PKGS, speech=True),
        _dist("fd_mel", False, "dimensionless",
              "Frechet distance of standardised log-mel frames, generated vs held-out clips "
              "(not comparable to published FAD)"),
        _dist("coverage", True, "fraction",
              "share of held-out clips whose k-NN ball (k = 3, among held-out clips) holds a generated "
              "clip (Naeem et al. 2020; replaces k-NN precision and recall, which rate noise as real "
              "at 32 clips)"),
        _dist("class_consistency", True, "fraction",
              "share of generated clips nearest to the real centroid of the class asked for "
              "(centroids of the held-out and training segments; chance: 1 / classes)"),
        _dist("periodicity_gap", False, "dimensionless",
              "difference between the generated and the held-out clips' mean periodicity (largest "
              "normalised autocorrelation at lags of 1-20 ms: pitched notes near 1, noise near 0), per "
              "class for class models; a noise texture shaped like a note scores far from the notes"),
        _dist("nn_train_ratio", None, "ratio",
              "median distance to the nearest training clip over held-out clips' (about 1: no copying, "
              "near 0: memorised); a memorisation check, never highlighted", highlight=False),
        _dist("copy_fraction", False, "fraction",
              "share of generated clips closer to a training clip than any held-out clip is; a "
              "memorisation check (noise scores 0), never highlighted", highlight=False),
        _dist("mrstft_to_teacher", False, "dimensionless",
              "MR-STFT distance to the first model's many-step sample from the same noise: fidelity "
              "to the teacher, not audio quality (a teacher that makes noise is followed by copying "
              "its noise), never highlighted", highlight=False),
    ]
)

#: The names :func:`~wavediff.audio.metrics.copy_synthesis_metrics` (and
#: ``wavediff evaluate --metrics``) accept.
COPY_SYNTHESIS_METRICS: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.kind == "copy_synthesis")

#: What :func:`~wavediff.audio.metrics.copy_synthesis_metrics` computes when ``names`` is None.
DEFAULT_METRICS: tuple[str, ...] = tuple(n for n in COPY_SYNTHESIS_METRICS if not METRICS[n].speech)


def metric_info(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``report.json``'s ``metric_info``: ``{name: MetricInfo.report_entry()}`` for
    ``names``, in registry order. Raises ``ValueError`` for a name the registry lacks."""
    wanted = set(names)
    unknown = sorted(wanted - set(METRICS))
    if unknown:
        raise ValueError(f"metric(s) {unknown} are not in the registry wavediff.audio.metrics.METRICS")
    return {n: info.report_entry() for n, info in METRICS.items() if n in wanted}


def available_metrics() -> list[str]:
    """Names in :data:`COPY_SYNTHESIS_METRICS` whose optional packages are installed
    (nothing is imported)."""
    return [
        name
        for name in COPY_SYNTHESIS_METRICS
        if all(importlib.util.find_spec(pkg) is not None for pkg in METRICS[name].requires)
    ]
