"""The one sky estimator: sep's clipped mode on a mesh, masks and mesh size as parameters."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.background import backgroundModel, exposureSky, sourceMaskedBackground
from diffim.exposure import Exposure
from diffim.psf import GaussianPsf


def _curvedSky(shape=(768, 1024)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return 30.0 * xx / shape[1] + 20.0 * (yy / shape[0]) ** 2 - 10.0 * (xx / shape[1]) * (
        yy / shape[0])


def test_background_follows_a_curved_sky_under_stars_and_masks():
    rng = np.random.default_rng(2)
    sky = _curvedSky()
    image = (sky + rng.normal(0.0, 10.0, sky.shape)).astype(np.float32)
    image.flat[rng.integers(0, image.size, 3000)] += 5000.0      # bright pixels (stars)
    exclude = np.zeros(image.shape, dtype=bool)
    exclude[300:500, 400:700] = True
    image[exclude] = np.nan                                       # masked: any value
    model = backgroundModel(image, exclude, binSize=128)
    assert model.dtype == np.float32 and model.shape == image.shape
    error = np.abs(model - sky)
    # the mode of ~16000 pixels of noise 10 has an error near 0.15; the largest
    # errors (a quarter of the pixel noise) are where bins are mostly masked
    assert np.median(error) < 0.3 and np.max(error[~exclude]) < 3.0
    assert np.max(error[300:500, 400:700]) < 3.0


def test_background_of_a_small_image_has_at_least_the_requested_bins():
    """One 256-px bin on a 256² image would leave its gradient (false detections)."""
    yy, xx = np.mgrid[:256, :256]
    plane = (1000.0 + 0.2 * xx + 0.1 * yy).astype(np.float32)
    flat = backgroundModel(plane, None, binSize=256)
    followed = backgroundModel(plane, None, binSize=256, minBinsPerAxis=2)
    assert np.ptp(flat) < 1e-3
    assert np.max(np.abs(followed - plane)) < 0.25 * np.max(np.abs(flat - plane))
    nothing = backgroundModel(plane, np.ones(plane.shape, dtype=bool), binSize=64)
    assert np.all(nothing == 0.0)


def test_source_masked_background_is_not_raised_by_extended_sources():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:512, :512]
    image = 100.0 + rng.normal(0.0, 5.0, (512, 512))
    for x, y in rng.uniform(20, 492, (40, 2)):
        image += 400.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 6.0 ** 2))
    variance = np.full(image.shape, 25.0)
    exclude = np.zeros(image.shape, dtype=bool)
    once = backgroundModel(image, exclude, binSize=64)
    twice = sourceMaskedBackground(image, variance, exclude, binSize=64, grow=6)
    assert np.median(twice) == pytest.approx(100.0, abs=0.3)
    assert np.median(once) > np.median(twice)


def test_clipped_mean_is_less_noisy_than_the_mode_and_keeps_faint_source_light():
    rng = np.random.default_rng(8)
    sky = np.full((512, 512), 100.0)
    faint = rng.exponential(0.5, sky.shape) * (rng.random(sky.shape) < 0.2)  # unresolved light
    image = sky + faint + rng.normal(0.0, 5.0, sky.shape)
    mode = backgroundModel(image, None, binSize=64)
    mean = backgroundModel(image, None, binSize=64, statistic="mean")
    assert np.std(mean) < 0.6 * np.std(mode)
    assert np.mean(mean) == pytest.approx(100.0 + faint.mean(), abs=0.03)
    with pytest.raises(ValueError, match="unknown background statistic"):
        backgroundModel(image, None, statistic="median")


def test_a_mostly_masked_image_is_not_given_a_zero_sky():
    """sep drops bins with under half their pixels usable, and returns zeros when all are."""
    rng = np.random.default_rng(9)
    image = 600.0 + rng.normal(0.0, 18.0, (512, 512))
    exclude = rng.random(image.shape) < 0.7
    assert np.median(backgroundModel(image, exclude, binSize=64)) == pytest.approx(600.0, abs=1.0)


def test_source_masked_mode_in_a_crowded_field_measures_the_sky_among_the_stars():
    rng = np.random.default_rng(10)
    yy, xx = np.mgrid[:256, :256]
    image = np.full((256, 256), 600.0)
    for x, y in rng.uniform(0, 256, (900, 2)):              # sources cover most pixels
        image += 300.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.5 ** 2))
    image += rng.normal(0.0, 5.0, image.shape)
    sky = sourceMaskedBackground(image, np.full(image.shape, 25.0),
                                 np.zeros(image.shape, bool), binSize=64, grow=3)
    assert 600.0 < np.median(sky) < 700.0


def test_refined_mean_is_exact_for_a_smooth_sky_however_it_is_masked():
    """Bins whose usable pixels lie off-centre do not flatten the sky once refined."""
    sky = _curvedSky().astype(np.float32)
    exclude = np.zeros(sky.shape, dtype=bool)
    exclude[:48] = True
    exclude[:, :64] = True
    exclude[300:500, 400:700] = True
    once = backgroundModel(sky, exclude, binSize=256, filterSize=1, statistic="mean")
    refined = backgroundModel(sky, exclude, binSize=256, filterSize=1, statistic="mean",
                              refineRounds=5)
    assert np.max(np.abs(refined - sky)) < 0.05 < np.max(np.abs(once - sky))
    with pytest.raises(ValueError, match="refineRounds needs statistic='mean'"):
        backgroundModel(sky, exclude, refineRounds=1)


def test_exposure_sky_is_estimated_once_per_image_and_leaves_out_no_data():
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:512, :512]
    image = 100.0 + rng.normal(0.0, 5.0, (512, 512))
    for x, y in rng.uniform(20, 492, (60, 2)):
        image += 500.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2))
    image[:, :100] = 5000.0                                # a strip with no sky: NO_DATA
    exposure = Exposure(image=image.astype(np.float32),
                        variance=np.full(image.shape, 25.0, np.float32), psf=GaussianPsf(2.0))
    exposure.setMask(np.s_[:, :100], "NO_DATA")
    sky = exposureSky(exposure, 64)
    assert sky.dtype == np.float32 and not sky.flags.writeable
    assert np.median(sky[:, 100:]) == pytest.approx(100.0, abs=0.3)
    assert np.abs(sky - 100.0).max() < 3.0                 # the strip did not leak in
    assert exposureSky(exposure, 64) is sky                # the same pixels: kept
    assert exposureSky(exposure.clone(), 64) is sky        # same content, another object
    exposure.image[300:310, 300:310] += 1.0                # one change: estimated again
    again = exposureSky(exposure, 64)
    assert again is not sky
    np.testing.assert_allclose(again, sky, atol=0.1)
    assert exposureSky(exposure, 128) is not again         # other cells: estimated again
