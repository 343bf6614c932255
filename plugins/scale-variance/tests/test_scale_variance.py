"""The variance scale factor on white noise with right, wrong and partly masked variance planes."""
import numpy as np
import pytest

from diffim import plugins
from diffim.errors import DiffimError, InputError
from diffim_scale_variance import IqrScaleVariance, IqrScaleVarianceConfig

NOISE = 10.0
SHAPE = (512, 512)


def factor(exposure, **overrides):
    config = IqrScaleVarianceConfig(**overrides)
    config.freeze()
    return IqrScaleVariance().diffim_scaleVariance(exposure=exposure, config=config).factor


def test_entry_point_and_defaults():
    assert plugins.load("scaleVariance", "iqr") is IqrScaleVariance
    config = IqrScaleVarianceConfig()
    assert config.maskPlanes == ("DETECTED", "DETECTED_NEGATIVE", "BAD", "SAT", "NO_DATA",
                                 "INTRP")
    assert config.limit == 10.0 and config.binSize == 32


@pytest.mark.parametrize("varianceScale", [1.0, 0.25, 2.0])
def test_factor_is_the_ratio_of_true_to_recorded_variance(makeNoise, varianceScale):
    exposure = makeNoise(SHAPE, NOISE, varianceScale, np.random.default_rng(1))
    image, variance, mask = (exposure.image.copy(), exposure.variance.copy(),
                             exposure.mask.copy())
    assert factor(exposure) == pytest.approx(1.0 / varianceScale, rel=0.05)
    np.testing.assert_array_equal(exposure.image, image)
    np.testing.assert_array_equal(exposure.variance, variance)
    np.testing.assert_array_equal(exposure.mask, mask)


def test_masked_and_detected_pixels_are_ignored(makeNoise):
    rng = np.random.default_rng(2)
    exposure = makeNoise(SHAPE, NOISE, 0.25, rng)
    reference = factor(exposure.clone())
    bright = np.zeros(SHAPE, bool)
    bright[100:300, 150:350] = True
    exposure.image[bright] = 1e4 + rng.normal(0.0, 30 * NOISE, bright.sum())
    exposure.image[120:130, 160:170] = np.nan
    unmasked = factor(exposure.clone(), limit=1e6)
    assert unmasked > 2 * reference
    for plane in ("DETECTED", "DETECTED_NEGATIVE", "SAT", "NO_DATA"):
        masked = exposure.clone()
        masked.setMask(bright, plane)
        assert factor(masked) == pytest.approx(reference, rel=0.02)
    notListed = exposure.clone()
    notListed.setMask(bright, "CR")
    assert factor(notListed, limit=1e6) == pytest.approx(unmasked, rel=0.02)
    assert factor(notListed, maskPlanes=["CR"]) == pytest.approx(reference, rel=0.02)


def test_background_bins_remove_large_scale_structure(makeNoise):
    exposure = makeNoise(SHAPE, NOISE, 1.0, np.random.default_rng(3))
    y, x = np.mgrid[:SHAPE[0], :SHAPE[1]]
    exposure.image += (10 * NOISE * np.sin(2 * np.pi * x / 512) * np.cos(2 * np.pi * y / 400)
                       ).astype(np.float32)
    assert factor(exposure, binSize=32) == pytest.approx(1.0, rel=0.05)
    assert factor(exposure, binSize=512, limit=1e6) > 10.0


def test_image_based_fallback_when_a_few_variances_are_absurd(makeNoise):
    # 40% of the pixels carry a variance 10^4 times too small: the pixel-based factor is about
    # 4, above a limit of 2; the image-based one uses the median variance and gives 1.
    rng = np.random.default_rng(4)
    exposure = makeNoise(SHAPE, NOISE, 1.0, rng)
    tiny = rng.uniform(size=SHAPE) < 0.4
    exposure.variance[tiny] *= 1e-4
    assert factor(exposure, limit=10.0) == pytest.approx(4.0, rel=0.15)
    assert factor(exposure, limit=2.0) == pytest.approx(1.0, rel=0.05)


def test_unusable_variance_plane_raises(makeNoise):
    exposure = makeNoise(SHAPE, NOISE, 0.05, np.random.default_rng(5))
    with pytest.raises(InputError, match="limit 10"):
        factor(exposure)
    assert factor(exposure, limit=25.0) == pytest.approx(20.0, rel=0.05)
    assert issubclass(InputError, DiffimError)


def test_too_few_good_pixels_give_one_and_bad_inputs_are_user_errors(makeNoise):
    exposure = makeNoise((64, 64), NOISE, 0.25, np.random.default_rng(6))
    allBad = exposure.clone()
    allBad.setMask(np.ones(allBad.shape, bool), "BAD")
    allBad.mask[0, 0] = 0
    assert factor(allBad) == 1.0
    exposure.variance = None
    with pytest.raises(InputError, match="variance"):
        factor(exposure)
    noise = makeNoise((64, 64), NOISE, 1.0, np.random.default_rng(7))
    assert factor(noise, maskPlanes=["GHOST"]) == factor(noise, maskPlanes=[])
    flat = makeNoise((64, 64), 0.0, 1.0, np.random.default_rng(8))
    flat.variance[:] = 1.0
    with pytest.raises(InputError, match="scatter|noise"):
        factor(flat)


@pytest.fixture(scope="module")
def crowdedPair():
    from diffim.testing.simulate import simulatePair
    science, template, _ = simulatePair(size=512, nStars=600, nTransients=0, seed=2)
    return science, template


@pytest.mark.parametrize("role", [0, 1], ids=["science", "template"])
def test_crowded_frame_measures_the_noise_on_its_quietest_pixels(crowdedPair, role):
    # DETECTED covers all but 1 pixel in 1600 (164 pixels, below minPixels): the factor
    # comes from the quarter of all pixels farthest from the stars.
    exposure = crowdedPair[role].clone()
    exposure.variance /= np.float32(1.5)
    detected = np.ones(exposure.shape, bool)
    detected[::40, ::40] = False
    exposure.setMask(detected, "DETECTED")
    config = IqrScaleVarianceConfig()
    config.freeze()
    result = IqrScaleVariance().diffim_scaleVariance(exposure=exposure, config=config)
    assert result.estimator == "sourceRejected"
    assert result.nPixels == pytest.approx(0.25 * exposure.image.size, rel=0.02)
    assert result.factor == pytest.approx(1.5, rel=0.05)
    # the interquartile width of the same pixels is thrown by the stars
    assert factor(exposure, maskPlanes=[]) > 1.8


def test_too_few_usable_pixels_leave_one_with_a_warning(makeNoise, caplog):
    exposure = makeNoise((64, 64), NOISE, 0.25, np.random.default_rng(9))
    bad = np.ones(exposure.shape, bool)
    bad[:10, :50] = False
    exposure.setMask(bad, "BAD")
    config = IqrScaleVarianceConfig()
    config.freeze()
    with caplog.at_level("WARNING", logger="diffim.scaleVariance"):
        result = IqrScaleVariance().diffim_scaleVariance(exposure=exposure, config=config)
    assert (result.factor, result.nPixels, result.estimator) == (1.0, 500, "none")
    assert "only 500 usable pixels (minPixels 1000" in caplog.text
