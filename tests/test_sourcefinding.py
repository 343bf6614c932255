"""Finding sources: sep objects, the PSF matched filter, local maxima, isolation."""
from __future__ import annotations

import numpy as np
import pytest
import sep
from diffim import sourcefinding
from diffim.psf import gaussian_stamp
from diffim.sourcefinding import (extractObjects, footprintsTouching, isolated, localMaxima,
                                  matchedFilter, sourcePixels)


def _field(seed=1, n=60, size=400, sigma=2.0, noise=5.0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(20, size - 20, (2, n))
    flux = rng.uniform(2000, 20000, n)
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((size, size))
    for xi, yi, fi in zip(x, y, flux):
        image += fi / (2 * np.pi * sigma ** 2) * np.exp(-((xx - xi) ** 2 + (yy - yi) ** 2)
                                                       / (2 * sigma ** 2))
    return image + rng.normal(0, noise, image.shape), x, y, flux


def test_matched_filter_gives_the_psf_flux_and_its_signal_to_noise():
    sigma, noise = 2.0, 5.0
    image, x, y, flux = _field(sigma=sigma, noise=noise)
    variance = np.full(image.shape, noise ** 2)
    psf = gaussian_stamp(sigma, 21)
    filtered = matchedFilter(image, variance, np.zeros(image.shape, bool), psf)
    ix, iy = np.rint(x).astype(int), np.rint(y).astype(int)
    isolatedStars = isolated(x, y, flux, 15.0)
    # at the nearest pixel (up to 0.5 px off) the PSF flux loses at most exp(-0.5/4)
    ratio = filtered.flux[iy, ix][isolatedStars] / flux[isolatedStars]
    assert np.all((ratio > 0.85) & (ratio < 1.03))
    expected = flux * np.sqrt((psf ** 2).sum()) / noise
    snr = filtered.significance[iy, ix][isolatedStars] / expected[isolatedStars]
    assert np.all((snr > 0.85) & (snr < 1.03))
    # on pure noise the significance is unit normal
    blank = matchedFilter(np.random.default_rng(9).normal(0, noise, (300, 300)),
                          np.full((300, 300), noise ** 2), np.zeros((300, 300), bool), psf)
    assert np.std(blank.significance[20:-20, 20:-20]) == pytest.approx(1.0, abs=0.05)


def test_matched_filter_ignores_excluded_pixels():
    image, *_ = _field(seed=2)
    exclude = np.zeros(image.shape, bool)
    exclude[100:110, :] = True
    spoiled = image.copy()
    spoiled[exclude] = 1e9
    psf = gaussian_stamp(2.0, 21)
    variance = np.full(image.shape, 25.0)
    clean = matchedFilter(np.where(exclude, 0.0, image), variance, exclude, psf)
    masked = matchedFilter(spoiled, variance, exclude, psf)
    assert np.allclose(clean.significance, masked.significance, atol=1e-3)


def test_local_maxima_find_every_star_once():
    image, x, y, flux = _field(seed=3)
    px, py = localMaxima(image, threshold=50.0, separation=2)
    found = np.hypot(px[:, None] - x, py[:, None] - y).min(axis=0) < 1.0
    assert found.mean() > 0.95 and len(px) <= len(x) + 2


def test_isolation_by_neighbour_flux_and_distance():
    x = np.array([0.0, 5.0, 50.0, 52.0, np.nan])
    y = np.zeros(5)
    flux = np.array([100.0, 10.0, 100.0, 100.0, 1.0])
    assert list(isolated(x, y, flux, 10.0, maxFluxRatio=0.2)) == [True, False, False, False,
                                                                  False]
    assert list(isolated(x, y, flux, 10.0, maxFluxRatio=0.2, minSeparation=6.0)) == [
        False, False, False, False, False]
    assert list(isolated(x, y, flux, 1.0)) == [True, True, True, True, False]
    # two neighbours of 15 % each: together too bright, the brightest alone not
    x3, y3, f3 = np.array([0.0, 3.0, -3.0]), np.zeros(3), np.array([100.0, 15.0, 15.0])
    assert isolated(x3, y3, f3, 5.0, maxFluxRatio=0.2)[0] == False  # noqa: E712
    assert isolated(x3, y3, f3, 5.0, maxFluxRatio=0.2, combine="max")[0] == True  # noqa: E712


def test_extract_objects_with_segmentation():
    image, x, y, _ = _field(seed=4)
    objects = extractObjects(image, 5.0, noise=5.0, segmentation=True)
    assert len(objects) >= 0.9 * len(x) and objects.segmentation.max() == len(objects)
    assert objects.segmentation.dtype == np.int32


def test_source_pixels_are_every_object_whole():
    # a crowded field: blends that the deblender splits, and branches it drops
    image, _, _, _ = _field(seed=3, n=400, size=300)
    whole = extractObjects(image, 3.0, noise=5.0, deblendContrast=1.0, clean=False,
                           segmentation=True)
    split = extractObjects(image, 3.0, noise=5.0, segmentation=True)
    mask = sourcePixels(image, 3.0, noise=5.0)
    np.testing.assert_array_equal(mask, whole.segmentation > 0)
    assert len(split) > len(whole)
    assert not np.any((split.segmentation > 0) & ~mask)
    # no deblending asked for: the one threshold level used gives sep's 32-level answer
    catalog, segmentation = sep.extract(image.astype(np.float32), 3.0, err=5.0, minarea=5,
                                        deblend_nthresh=32, deblend_cont=1.0, clean=False,
                                        segmentation_map=True)
    np.testing.assert_array_equal(segmentation, whole.segmentation)
    np.testing.assert_array_equal(catalog["flux"], whole.catalog["flux"])


def test_an_object_larger_than_the_first_pixel_stack_is_still_found(monkeypatch):
    # a saturated blob of 40,000 pixels overflows a 10,000-pixel stack: the call is
    # repeated with room for every pixel, and finds what a large stack finds at once
    image, _, _, _ = _field(seed=4)
    image[50:250, 50:250] += 500.0
    reference = extractObjects(image, 5.0, noise=5.0, segmentation=True)
    monkeypatch.setattr(sourcefinding, "PIXEL_STACK", 10_000)
    objects = extractObjects(image, 5.0, noise=5.0, segmentation=True)
    assert objects.segmentation.max() >= 1 and (objects.segmentation > 0).sum() > 40_000
    np.testing.assert_array_equal(objects.segmentation, reference.segmentation)
    assert sep.get_extract_pixstack() == image.size


def test_footprints_touching_flagged_pixels():
    labels = np.zeros((20, 20), dtype=np.int32)
    labels[2:5, 2:5] = 1
    labels[10:13, 10:13] = 2
    labels[0:3, 15:18] = 3
    flagged = np.zeros((20, 20), dtype=bool)
    flagged[3, 3] = True          # inside 1
    flagged[14, 11] = True        # two pixels below 2
    assert list(footprintsTouching(labels, flagged, 3)) == [True, False, False]
    assert list(footprintsTouching(labels, flagged, 3, grow=2)) == [True, True, False]
    assert list(footprintsTouching(labels, flagged, 3, border=True)) == [True, False, True]


def test_local_maxima_within_footprints_equal_the_whole_image_search():
    image, *_ = _field(seed=7)
    within = image > 60.0
    whole = localMaxima(image, separation=1, exclude=~within)
    inside = localMaxima(image, separation=1, within=within)
    assert np.array_equal(whole[0], inside[0]) and np.array_equal(whole[1], inside[1])
    edge = np.zeros((5, 5))
    edge[0, 4] = 3.0
    assert localMaxima(edge, 1.0, within=edge > 0) == ([4], [0])
