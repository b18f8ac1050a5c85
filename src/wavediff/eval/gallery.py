"""``wavediff gallery``: one static HTML page to listen to and look at an evaluation report.

Input: a report folder written by ``wavediff evaluate`` (or ``wavediff demo``)::

    REPORT/report.json       rows (model, method, steps, nfe, metrics, rtf, audio, spectrograms, settings)
    REPORT/summary.md        the same table in Markdown (shown folded, when present)
    REPORT/plots/*.png       quality against NFE, real vs generated spectrograms
    REPORT/audio/<model>/<method>-<steps>/NNN.wav|png   generated clips and their spectrograms
    REPORT/audio/reference/NNN.wav|png                  the real clips they are compared with

Only ``rows`` (each with model/method/steps/nfe/metrics/rtf), ``data`` and ``seed`` are
required; every other key (``kind``, ``sample_rate``, ``clips``, ``references``, ``plots``,
``notes``, ``metric_info``, ``baseline``, ``settings``, ``audio``, ``spectrograms``, ...) is
used when present. Clip ``i`` of every row (and reference ``i``) sits in column ``i`` of every
clip grid, so the same clip index or label is compared across models and step counts.

Metric directions, and which columns mark their best value, come from the registry
:data:`wavediff.audio.metrics.METRICS` for every name it holds; the report's ``metric_info``
describes other names (a best value is marked for those only when their entry says
``"highlight": true``). Metrics whose better value does not mean better audio
(``mrstft_to_teacher``, the copy check) are shown but never marked.

The page is self-contained: no scripts, no external fonts or styles. Audio and images are
embedded as base64 ``data:`` URIs (default) or, with ``embed=False``, referenced by paths
relative to the HTML file. All report text is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from ..audio.metric_registry import METRICS
from ..files import write_text_atomic

__all__ = ["GalleryError", "load_report", "render_gallery", "write_gallery"]

_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg",
         ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
         ".webp": "image/webp", ".gif": "image/gif"}
_ROW_KEYS = ("model", "method", "steps", "nfe", "metrics", "rtf")
_FIX = "run `wavediff evaluate CHECKPOINT --data DIR --out REPORT` first (or re-run it to rebuild the report)"


class GalleryError(ValueError):
    """A report folder the gallery cannot use: the message names the file and the fix."""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def load_report(report_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``report_dir/report.json`` (structure only; files are checked later).

    Raises:
        GalleryError: missing folder or file, invalid JSON, or a missing required key.
    """
    root = Path(report_dir)
    path = root / "report.json"
    if not root.is_dir():
        raise GalleryError(f"{root}: no such report folder; {_FIX}")
    if not path.is_file():
        raise GalleryError(f"{path}: not found, so {root} is not an evaluation report; {_FIX}")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GalleryError(f"{path}: not valid JSON ({err}); the file is damaged or half-written: {_FIX}") from None
    if not isinstance(report, dict):
        raise GalleryError(f"{path}: expected a JSON object with 'rows', 'data' and 'seed'; {_FIX}")
    missing = [k for k in ("rows", "data", "seed") if k not in report]
    if missing:
        raise GalleryError(f"{path}: missing key(s) {missing}; {_FIX}")
    if not isinstance(report["rows"], list):
        raise GalleryError(f"{path}: 'rows' must be a list; {_FIX}")
    for i, row in enumerate(report["rows"]):
        if not isinstance(row, dict):
            raise GalleryError(f"{path}: rows[{i}] is not an object; {_FIX}")
        lacking = [k for k in _ROW_KEYS if k not in row]
        if lacking:
            raise GalleryError(f"{path}: rows[{i}] lacks {lacking}; {_FIX}")
        if not isinstance(row["metrics"], dict):
            raise GalleryError(f"{path}: rows[{i}].metrics must be an object; {_FIX}")
    return report


# -- files: embedded or linked -------------------------------------------------------------
class _Files:
    """Turns report-relative paths into ``src`` attributes (data URI or relative URL)."""

    def __init__(self, root: Path, out_dir: Path, embed: bool) -> None:
        self.root, self.out_dir, self.embed = root, out_dir, embed
        self._cache: dict[Path, str] = {}

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def check(self, rels: Iterable[str]) -> None:
        missing = sorted({str(self.path(r)) for r in rels if not self.path(r).is_file()})
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise GalleryError(f"report.json in {self.root} names {len(missing)} missing file(s): {shown}; "
                               f"the report folder is incomplete (moved or partly deleted?): {_FIX}")

    def src(self, rel: str) -> str:
        path = self.path(rel)
        if path in self._cache:
            return self._cache[path]
        if self.embed:
            mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
            value = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        else:
            # relative to the page, whatever the two folders are; URL-quoted, POSIX separators
            relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.out_dir))
            value = quote(Path(relative).as_posix())
        self._cache[path] = value
        return value


# -- metrics ------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: Any) -> str:
    v = _number(value)
    if v is None:
        return "–" if value is None or isinstance(value, (int, float)) else _esc(value)
    return f"{v:.4g}"


def _judgement(name: str, info: dict[str, Any]) -> tuple[bool | None, bool]:
    """``(higher_is_better, highlight)`` of a metric: the registry's for the names it holds
    (it is newer than any report), else the report's ``metric_info`` entry; a name neither
    describes has no direction and is never highlighted."""
    known = METRICS.get(name)
    if known is not None:
        return known.higher_is_better, known.highlight
    entry = info.get(name)
    if not isinstance(entry, dict) or entry.get("higher_is_better") not in (True, False):
        return None, False
    return entry["higher_is_better"], entry.get("highlight") is True


def _description(name: str, info: dict[str, Any]) -> str:
    """One line on what a metric measures: the registry's, else the report's."""
    known = METRICS.get(name)
    if known is not None:
        return known.description
    entry = info.get(name)
    return str(entry.get("description", "")) if isinstance(entry, dict) else ""


def _metric_names(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        seen += [k for k in row["metrics"] if k not in seen]
    order = list(info)  # the report's own order first, then first appearance
    return sorted(seen, key=lambda k: (order.index(k) if k in order else len(order), seen.index(k)))


def _best(rows: list[dict[str, Any]], names: list[str], info: dict[str, Any]) -> dict[str, set[int]]:
    """Row indices holding the best value of each highlighted metric (and ``rtf``), ties
    included; only when at least two different finite values are there to tell apart."""
    best: dict[str, set[int]] = {}
    for name in [*names, "rtf"]:
        direction, highlight = (False, True) if name == "rtf" else _judgement(name, info)
        values = {i: _number(r["rtf"] if name == "rtf" else r["metrics"].get(name)) for i, r in enumerate(rows)}
        values = {i: v for i, v in values.items() if v is not None}
        if not highlight or len(set(values.values())) < 2:
            continue
        target = max(values.values()) if direction else min(values.values())
        best[name] = {i for i, v in values.items() if v == target}
    return best


# -- page ---------------------------------------------------------------------------------
_CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1c2430;--muted:#5d6b7e;--line:#e2e6ec;--accent:#3558d6;
--best:#e3f5e6;--best-ink:#146c2e;--head:rgba(255,255,255,.92);--shadow:0 1px 2px rgba(16,24,40,.06),0 1px 3px rgba(16,24,40,.1)}
@media (prefers-color-scheme:dark){:root{--bg:#0f1419;--card:#171d25;--ink:#e6e9ee;--muted:#9aa6b5;--line:#2a333f;
--accent:#8aa4ff;--best:#17361f;--best-ink:#8fe0a5;--head:rgba(15,20,25,.92);--shadow:none}}
*{box-sizing:border-box}
html{scroll-padding-top:7rem}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
-webkit-text-size-adjust:100%}
header.top{position:sticky;top:0;z-index:10;background:var(--head);backdrop-filter:blur(8px);-webkit-backdrop-filter:blur(8px);
border-bottom:1px solid var(--line);padding:.6rem 1rem}
header.top h1{margin:0;font-size:1.15rem;font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
header.top .meta{color:var(--muted);font-size:.82rem;margin-top:.1rem}
nav{display:flex;gap:.4rem;overflow-x:auto;margin-top:.45rem;padding-bottom:.15rem;scrollbar-width:thin}
nav a{flex:none;font-size:.82rem;padding:.15rem .6rem;border:1px solid var(--line);border-radius:999px;color:var(--ink);
text-decoration:none;background:var(--card)}
nav a:hover{border-color:var(--accent);color:var(--accent)}
main{max-width:1400px;margin:0 auto;padding:1rem}
section{margin:0 0 2rem}
h2{font-size:1.2rem;margin:1.2rem 0 .6rem}
h3{font-size:1rem;margin:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;box-shadow:var(--shadow);padding:.9rem 1rem;margin:0 0 1rem}
.muted{color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.88rem;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .55rem;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:var(--muted);position:sticky;top:0;background:var(--card)}
td.l,th.l{text-align:left}
tbody td:first-child,thead th:first-child{position:sticky;left:0;z-index:1;background:var(--card)}  /* the model stays in view while the metrics scroll sideways */
tr.model-start td{border-top:2px solid var(--line)}
td.best{background:var(--best);color:var(--best-ink);font-weight:650}
th.diag{font-style:italic;font-weight:400}
tr.baseline td{font-style:italic;color:var(--muted)}
a{color:var(--accent)}
.row-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3rem .8rem;margin-bottom:.5rem}
.chips{display:flex;flex-wrap:wrap;gap:.35rem;margin:.3rem 0 .6rem}
.chip{font-size:.8rem;padding:.1rem .5rem;border-radius:6px;background:var(--bg);border:1px solid var(--line);font-variant-numeric:tabular-nums}
.chip.best{background:var(--best);color:var(--best-ink);border-color:transparent;font-weight:600}
details{margin:.3rem 0}
summary{cursor:pointer;color:var(--muted);font-size:.85rem}
dl.settings{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;font-size:.82rem;margin:.4rem 0}
dl.settings dt{color:var(--muted)} dl.settings dd{margin:0;overflow-wrap:anywhere}
.clips{display:grid;grid-template-columns:repeat(var(--cols),minmax(230px,1fr));gap:.7rem}
.clip{min-width:0}
.clip .cap{font-size:.8rem;color:var(--muted);margin-bottom:.25rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.clip .cap b{color:var(--ink);font-weight:600}
.clip img{display:block;width:100%;height:auto;border-radius:8px;border:1px solid var(--line);background:#000}
.clip audio{display:block;width:100%;height:36px;margin-bottom:.35rem}
.clip.empty{border:1px dashed var(--line);border-radius:8px;min-height:60px;display:flex;align-items:center;justify-content:center;font-size:.8rem;color:var(--muted)}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:1rem}
.plots figure{margin:0}.plots img{width:100%;height:auto;max-height:85vh;object-fit:contain;border-radius:8px;border:1px solid var(--line);background:#fff}
figcaption{font-size:.8rem;color:var(--muted);margin-top:.3rem;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem;background:var(--bg);padding:.6rem;border-radius:8px}
ul.notes{margin:.2rem 0;padding-left:1.2rem}
footer{color:var(--muted);font-size:.8rem;text-align:center;padding:1rem 0 2rem}
@media (max-width:640px){body{font-size:14px}main{padding:.6rem}.card{padding:.7rem .7rem;border-radius:10px}
.clips{grid-template-columns:repeat(var(--cols),minmax(200px,1fr))}header.top .meta{display:none}}
"""


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _settings_html(settings: Any) -> str:
    if not isinstance(settings, dict) or not settings:
        return ""
    items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v if isinstance(v, str) else json.dumps(v))}</dd>"
                    for k, v in settings.items())
    return f'<details><summary>settings</summary><dl class="settings">{items}</dl></details>'


def _clip_cell(files: _Files, caption: str, audio: str | None, image: str | None) -> str:
    if not audio and not image:
        return f'<div class="clip empty">{caption or "no clip"}</div>'
    parts = [f'<div class="clip"><div class="cap">{caption}</div>']
    if audio:
        parts.append(f'<audio controls preload="metadata" src="{_esc(files.src(audio))}"></audio>')
    if image:
        alt = _esc(Path(image).name)
        parts.append(f'<img src="{_esc(files.src(image))}" alt="spectrogram {alt}">')
    parts.append("</div>")
    return "".join(parts)


def _clip_captions(report: dict[str, Any], cols: int) -> list[str]:
    clips = report.get("clips") if isinstance(report.get("clips"), list) else []
    caps = []
    for i in range(cols):
        clip = clips[i] if i < len(clips) and isinstance(clips[i], dict) else {}
        name = clip.get("name", f"{i:03d}")
        label = clip.get("label")
        cap = f"<b>{_esc(name)}</b>" + (f" · {_esc(label)}" if label not in (None, "") else "")
        if clip.get("reference"):
            cap += f' <span title="reference clip">· {_esc(clip["reference"])}</span>'
        caps.append(cap)
    return caps


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def render_gallery(report: dict[str, Any], report_dir: str | os.PathLike, out_dir: str | os.PathLike,
                   *, embed: bool = True, title: str | None = None) -> str:
    """The gallery page for a loaded report as one HTML string (see :func:`write_gallery`)."""
    root = Path(report_dir)
    files = _Files(root, Path(out_dir), embed)
    rows: list[dict[str, Any]] = report["rows"]
    refs = [r for r in _list(report.get("references")) if isinstance(r, dict)]
    plots = [p for p in _list(report.get("plots")) if isinstance(p, str)]
    files.check([f for r in rows for f in _list(r.get("audio")) + _list(r.get("spectrograms")) if f]
                + [r[k] for r in refs for k in ("audio", "spectrogram") if r.get(k)] + plots)

    info = report.get("metric_info") if isinstance(report.get("metric_info"), dict) else {}
    names = _metric_names(rows, info)
    best = _best(rows, names, info)
    models: list[str] = []
    for row in rows:
        if str(row["model"]) not in models:
            models.append(str(row["model"]))
    order = sorted(range(len(rows)), key=lambda i: (models.index(str(rows[i]["model"])), str(rows[i]["method"]),
                                                     _number(rows[i]["steps"]) or 0))
    taken: set[str] = {"metrics", "references", "plots", "notes", "summary"}
    model_ids = {m: _slug(m, taken) for m in models}
    row_ids = {i: _slug(f"{rows[i]['model']}-{rows[i]['method']}-{rows[i]['steps']}", taken) for i in order}
    cols = max([len(_list(r.get("audio"))) for r in rows] + [len(_list(r.get("spectrograms"))) for r in rows]
               + [len(refs), 1])
    captions = _clip_captions(report, cols)
    kind = report.get("kind")
    page_title = title or f"wavediff gallery · {root.resolve().name}"

    meta = [f"data <b>{_esc(report['data'])}</b>", f"seed {_esc(report['seed'])}"]
    if kind:
        meta.append(_esc(kind))
    if report.get("sample_rate"):
        meta.append(f"{_esc(report['sample_rate'])} Hz")
    if _number(report.get("clip_seconds")):
        meta.append(f"{report['clip_seconds']:.2f} s clips")
    meta.append(f"{len(rows)} row(s), {len(models)} model(s)")
    nav = ['<a href="#metrics">metrics</a>']
    if refs:
        nav.append('<a href="#references">real clips</a>')
    nav += [f'<a href="#{model_ids[m]}">{_esc(m)}</a>' for m in models]
    if plots:
        nav.append('<a href="#plots">plots</a>')
    if _list(report.get("notes")) or (root / "summary.md").is_file():
        nav.append('<a href="#notes">notes</a>')

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<meta name="color-scheme" content="light dark">',
           f"<title>{_esc(page_title)}</title><style>{_CSS}</style></head><body>",
           f'<header class="top"><h1>{_esc(page_title)}</h1><div class="meta">{" · ".join(meta)}</div>'
           f'<nav>{"".join(nav)}</nav></header><main>']

    # metrics table: model x method x steps; best value per column highlighted
    arrows = {n: {True: " ↑", False: " ↓"}.get(_judgement(n, info)[0], "") for n in names}
    head = ['<th class="l">model</th><th class="l">method</th><th>steps</th><th>NFE</th>']
    for n in names:
        diag = "" if _judgement(n, info)[1] else ' class="diag"'
        head.append(f'<th{diag} title="{_esc(_description(n, info))}">{_esc(n)}{arrows[n]}</th>')
    head.append('<th title="seconds of compute per second of audio">RTF ↓</th>')
    body, previous = [], None
    for i in order:
        r = rows[i]
        cls = ' class="model-start"' if previous is not None and r["model"] != previous else ""
        previous = r["model"]
        cells = [f'<td class="l"><a href="#{row_ids[i]}">{_esc(r["model"])}</a></td><td class="l">{_esc(r["method"])}</td>'
                 f'<td>{_esc(r["steps"])}</td><td>{_esc(r["nfe"])}</td>']
        for n in [*names, "rtf"]:
            value = r["rtf"] if n == "rtf" else r["metrics"].get(n)
            mark = ' class="best"' if i in best.get(n, ()) else ""
            cells.append(f"<td{mark}>{_fmt(value)}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    baseline = report.get("baseline")
    if isinstance(baseline, dict) and baseline:
        cells = ['<td class="l" colspan="4">real data (floor)</td>']
        cells += [f"<td>{_fmt(baseline.get(n))}</td>" for n in names] + ["<td></td>"]
        body.append(f'<tr class="baseline">{"".join(cells)}</tr>')
    legend = ('<p class="muted" style="font-size:.8rem;margin:.5rem 0 0">↓ lower is better, ↑ higher is better, '
              "no arrow: see the description (hover a column name). The best value is highlighted in the columns "
              "where a better value means better audio; columns in italics are never highlighted: they measure "
              "something else (fidelity to the teacher, copying of training clips) or no direction is known.</p>")
    out.append('<section id="metrics"><h2>Metrics</h2><div class="card"><div class="scroll"><table>'
               f'<thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{legend}</div></section>')

    grid_style = f' style="--cols:{cols}"'
    if refs:
        cells = []
        for j in range(cols):
            ref = refs[j] if j < len(refs) else {}
            cap = captions[j]
            extra = [str(ref[k]) for k in ("name", "label") if ref.get(k) not in (None, "")]
            if extra:
                cap = f"<b>{_esc(extra[0])}</b>" + "".join(f" · {_esc(e)}" for e in extra[1:])
            cells.append(_clip_cell(files, cap, ref.get("audio"), ref.get("spectrogram")) if ref
                         else '<div class="clip empty">no real clip</div>')
        what = ("the ground-truth clips: clip i of every row re-synthesises reference i" if kind == "vocoder"
                else "held-out clips of the data set")
        out.append(f'<section id="references"><h2>Real clips</h2><div class="card"><p class="muted" style="margin-top:0">'
                   f'{_esc(what)}</p><div class="scroll"><div class="clips"{grid_style}>{"".join(cells)}</div></div></div></section>')

    for model in models:
        out.append(f'<section id="{model_ids[model]}"><h2>{_esc(model)}</h2>')
        for i in (i for i in order if str(rows[i]["model"]) == model):
            r = rows[i]
            chips = []
            for n in [*names, "rtf"]:
                value = r["rtf"] if n == "rtf" else r["metrics"].get(n)
                if n != "rtf" and n not in r["metrics"]:
                    continue
                mark = " best" if i in best.get(n, ()) else ""
                chips.append(f'<span class="chip{mark}">{_esc(n)} {_fmt(value)}</span>')
            audio, specs = _list(r.get("audio")), _list(r.get("spectrograms"))
            if audio or specs:
                cells = [_clip_cell(files, captions[j], audio[j] if j < len(audio) else None,
                                    specs[j] if j < len(specs) else None) for j in range(cols)]
                clips = f'<div class="scroll"><div class="clips"{grid_style}>{"".join(cells)}</div></div>'
            else:
                clips = '<p class="muted">No audio was saved for this row.</p>'
            out.append(f'<article class="card" id="{row_ids[i]}"><div class="row-head"><h3>{_esc(r["method"])} · '
                       f'{_esc(r["steps"])} step(s)</h3><span class="muted">{_esc(r["nfe"])} NFE</span></div>'
                       f'<div class="chips">{"".join(chips)}</div>{_settings_html(r.get("settings"))}{clips}</article>')
        out.append("</section>")

    if plots:
        figs = "".join(f'<figure><img src="{_esc(files.src(p))}" alt="{_esc(Path(p).stem)}">'
                       f"<figcaption>{_esc(p)}</figcaption></figure>" for p in plots)
        out.append(f'<section id="plots"><h2>Plots</h2><div class="card plots">{figs}</div></section>')

    notes = [str(n) for n in _list(report.get("notes"))]
    summary = root / "summary.md"
    if notes or summary.is_file():
        parts = []
        if notes:
            parts.append('<ul class="notes">' + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
        descs = {n: _description(n, info) for n in names if _description(n, info)}
        if descs:
            parts.append('<details><summary>metric definitions</summary><dl class="settings">'
                         + "".join(f"<dt>{_esc(n)}</dt><dd>{_esc(d)}</dd>" for n, d in descs.items()) + "</dl></details>")
        if summary.is_file():
            text = summary.read_text(encoding="utf-8", errors="replace")
            parts.append(f"<details><summary>summary.md</summary><pre>{_esc(text)}</pre></details>")
        out.append(f'<section id="notes"><h2>Notes</h2><div class="card">{"".join(parts)}</div></section>')

    out.append(f'</main><footer>made by <code>wavediff gallery</code> from {_esc(root.resolve().name)}/report.json'
               f'{"" if embed else " (files linked, keep the report folder next to this page)"}</footer></body></html>')
    return "\n".join(out) + "\n"


def write_gallery(report_dir: str | os.PathLike, out_html: str | os.PathLike, *, embed: bool = True,
                  title: str | None = None) -> Path:
    """Write the gallery of the report in ``report_dir`` to ``out_html`` (atomically).

    Args:
        report_dir: folder with ``report.json`` (see module docstring).
        out_html: the page to write; missing parent folders are created.
        embed: ``True``: audio and images inside the page as base64 data URIs (one file to
            share, larger); ``False``: paths relative to the page (small; the report folder
            must stay where it is relative to the page).
        title: page title (default ``wavediff gallery · <report folder name>``).

    Returns:
        the path written.

    Raises:
        GalleryError: missing or damaged ``report.json``, or files it names that do not exist.
    """
    out = Path(out_html)
    report = load_report(report_dir)
    page = render_gallery(report, report_dir, out.parent, embed=embed, title=title)
    write_text_atomic(out, page)
    return out
