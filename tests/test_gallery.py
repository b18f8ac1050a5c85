"""``wavediff gallery``: the HTML page of an evaluation report, checked as text and in a real
headless browser (Chromium: every <audio> loads with the right duration, every <img> decodes).

The browser tests skip when no Chromium is installed, unless WAVEDIFF_REQUIRE_BROWSER=1
(set by CI where Chromium was installed), where they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
import soundfile as sf

from gallery_fixture import ODD_MODEL, best_cells, write_fixture_report
from wavediff.cli import main
from wavediff.eval.gallery import GalleryError, render_gallery, write_gallery

SECONDS = 0.37  # not a round number, so a reported duration is really measured
CLIPS = 2


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gallery") / "report"
    write_fixture_report(root, clips=CLIPS, seconds=SECONDS)
    return root


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.best: list[str] = []
        self._in_best = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in_best = tag == "td" and "best" in (attrs.get("class") or "")

    def handle_data(self, data):
        if self._in_best:
            self.best.append(data.strip())
            self._in_best = False


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _sources(parser: _Tags, tag: str) -> list[str]:
    return [a["src"] for t, a in parser.tags if t == tag]


def test_embedded_page_is_self_contained_escaped_and_highlights_the_best(report_dir, tmp_path):
    report = json.loads((report_dir / "report.json").read_text(), parse_constant=float)
    out = write_gallery(report_dir, tmp_path / "g.html")
    page = out.read_text()
    parsed = _parse(page)
    with_audio = [r for r in report["rows"] if r.get("audio")]
    assert len(_sources(parsed, "audio")) == CLIPS * (len(with_audio) + 1)  # + the reference clips
    assert len(_sources(parsed, "img")) == CLIPS * (len(with_audio) + 1) + len(report["plots"])
    assert all(s.startswith("data:audio/wav;base64,") for s in _sources(parsed, "audio"))
    assert all(s.startswith("data:image/png;base64,") for s in _sources(parsed, "img"))
    # no scripts and nothing fetched from elsewhere
    assert not [t for t, _ in parsed.tags if t in ("script", "link", "iframe")]
    assert "http://" not in page and "https://" not in page
    # every piece of report text is escaped
    assert ODD_MODEL not in page and "<b>\"cd\"</b>" not in page
    assert "student &lt;b&gt;&quot;cd&quot;&lt;/b&gt; &amp; co" in page
    assert "pluck &lt;&amp;&gt;" in page and "&lt;not&gt; comparable" in page and "data/demo &lt;test&gt;" in page
    # best per column: lowest fd_mel and mrstft_distance, highest stoi (metric_info), lowest rtf
    assert sorted(parsed.best) == sorted(["2.5", "2.6", "0.7", "0.01"])
    assert "No audio was saved for this row." in page
    assert "summary.md" in page and "real data (floor)" in page
    assert page.count('<section id="') == 6  # metrics, real clips, 2 models, plots, notes
    assert not [p for p in tmp_path.iterdir() if p.name != "g.html"]  # the temporary file is gone


def test_linked_page_uses_relative_paths_from_anywhere(report_dir, tmp_path):
    for out in (report_dir / "gallery.html", tmp_path / "site" / "deep" / "g.html"):
        parsed = _parse(write_gallery(report_dir, out, embed=False).read_text())
        sources = _sources(parsed, "audio") + _sources(parsed, "img")
        assert sources and not any(s.startswith(("data:", "/", "file:")) for s in sources)
        for src in sources:
            assert (out.parent / unquote(src)).resolve().is_file(), src
    inside = _parse((report_dir / "gallery.html").read_text())
    assert "audio/reference/000.wav" in _sources(inside, "audio")
    (report_dir / "gallery.html").unlink()


def test_minimal_report_and_default_metric_directions(tmp_path):
    report = write_fixture_report(tmp_path / "r", optional=False)
    page = write_gallery(tmp_path / "r", tmp_path / "g.html", title="my <title>").read_text()
    parsed = _parse(page)
    assert not _sources(parsed, "audio") and not _sources(parsed, "img")
    assert page.count("No audio was saved for this row.") == len(report["rows"])
    assert "<title>my &lt;title&gt;</title>" in page
    # no metric_info: fd_mel and mrstft_distance lower is better, stoi higher is better
    assert sorted(parsed.best) == sorted(["2.5", "2.6", "0.7", "0.01"])


def test_best_values_follow_the_registry_in_both_directions(tmp_path):
    """The registry decides for every name it knows, even against a stale metric_info;
    other names are marked only when their entry asks for it; metrics whose better value
    is not better audio are never marked."""
    rows = [{"model": model, "method": "ddim", "steps": 1, "nfe": 1, "rtf": rtf, "metrics": metrics}
            for model, rtf, metrics in [
                ("a", 0.5, {"fd_mel": 10.0, "coverage": 0.9, "dnsmos_sig": 3.5, "mrstft_to_teacher": 2.0,
                            "copy_fraction": 0.1, "nn_train_ratio": 1.0, "custom_up": 1.0, "custom_plain": 1.0}),
                ("b", 0.2, {"fd_mel": 20.0, "coverage": 0.3, "dnsmos_sig": 2.0, "mrstft_to_teacher": 0.1,
                            "copy_fraction": 0.0, "nn_train_ratio": 2.0, "custom_up": 2.0, "custom_plain": 2.0})]]
    stale = {"dnsmos_sig": {"higher_is_better": False, "description": "an old report's mistake"},
             "mrstft_to_teacher": {"higher_is_better": False, "description": "lower is closer"},
             "custom_up": {"higher_is_better": True, "highlight": True, "description": "mine"},
             "custom_plain": {"higher_is_better": False, "description": "no highlight asked for"}}
    best = best_cells(render_gallery({"rows": rows, "data": "d", "seed": 0, "metric_info": stale}, tmp_path, tmp_path))
    assert best == {"fd_mel": {"a"}, "coverage": {"a"}, "dnsmos_sig": {"a"}, "custom_up": {"b"}, "RTF": {"b"}}
    page = render_gallery({"rows": rows, "data": "d", "seed": 0}, tmp_path, tmp_path)
    assert '<th class="diag" title="MR-STFT distance to the first model' in page
    assert "dnsmos_sig ↑" in page and "fd_mel ↓" in page and "custom_up</th>" in page


@pytest.mark.parametrize("damage, expected", [
    ("no-folder", "no such report folder"),
    ("no-json", "report.json: not found"),
    ("bad-json", "not valid JSON"),
    ("no-rows", "missing key(s) ['rows']"),
    ("row-key", "lacks ['rtf']"),
    ("missing-file", "missing file(s)"),
])
def test_errors_name_the_file_and_the_fix(report_dir, tmp_path, damage, expected):
    root = tmp_path / "r"
    if damage == "missing-file":
        shutil.copytree(report_dir, root)
    else:
        write_fixture_report(root, optional=False)  # no audio files: quick
    path = root / "report.json"
    report = json.loads(path.read_text())
    if damage == "no-folder":
        root = tmp_path / "nowhere"
    elif damage == "no-json":
        path.unlink()
    elif damage == "bad-json":
        path.write_text(path.read_text()[:50])
    elif damage == "no-rows":
        del report["rows"]
        path.write_text(json.dumps(report))
    elif damage == "row-key":
        del report["rows"][0]["rtf"]
        path.write_text(json.dumps(report))
    else:
        (root / report["rows"][0]["audio"][0]).unlink()
    with pytest.raises(GalleryError, match=re.escape(expected)) as err:
        write_gallery(root, tmp_path / "g.html")
    assert "wavediff evaluate" in str(err.value)
    assert isinstance(err.value, ValueError)
    if damage == "missing-file":
        assert report["rows"][0]["audio"][0] in str(err.value)
    assert not (tmp_path / "g.html").exists()


def test_cli(report_dir, tmp_path, capsys):
    assert main(["gallery", str(report_dir), "--out", str(tmp_path / "a.html")]) == 0
    assert (tmp_path / "a.html").stat().st_size > 10_000
    assert main(["gallery", str(report_dir), "--out", str(tmp_path / "b.html"), "--link", "--title", "T"]) == 0
    assert "<title>T</title>" in (tmp_path / "b.html").read_text()
    assert main(["gallery", str(tmp_path / "missing"), "--out", str(tmp_path / "c.html")]) == 2
    assert "wavediff: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["gallery", "--help"])
    assert "examples:" in capsys.readouterr().out


# -- a real browser ----------------------------------------------------------------------
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# work as root in a container: no sandbox, no /dev/shm, no GPU, a throw-away profile
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--mute-audio", "--hide-scrollbars", "--allow-file-access-from-files")

# Waits for every <audio> to report its metadata (or an error), then writes what the page
# loaded as JSON into <pre id="wavediff-check">; --dump-dom prints the DOM after that.
CHECK_SCRIPT = """<pre id="wavediff-check">pending</pre><script>
(function () {
  var done = false;
  function finish() {
    if (done) return; done = true;
    var out = {
      audio: [].map.call(document.querySelectorAll('audio'), function (a) {
        return {src: a.getAttribute('src').slice(0, 60), ready: a.readyState,
                duration: isFinite(a.duration) ? a.duration : null, error: a.error ? a.error.code : null};
      }),
      img: [].map.call(document.querySelectorAll('img'), function (i) {
        return {src: i.getAttribute('src').slice(0, 60), complete: i.complete, width: i.naturalWidth};
      })
    };
    document.getElementById('wavediff-check').textContent = JSON.stringify(out);
  }
  var audios = document.querySelectorAll('audio'), pending = audios.length + 1;
  function one() { if (--pending <= 0) finish(); }
  [].forEach.call(audios, function (a) {
    if (a.readyState >= 1 || a.error) { one(); return; }
    a.addEventListener('loadedmetadata', one, {once: true});
    a.addEventListener('error', one, {once: true});
  });
  if (document.readyState === 'complete') one(); else window.addEventListener('load', one);
  setTimeout(finish, 10000);  // report what loaded rather than hang
})();
</script>"""


def _browser() -> str:
    for name in (os.environ.get("WAVEDIFF_CHROMIUM"), *BROWSERS):
        if name and shutil.which(name):
            return shutil.which(name)
    message = ("no Chromium found (tried " + ", ".join(BROWSERS) + "); install it with "
               "`apt-get install -y chromium` to run the browser checks of the gallery")
    if os.environ.get("WAVEDIFF_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (WAVEDIFF_REQUIRE_BROWSER=1 makes this an error)")
    pytest.skip(message)


def _run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{browser} did not finish within 90 s: {' '.join(cmd)}")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("embed", [True, False], ids=["embedded", "linked"])
def test_gallery_in_headless_chromium(report_dir, tmp_path, embed):
    browser = _browser()
    out = (tmp_path / "page" / "gallery.html") if embed else (report_dir / "linked.html")
    try:
        write_gallery(report_dir, out, embed=embed)
        # the checking copy sits next to the page, so linked paths resolve the same way
        probe = out.with_name("probe.html")
        probe.write_text(out.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
        run = _run_browser(browser, tmp_path / "profile", "--virtual-time-budget=20000", "--dump-dom",
                           probe.resolve().as_uri())
        found = re.search(r'<pre id="wavediff-check">(.*?)</pre>', run.stdout, re.S)
        assert found, f"no page dumped (rc {run.returncode}): {run.stderr[-2000:]}"
        assert found.group(1) != "pending", "the check script never ran"
        result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))

        report = json.loads((report_dir / "report.json").read_text(), parse_constant=float)
        wavs = [w for r in report["rows"] for w in r.get("audio", [])] + [r["audio"] for r in report["references"]]
        assert len(result["audio"]) == len(wavs)
        true = sf.info(str(report_dir / wavs[0])).duration
        assert abs(true - SECONDS) < 1e-3
        for clip in result["audio"]:
            assert clip["error"] is None and clip["ready"] >= 1, clip
            assert clip["duration"] is not None and abs(clip["duration"] - true) < 0.01, clip
        assert len(result["img"]) == len(wavs) + len(report["plots"])
        for img in result["img"]:
            assert img["complete"] and img["width"] > 0, img

        for width, height in ((1280, 2000), (390, 1600)):
            shot = tmp_path / f"shot-{width}.png"
            run = _run_browser(browser, tmp_path / "profile", "--virtual-time-budget=5000",
                               f"--window-size={width},{height}", f"--screenshot={shot}", out.resolve().as_uri())
            assert shot.is_file(), f"no screenshot (rc {run.returncode}): {run.stderr[-2000:]}"
            assert _png_size(shot) == (width, height)
            assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    finally:
        if not embed:
            for name in ("linked.html", "probe.html"):
                (report_dir / name).unlink(missing_ok=True)
