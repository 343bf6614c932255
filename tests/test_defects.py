"""Scattered bad pixels (NaN in about 5 % of a frame, singly and in small clusters)."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.defects import interpolateDefects
from diffim.errors import DiffimError
from diffim.exposure import Exposure
from diffim.psf import GaussianPsf
from diffim.matching import matchPixels
from diffim.pipeline import load_pipeline
from diffim.sanitize import sanitize
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair
from scipy import ndimage

from paths import PIPELINES


def _spoil(exposure, rng, fraction=0.05):
    """NaN in ``fraction`` of the pixels: 60 % single pixels, 40 % in clusters of up to 9."""
    spoilt = exposure.clone()
    bad = rng.random(spoilt.shape) < 0.6 * fraction
    seeds = rng.random(spoilt.shape) < 0.4 * fraction / 5
    bad |= ndimage.binary_dilation(seeds) & (rng.random(spoilt.shape) < 0.6)
    spoilt.image[bad] = np.nan
    return spoilt


def test_small_groups_are_filled_and_large_ones_kept():
    rng = np.random.default_rng(2)
    exposure = Exposure(image=rng.normal(100.0, 1.0, (64, 64)).astype(np.float32),
                        variance=np.full((64, 64), 1.0, np.float32), psf=GaussianPsf(1.5))
    exposure.image[10, 10] = np.nan                        # a single pixel
    exposure.image[30:33, 30:33] = np.nan                  # a 3x3 cluster
    exposure.image[50:60, 5:60] = np.nan                   # a large region
    clean = sanitize(exposure, "science")
    assert interpolateDefects(clean, maxArea=9) == 10
    assert not clean.maskedPixels("NO_DATA")[10, 10] and clean.maskedPixels("INTRP")[31, 31]
    assert clean.image[31, 31] == pytest.approx(100.0, abs=1.0)
    assert clean.maskedPixels("NO_DATA")[50:60, 5:60].all()
    assert clean.variance[31, 31] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def spoilt():
    science, template, truth = simulatePair(size=768, seed=7, nTransients=25)
    rng = np.random.default_rng(1)
    return _spoil(science, rng), _spoil(template, rng), truth


@pytest.mark.parametrize("pipeline", ["default.yaml", "zogy.yaml"])
def test_both_algorithms_subtract_a_pair_with_five_percent_bad_pixels(spoilt, pipeline):
    science, template, truth = spoilt
    result = ImageDifferenceTask(config=load_pipeline(PIPELINES / pipeline)).run(
        exposure=science, templateExposure=template)
    quality = result.metadata["quality"]
    assert quality["validFraction"] >= 0.9
    assert quality["noiseRatio"] == pytest.approx(1.0, abs=0.05)
    assert quality["status"] == "ok", quality["reasons"]
    assert result.metadata["scienceDefectPixelsFilled"] > 0.03 * 768 ** 2
    sources = result.diaSources
    real = matchPixels(sources["x"], sources["y"], truth["x"], truth["y"], 3.0)
    false = np.ones(len(sources), dtype=bool)
    false[real.index1] = False
    # the false ones are interpolations over star cores, and say so
    assert np.asarray(sources["pixelFlags_interpolated"])[false].all()
    # a third of the transients have a bad pixel in their 3x3 core; nearly all are found
    transients = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] >= 10)]
    found = matchPixels(transients["x"], transients["y"], sources["x"], sources["y"], 3.0)
    assert len(set(found.index1)) >= 0.85 * len(transients)


def test_without_filling_no_run_reports_success(spoilt):
    science, template, _ = spoilt
    with pytest.raises(DiffimError, match="0 with clean stamps"):
        ImageDifferenceTask(config=load_pipeline(
            PIPELINES / "default.yaml", overrides=["doInterpolateDefects=false"])).run(
            exposure=science, templateExposure=template)
    result = ImageDifferenceTask(config=load_pipeline(
        PIPELINES / "zogy.yaml", overrides=["doInterpolateDefects=false"])).run(
        exposure=science, templateExposure=template)
    assert result.metadata["quality"]["status"] == "suspect"
    assert "of the difference holds data" in result.metadata["quality"]["reasons"][0]
