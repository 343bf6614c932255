"""The default pipeline on a simulated 2048² pair: the foundation's acceptance numbers.

Science seeing is 1.3× the template's and the template grid is offset by a
fraction of a pixel (the task warps it with the WCS).
"""
from __future__ import annotations

import numpy as np
import pytest

from diffim.pipeline import load_pipeline
from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask

from paths import PIPELINES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair():
    return simulatePair(size=2048, seeingRatio=1.3, offset=(0.3, 0.2), nTransients=60, seed=11)


@pytest.fixture(scope="module")
def run(pair):
    science, template, truth = pair
    before = [(e.image.copy(), e.mask.copy(), e.variance.copy()) for e in (science, template)]
    config = load_pipeline(PIPELINES / "default.yaml")
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)
    return result, before


def _source_free(difference, truth, science) -> np.ndarray:
    """Pixels far from every simulated object and not masked."""
    fwhm = science.psf.fwhm()
    free = ~difference.maskedPixels("NO_DATA", "EDGE", "SAT", "BAD")
    yy, xx = np.ogrid[:difference.height, :difference.width]
    radius = int(np.ceil(4 * fwhm))
    for x, y in zip(truth["x"], truth["y"]):
        x0, y0 = int(round(x)), int(round(y))
        ys = slice(max(y0 - radius, 0), y0 + radius + 1)
        xs = slice(max(x0 - radius, 0), x0 + radius + 1)
        free[ys, xs] &= (yy[ys] - y) ** 2 + (xx[:, xs] - x) ** 2 > radius ** 2
    return free


def test_difference_noise_matches_its_variance(pair, run):
    science, _, truth = pair
    difference = run[0].subtractedExposure
    free = _source_free(difference, truth, science)
    assert free.mean() > 0.3
    z = difference.image[free] / np.sqrt(difference.variance[free])
    robust = 1.4826 * np.median(np.abs(z - np.median(z)))
    assert abs(robust - 1.0) < 0.10, robust
    assert abs(np.median(z)) < 0.05


def test_bright_transients_are_detected(pair, run):
    _, _, truth = pair
    sources = run[0].diaSources
    transients = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] >= 10)]
    assert len(transients) >= 20
    positive = sources[sources["isPositive"]]
    found = 0
    for t in transients:
        d = np.hypot(positive["x"] - t["x"], positive["y"] - t["y"])
        found += bool(d.size and d.min() < 2.0)
    assert found / len(transients) >= 0.90, (found, len(transients))


def test_detected_transients_have_right_flux_and_position(pair, run):
    _, _, truth = pair
    sources = run[0].diaSources
    transients = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] >= 20)]
    pulls, offsets = [], []
    for t in transients:
        d = np.hypot(sources["x"] - t["x"], sources["y"] - t["y"])
        i = int(np.argmin(d))
        if d[i] < 2.0:
            offsets.append(d[i])
            pulls.append((sources["psfFlux"][i] - t["scienceFlux"]) / sources["psfFluxErr"][i])
    assert np.median(offsets) < 0.3
    assert abs(np.median(pulls)) < 1.0


def test_bright_static_stars_leave_under_one_percent(pair, run):
    science, _, truth = pair
    difference = run[0].subtractedExposure
    radius = 1.5 * science.psf.fwhm()
    stars = truth[(truth["kind"] == "star") & (truth["differenceSnr"] > 200)]
    stars = stars[(stars["x"] > 50) & (stars["x"] < 1998) & (stars["y"] > 50) & (stars["y"] < 1998)]
    bad = difference.bitmask("SAT", "NO_DATA", "EDGE")
    fractions = []
    yy, xx = np.mgrid[-12:13, -12:13]
    for s in stars:
        x0, y0 = int(round(s["x"])), int(round(s["y"]))
        cut = (slice(y0 - 12, y0 + 13), slice(x0 - 12, x0 + 13))
        if difference.mask[cut].any() and (difference.mask[cut] & bad).any():
            continue
        aperture = (yy + y0 - s["y"]) ** 2 + (xx + x0 - s["x"]) ** 2 <= radius ** 2
        fractions.append(abs(difference.image[cut][aperture].sum()) / s["scienceFlux"])
    assert len(fractions) >= 20
    assert np.median(fractions) < 0.01, np.median(fractions)
    assert np.percentile(fractions, 90) < 0.03


def test_false_detections_are_rare(pair, run):
    _, _, truth = pair
    sources = run[0].diaSources
    objects = truth[truth["kind"] != "star"]
    unmatched = 0
    for s in sources:
        d = np.hypot(objects["x"] - s["x"], objects["y"] - s["y"])
        if d.min() > 3.0:
            dstar = np.hypot(truth["x"] - s["x"], truth["y"] - s["y"]).min()
            unmatched += dstar > 3.0
    assert unmatched <= 4 * 4.2, unmatched  # ≤ 4 per 1000² px away from any object


def test_run_leaves_inputs_unmodified(pair, run):
    science, template, _ = pair
    for exposure, (image, mask, variance) in zip((science, template), run[1]):
        assert np.array_equal(exposure.image, image)
        assert np.array_equal(exposure.mask, mask)
        assert np.array_equal(exposure.variance, variance)


def test_difference_psf_and_metadata(pair, run):
    science, _, _ = pair
    result = run[0]
    assert result.subtractedExposure.psf is not None
    assert result.subtractedExposure.psf.fwhm() == pytest.approx(science.psf.fwhm(), rel=0.05)
    assert result.metadata["psfMatchingAlgorithm"] == "al"
    assert 0.5 < result.metadata["scaleDiffimVarianceFactor"] < 2.0
    assert result.warpedExposure.shape == science.shape
