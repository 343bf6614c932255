"""A subtract plugin that leaves optional result fields out runs through the default pipeline.

The steps that use a missing field skip it or fall back, each with one WARNING that names
the subtract plugin and the field (never blaming the step's own plugin), recorded in the
run metadata's ``degraded`` list; a plugin that declares it makes no matched image (ZOGY)
degrades nothing.
"""
from __future__ import annotations

import logging
import textwrap

import numpy as np
import pytest

from diffim.errors import PluginError
from diffim.pipeline import load_pipeline
from diffim.statistics import madSigma
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair
from fakeplugins import installSite, writeDistribution
from paths import PIPELINES

#: A convolving-the-science plugin that returns neither kernel nor convolved science.
SCIENCE_MATCH = '''
import numpy as np
from scipy import ndimage

from diffim.config import Config
from diffim.hookspecs import hookimpl
from diffim.results import SubtractionResult


class EmptyConfig(Config):
    """No fields."""


class ScienceMatch:
    """Widen the science PSF to the template's with a Gaussian; fit the template's scale."""

    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_subtract(self, science, template, config, convolveTemplate, kernelSources, rng):
        sigma = float(np.sqrt(template.psf.sigma() ** 2 - science.psf.sigma() ** 2))
        valid = ~template.maskedPixels("NO_DATA") & ~science.maskedPixels("NO_DATA")
        image = ndimage.gaussian_filter(np.where(valid, science.image, 0.0), sigma)
        variance = ndimage.gaussian_filter(np.where(valid, science.variance, 0.0),
                                           sigma / np.sqrt(2.0)) / (4.0 * np.pi * sigma ** 2)
        design = np.column_stack([template.image[valid], np.ones(valid.sum())])
        (scale, background), *_ = np.linalg.lstsq(design, image[valid], rcond=None)
        difference = science.clone()
        difference.image = (image - scale * template.image - background).astype(np.float32)
        difference.variance = (variance + scale ** 2 * template.variance).astype(np.float32)
        difference.mask = science.mask | template.mask
        difference.setMask(~valid, "NO_DATA")
        difference.psf = template.psf.copy()
        return SubtractionResult(subtractedExposure=difference, warpedExposure=template,
                                 convolvedScience=True, metadata={"scienceMatch.scale": scale})
'''


def _pair(**options):
    """512 pixels, 12 transients. Both test plugins fit one flux scale and one background
    over every pixel, so the sky is flat and no star saturates."""
    return simulatePair(size=512, nTransients=12, seed=3, skyGradient=0.0, saturation=1e9,
                        **options)


@pytest.fixture(scope="module")
def pair():
    return _pair()


@pytest.fixture(scope="module")
def degraded(pair):
    """The default pipeline with only subtract=gaussianMatch: its result and WARNINGs."""
    science, template, _ = pair
    handler = _Records()
    logging.getLogger("diffim").addHandler(handler)
    try:
        config = load_pipeline(PIPELINES / "default.yaml", overrides=["subtract=gaussianMatch"])
        result = ImageDifferenceTask(config=config).run(exposure=science,
                                                        templateExposure=template)
    finally:
        logging.getLogger("diffim").removeHandler(handler)
    return result, handler.warnings()


class _Records(logging.Handler):
    """Collects the records of a module-scoped run (caplog is per test)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def warnings(self) -> list[tuple[str, str]]:
        return [(r.name, r.getMessage()) for r in self.records]


def _about(warnings: list[tuple[str, str]], field: str) -> list[str]:
    return [message for _, message in warnings if f"returned no {field}" in message]


def test_missing_fields_are_named_once_with_the_plugin(degraded):
    result, warnings = degraded
    kernel, matched = _about(warnings, "psfMatchingKernel"), _about(warnings, "matchedExposure")
    assert kernel == ["decorrelation skipped: subtract plugin 'gaussianMatch' returned no "
                      "psfMatchingKernel (the difference keeps the noise correlation of its "
                      "matching)"]
    assert matched == ["dipole fit without the template: subtract plugin 'gaussianMatch' "
                       "returned no matchedExposure (the difference alone constrains the "
                       "negative lobes)"]
    assert all(name == "diffim.task" for name, message in warnings
               if "gaussianMatch" in message)
    assert result.metadata["degraded"] == matched + kernel
    # decorrelation was skipped; measurement (dipole fits included) ran, blamed for nothing
    assert "decorrelate" not in result.metadata["timing"]
    assert "measurement" in result.metadata["timing"]
    assert "ip_diffim_DipoleFit_flag_classificationAttempted" in result.diaSources.colnames
    assert not any("measurement plugin" in message for _, message in warnings)


def test_degraded_run_finds_the_transients(pair, degraded):
    result, _ = degraded
    _, _, truth = pair
    transients = truth[truth["kind"] == "transient"]
    sources = result.diaSources[~result.diaSources["sky_source"]] \
        if "sky_source" in result.diaSources.colnames else result.diaSources
    distance = np.hypot(sources["x"][:, None] - transients["x"][None, :],
                        sources["y"][:, None] - transients["y"][None, :])
    nearest = distance.min(axis=0)
    # a 5-sigma threshold finds every transient of S/N 7 and up, and most fainter ones
    found = nearest < 2.0
    assert found[transients["differenceSnr"] >= 7].all() and found.sum() >= 10
    bright = transients["differenceSnr"] >= 10
    assert np.median(nearest[bright]) < 0.3 and nearest[bright].max() < 0.6
    assert (sources["psfFlux"][distance.argmin(axis=0)] > 0).all()
    # what else is detected: the brightest stars' residuals and the frame's border, where
    # the example plugin's Gaussian smears the template's missing edge
    others = sources[distance.min(axis=1) >= 2.0]
    stars = truth[(truth["kind"] == "star") & (truth["differenceSnr"] > 300)]
    atStar = np.hypot(others["x"][:, None] - stars["x"][None, :],
                      others["y"][:, None] - stars["y"][None, :]).min(axis=1) < 2.0
    border = np.minimum(np.minimum(others["x"], others["y"]),
                        511 - np.maximum(others["x"], others["y"])) < 10
    assert (atStar | border).all() and atStar.sum() <= 2


def test_degraded_run_has_sane_noise_and_an_ok_verdict(degraded):
    result, _ = degraded
    difference = result.subtractedExposure
    empty = ~difference.maskedPixels("NO_DATA", "EDGE", "SAT", "BAD", "DETECTED",
                                     "DETECTED_NEGATIVE")
    z = difference.image[empty] / np.sqrt(difference.variance[empty])
    assert 0.95 < madSigma(z) < 1.05
    # the plugin's own variance plane, before the pipeline rescaled it to the noise
    assert 0.9 < madSigma(z) * np.sqrt(result.metadata["scaleDiffimVarianceFactor"]) < 1.1
    # the quality check measures what skipping decorrelation could spoil: the noise of the
    # PSF-filtered difference; here little correlation is left and the verdict is ok
    figures = result.quality.figures
    assert figures["filteredNoiseRatio"] < 1.1
    assert result.quality.status == "ok", result.quality.reasons


def test_a_matched_image_that_must_be_written_is_the_plugin_fault(pair):
    science, template, _ = pair
    config = load_pipeline(PIPELINES / "default.yaml",
                           overrides=["subtract=gaussianMatch", "doWriteMatchedExp=true"])
    with pytest.raises(PluginError, match=r"^subtract plugin 'gaussianMatch' \(from "
                                          r"diffim-example-subtract\): returned no "
                                          r"matchedExposure, which doWriteMatchedExp=True"):
        ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)


def test_a_plugin_declaring_no_matched_image_degrades_nothing(pair, caplog):
    science, template, _ = pair
    config = load_pipeline(PIPELINES / "zogy.yaml", overrides=["doWriteQuicklook=true"])
    with caplog.at_level(logging.WARNING, logger="diffim"):
        result = ImageDifferenceTask(config=config).run(exposure=science,
                                                        templateExposure=template)
    assert "degraded" not in result.metadata
    assert not any("returned no" in record.getMessage() for record in caplog.records)


@pytest.fixture
def scienceMatch(tmp_path, monkeypatch):
    """Install (on sys.path) a distribution with the ScienceMatch plugin."""
    writeDistribution(tmp_path, "fake-science-match", "0.1", textwrap.dedent("""\
        [diffim.subtract]
        scienceMatch = fake_science_match:ScienceMatch
        """), {"fake_science_match": SCIENCE_MATCH})
    yield from installSite(monkeypatch, tmp_path, ("fake_science_match",))


def test_science_convolved_without_the_convolved_image(scienceMatch, caplog):
    """Its dipole fits use the science image as given (before, measurement was handed
    None for it and failed on the movers' dipoles, reported as the measurement plugin's
    fault)."""
    science, template, truth = _pair(seeingRatio=0.75, nMovers=3)
    config = load_pipeline(PIPELINES / "default.yaml",
                           overrides=["subtract=scienceMatch", "doWriteQuicklook=true"])
    with caplog.at_level(logging.WARNING, logger="diffim.task"):
        result = ImageDifferenceTask(config=config).run(exposure=science,
                                                        templateExposure=template)
    notes = result.metadata["degraded"]
    assert notes == [
        "dipole fit on the unconvolved science image: subtract plugin 'scienceMatch' returned "
        "no matchedExposure (the convolved science image)",
        "pictures show the warped template: subtract plugin 'scienceMatch' returned no "
        "matchedExposure (doWriteQuicklook: the template is shown not PSF-matched)",
        "decorrelation skipped: subtract plugin 'scienceMatch' returned no psfMatchingKernel "
        "(the difference keeps the noise correlation of its matching)"]
    assert [r.getMessage() for r in caplog.records if "returned no" in r.getMessage()] == notes
    transients = truth[truth["kind"] == "transient"]
    sources = result.diaSources
    nearest = np.hypot(sources["x"][:, None] - transients["x"][None, :],
                       sources["y"][:, None] - transients["y"][None, :]).min(axis=0)
    found = nearest < 2.0
    assert found[transients["differenceSnr"] >= 7].all() and found.sum() >= 10
    # the movers' dipoles were fitted (with the science image constraining their lobes)
    assert sources["ip_diffim_DipoleFit_flag_classificationAttempted"].sum() >= 2
