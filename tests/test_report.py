"""report.html: one offline page with the run's verdict, figures, timings, pictures and config."""
from __future__ import annotations

import base64
import copy
import io
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from matplotlib.image import imread

from diffim.cli import main
from diffim.errors import OutputError
from diffim.report import writeReport

from paths import PIPELINES

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOSTILE = "<script>alert(1)</script>"

#: The section ids in the order the page must show them.
ORDER = ["summary", "quicklook-section", "quality", "kernel", "control", "timing",
         "gallery-section", "provenance-section", "outputs-section", "config"]


class Page(HTMLParser):
    """What the tests read from the page: links, images, texts by id, tags, element order."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []     # (tag, attribute, value)
        self.images: dict[str, str] = {}                 # id -> src
        self.texts: dict[str, str] = {}                  # id -> text inside
        self.ids: list[str] = []
        self.tags: set[str] = set()
        self.styles: list[str] = []
        self._open: list[tuple[str, str | None]] = []    # the open elements (tag, id)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        for name in ("src", "href", "action", "poster", "data"):
            if name in attrs:
                self.links.append((tag, name, attrs[name] or ""))
        if "style" in attrs:
            self.styles.append(attrs["style"] or "")
        ident = attrs.get("id")
        if ident:
            self.ids.append(ident)
            self.texts[ident] = ""
        if tag == "img":
            self.images[ident] = attrs.get("src", "")
        elif tag not in ("meta", "br", "hr", "link", "input"):
            self._open.append((tag, ident))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, ident in self._open:
            if ident:
                self.texts[ident] += data


@pytest.fixture(scope="module")
def run(pair, tmp_path_factory):
    """A real run (with sky sources, quicklook and gallery) and its metadata record."""
    out = tmp_path_factory.mktemp("run")
    assert main(["run", str(PIPELINES / "default.yaml"), "--science", str(pair["science"]),
                 "--template", str(pair["template"]), "-o", str(out), "--quicklook",
                 "--cutouts", "-c", "doSkySources=true", "--overwrite"]) == 0
    record = yaml.safe_load((out / "metadata.yaml").read_text())
    pictures = {kind: (out / f"{kind}.png").read_bytes() for kind in ("quicklook", "gallery")}
    return out, record, pictures


@pytest.fixture(scope="module")
def report(run, tmp_path_factory):
    """The report of the run, with user text holding markup in its inputs and config."""
    _, record, pictures = run
    record = copy.deepcopy(record)
    record["inputs"]["science"] = f"/data/{HOSTILE}/science.fits"
    record["config"]["coaddName"] = HOSTILE
    record["metadata"]["ALCandidateSource"] = HOSTILE     # a plugin's own text
    record["summary"]["reasons"] = record["summary"]["reasons"] + [HOSTILE]
    path = writeReport(tmp_path_factory.mktemp("report") / "report.html", record, pictures)
    return path, record, path.read_text(encoding="utf-8")


def _png(uri: str):
    """The image a ``data:image/png;base64,`` URI holds, decoded."""
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data, imread(io.BytesIO(data), format="png")


def test_page_loads_nothing_from_outside(report):
    path, _, text = report
    page = Page(text)
    assert page.links, "the page has no src/href at all: the parser saw nothing"
    for tag, name, value in page.links:
        assert value.startswith("data:") or value.startswith("#"), (tag, name, value[:80])
        if value.startswith("#"):
            assert value[1:] in page.ids, f"link to a missing section {value}"
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    for style in page.styles + re.findall(r"<style>(.*?)</style>", text, re.S):
        assert "url(" not in style and "@import" not in style
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", text, re.I)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]   # no temporary left


def test_verdict_counts_and_noise_are_the_records(report):
    _, record, text = report
    page, summary = Page(text), record["summary"]
    assert page.texts["status"].strip() == summary["status"] == "suspect"
    assert summary["reasons"] and page.texts["reasons"].strip() == "; ".join(summary["reasons"])
    assert page.texts["quality-status"] == record["metadata"]["quality"]["status"] == "suspect"
    assert float(page.texts["noiseRatio"]) == pytest.approx(summary["noiseRatio"], abs=5e-4)
    counts = {kind: int(page.texts[f"count-{kind}"])
              for kind in ("positive", "negative", "dipole", "sky")}
    assert counts == {"positive": summary["nPositive"], "negative": summary["nNegative"],
                      "dipole": summary["nDipoles"], "sky": summary["nSkySources"]}
    assert counts["sky"] > 0
    assert int(page.texts["count-total"]) == summary["nDiaSources"] == sum(counts.values())
    assert float(page.texts["wallSeconds"]) == pytest.approx(summary["wallSeconds"], abs=0.005)


def test_sections_in_order_with_the_runs_figures(report):
    _, record, text = report
    page = Page(text)
    positions = [page.ids.index(ident) for ident in ORDER]
    assert positions == sorted(positions)
    metadata = record["metadata"]
    kernel = page.texts["kernel-figures"]
    assert "ALKernelSum" in kernel and f"{metadata['ALKernelSum']:.6g}" in kernel
    assert "templateCoverage" in kernel and "detection.nSources" not in kernel
    assert "detection.nSources" in page.texts["other-metadata"]
    figures = page.texts["figures"]
    for key, value in metadata["quality"].items():
        if key not in ("status", "reasons", "metrics"):
            assert key in figures
    assert "(al)" in text and "No control-sample metrics" in text
    for key, value in record["provenance"].items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        assert f"{key}{shown}" in page.texts["provenance"]
    for kind, name in record["outputs"].items():
        assert kind in page.texts["outputs"] and name in page.texts["outputs"]


def test_time_bars_share_the_total(report):
    _, record, text = report
    timing = record["metadata"]["timing"]
    widths = [float(w) for w in re.findall(r'class="bar" style="width: ([\d.]+)%"', text)]
    assert len(widths) == len(timing)
    assert sum(widths) == pytest.approx(100.0, abs=0.1 * len(widths))
    total = sum(timing.values())
    for width, seconds in zip(widths, timing.values()):
        assert width == pytest.approx(100 * seconds / total, abs=0.06)


def test_pictures_are_embedded_whole(report, run):
    _, _, pictures = run
    page = Page(report[2])
    assert set(page.images) == {"quicklook", "gallery"}
    for kind, uri in page.images.items():
        data, image = _png(uri)
        assert data == pictures[kind]
        if kind == "quicklook":
            assert image.shape[:2] == (450, 1600)
        else:
            assert image.shape[:2] == imread(io.BytesIO(pictures[kind])).shape[:2]


def test_user_text_is_escaped(report):
    _, _, text = report
    assert HOSTILE not in text and "<script" not in text.lower()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # the inputs row, the summary's reasons, the kernel table and the config
    assert text.count(escaped) == 4
    page = Page(text)
    assert HOSTILE in page.texts["config-yaml"]       # shown as text, as the user wrote it
    assert HOSTILE in page.texts["kernel-figures"] and HOSTILE in page.texts["reasons"]


def test_missing_parts_are_said(run, tmp_path):
    _, record, _ = run
    bare = {key: value for key, value in record.items() if key not in ("outputs",)}
    bare["summary"] = {k: v for k, v in record["summary"].items() if k != "reasons"}
    bare["metadata"] = dict(record["metadata"], quality={
        **record["metadata"]["quality"],
        "metrics": {"KCDiffimStDev_LOCAL": 0.9879, "NFalsePositivesTotal": 37}})
    bare["metadata"]["controlSampleResidualRms"] = 0.859
    path = writeReport(tmp_path / "r.html", bare, {"gallery": b"not a png"})
    text = path.read_text()
    page = Page(text)
    assert page.images == {}
    assert "No quick look picture was made (run with --quicklook)" in text
    assert "gallery picture is not a PNG image" in text
    assert "no list of its outputs" in text
    # without summary reasons, those of the quality block are shown
    assert page.texts["reasons"].strip() == "; ".join(record["metadata"]["quality"]["reasons"])
    control = page.texts["control-metrics"]
    assert "KCDiffimStDev_LOCAL" in control and "0.9879" in control
    assert "controlSampleResidualRms" in control and "0.859" in control
    with pytest.raises(OutputError):
        writeReport(path, bare, {}, overwrite=False)
    assert path.read_text() == text


def test_kernel_section_follows_the_algorithm(tmp_path):
    record = {"summary": {"status": "ok", "noiseRatio": float("nan")}, "config": {},
              "metadata": {"psfMatchingAlgorithm": "zogy", "zogyFluxRatio": 3.6,
                           "ALKernelSum": 0.3, "alignmentOffset": 1.0,
                           "templateCoverage": 0.98, "detection.nSources": 4}}
    page = Page(writeReport(tmp_path / "z.html", record, {}).read_text())
    kernel, other = page.texts["kernel-figures"], page.texts["other-metadata"]
    assert "zogyFluxRatio" in kernel and "templateCoverage" in kernel
    assert "ALKernelSum" not in kernel and "alignmentOffset" not in kernel
    assert "ALKernelSum" in other and "detection.nSources" in other
    assert page.texts["noiseRatio"] == "not measured"
    assert int(page.texts["count-total"]) == 0


# --- the page in a real browser --------------------------------------------------------------

def _browser():
    """A headless Chromium driven by Selenium, isolated in a temporary profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        if os.environ.get("DIFFIM_REQUIRE_BROWSER"):
            pytest.fail(f"DIFFIM_REQUIRE_BROWSER is set but the browser is missing: {message}")
        pytest.skip(message)
    if os.environ.get("DIFFIM_REQUIRE_BROWSER"):
        from selenium import webdriver
    else:
        webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.TemporaryDirectory(prefix="diffim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", f"--user-data-dir={profile.name}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    return driver, profile


def test_report_renders_in_chromium(report):
    path, record, _ = report
    driver, profile = _browser()
    try:
        driver.get(path.resolve().as_uri())
        driver.execute_script("return document.readyState")
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []
        assert driver.title.startswith(f"diffim report: {record['summary']['status']}")
        assert driver.execute_script("return document.querySelector('h1').textContent") \
            == "diffim run report"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => "
            "[i.id, i.complete, i.naturalWidth, i.naturalHeight])")
        assert sorted(image[0] for image in images) == ["gallery", "quicklook"]
        for ident, complete, width, height in images:
            assert complete and width > 0 and height > 0, ident
        assert [image[2:] for image in images if image[0] == "quicklook"] == [[1600, 450]]
        shown = driver.execute_script(
            "return document.getElementById('count-total').textContent")
        assert int(shown) == record["summary"]["nDiaSources"]
        # the log is really read: an error the page makes now is seen
        driver.execute_script("console.error('diffim-probe')")
        probe = driver.get_log("browser")
        assert any("diffim-probe" in e["message"] and e["level"] == "SEVERE" for e in probe)
    finally:
        driver.quit()
        profile.cleanup()


def test_missing_browser_skips_unless_required(monkeypatch, tmp_path):
    monkeypatch.setitem(globals(), "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("DIFFIM_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _browser()
    monkeypatch.setenv("DIFFIM_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="DIFFIM_REQUIRE_BROWSER"):
        _browser()
