"""Smooth background fits and robust statistics."""
from __future__ import annotations

import numpy as np
import pytest

from diffim_zogy.background import smoothBackground
from diffim_zogy.statistics import clippedMean, sampleGood


def test_smooth_background_follows_a_curved_sky_around_masked_regions():
    rng = np.random.default_rng(2)
    height, width = 768, 1024
    yy, xx = np.mgrid[:height, :width]
    sky = 30.0 * xx / width + 20.0 * (yy / height) ** 2 - 10.0 * (xx / width) * (yy / height)
    image = (sky + rng.normal(0.0, 10.0, sky.shape)).astype(np.float32)
    sources = rng.integers(0, image.size, 300)
    image.flat[sources] += 5000.0
    good = np.ones(image.shape, dtype=bool)
    good[:48] = False
    good[:, :64] = False
    good[300:500, 400:700] = False
    background = smoothBackground(image, good, 256)
    assert background.dtype == np.float32
    # Without noise the spline (cubic along x, quadratic along y here) is exact, even
    # though the masks move the bins' centroids.
    exact = smoothBackground(sky.astype(np.float32), good, 256)
    assert np.max(np.abs(exact - sky)) < 0.05
    # Bin means of ~65000 pixels have errors of 10 / 256 = 0.04; the spline's end
    # pieces amplify them towards the image corners.
    error = np.abs(background - sky)
    assert np.max(error[good]) < 0.6
    assert np.max(error[300:500, 400:700]) < 0.2
    assert np.median(error) < 0.08


def test_smooth_background_of_an_image_smaller_than_two_bins_is_a_plane():
    """Two bins per axis at least: a sky gradient across a small image is followed
    (one bin would leave it: on a starless 256-px pair with a 5% gradient that gave 7
    false 5-sigma diaSources; a constant level is still a constant)."""
    flat = np.full((40, 50), 7.0, dtype=np.float32)
    assert smoothBackground(flat, np.ones(flat.shape, dtype=bool), 256) == pytest.approx(
        np.full(flat.shape, 7.0))
    yy, xx = np.mgrid[:256, :256]
    plane = (1000.0 + 0.2 * xx + 0.1 * yy).astype(np.float32)
    background = smoothBackground(plane, np.ones(plane.shape, dtype=bool), 256)
    assert np.max(np.abs(background - plane)) < 0.05
    nothing = smoothBackground(flat, np.zeros(flat.shape, dtype=bool), 256)
    assert np.all(nothing == 0.0)


def test_clipped_mean_ignores_outliers():
    rng = np.random.default_rng(3)
    values = rng.normal(100.0, 5.0, 20_000)
    values[:500] = 1e5
    values[500:510] = np.nan
    assert clippedMean(values) == pytest.approx(100.0, abs=0.2)
    assert np.isnan(clippedMean(np.array([np.nan])))


def test_sample_good_subsamples_large_images():
    image = np.arange(2000 * 2000, dtype=np.float32).reshape(2000, 2000)
    good = np.ones(image.shape, dtype=bool)
    good[:, :1000] = False
    sample = sampleGood(image, good, maxSamples=250_000)
    assert sample.size == 500 * 250   # every 4th row and column
    assert np.all(sample % 2000 >= 1000)
