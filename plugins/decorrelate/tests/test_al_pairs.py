"""Decorrelation of real ``al`` subtractions of simulated pairs, and the plugin contract."""
from __future__ import annotations

import numpy as np
import pytest
from decorrelate_testing import autocorrelation, decorrelate, makeNoisePair

from diffim import Exposure, plugins
from diffim.errors import InputError
from diffim.results import SubtractionResult
from diffim.sanitize import sanitize
from diffim.statistics import iqrSigma
from diffim.testing.simulate import simulatePair

from diffim_decorrelate import DecorrelateALKernel, DecorrelateALKernelConfig

AlardLuptonSubtraction = plugins.load("subtract", "al")
ImagePsfMatchConfig = AlardLuptonSubtraction.ConfigClass


class Subtracted:
    """A simulated pair (template on the science grid), its al subtraction and its truth."""

    def __init__(self, size: int, convolveTemplate: bool, seed: int, **simulation) -> None:
        science, template, self.truth = simulatePair(size=size, offset=(0.0, 0.0),
                                                     nTransients=10, seed=seed, **simulation)
        self.science = sanitize(science, "science")
        self.template = sanitize(template, "template")
        config = ImagePsfMatchConfig()
        config.freeze()
        self.subtraction = AlardLuptonSubtraction().diffim_subtract(
            self.science, self.template, config, convolveTemplate, None,
            np.random.default_rng(0))

    @property
    def difference(self) -> Exposure:
        return self.subtraction.subtractedExposure

    def sourceFree(self, radius: float) -> np.ndarray:
        """Finite difference pixels farther than ``radius`` from every simulated source."""
        free = np.isfinite(self.difference.image)
        height, width = free.shape
        r = int(np.ceil(radius))
        for x, y in zip(self.truth["x"], self.truth["y"]):
            x0, x1 = max(int(x) - r, 0), min(int(x) + r + 2, width)
            y0, y1 = max(int(y) - r, 0), min(int(y) + r + 2, height)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            free[y0:y1, x0:x1] &= np.hypot(xx - x, yy - y) > radius
        return free


@pytest.fixture(scope="module")
def templateConvolved():
    return Subtracted(512, True, seed=11)


@pytest.fixture(scope="module")
def scienceConvolved():
    """The template has the wider PSF (seeing ratio 0.75), so the science image is convolved."""
    return Subtracted(512, False, seed=12, seeingRatio=0.75)


@pytest.fixture(scope="module")
def varyingPsf():
    """1024 px with both PSFs 30% wider in one corner than in the opposite one."""
    return Subtracted(1024, True, seed=13, psfVariation=0.3)


def _run(pair: Subtracted, spatiallyVarying: bool = False) -> Exposure:
    config = DecorrelateALKernelConfig()
    config.freeze()
    return DecorrelateALKernel().diffim_decorrelate(pair.science, pair.template,
                                                    pair.subtraction, config, spatiallyVarying,
                                                    None)


def _normalisedNoise(exposure: Exposure, where: np.ndarray) -> float:
    return iqrSigma((exposure.image / np.sqrt(exposure.variance))[where])


@pytest.mark.parametrize("name", ["templateConvolved", "scienceConvolved"])
def test_normalised_noise_is_one(request, name):
    pair = request.getfixturevalue(name)
    after = _run(pair)
    free = pair.sourceFree(3.0 * pair.difference.psf.fwhm())
    assert free.mean() > 0.5
    assert _normalisedNoise(after, free) == pytest.approx(1.0, abs=0.05)
    assert after.psf.sigma() < pair.difference.psf.sigma()


def test_science_convolved_noise_is_decorrelated(scienceConvolved):
    """Convolving the science image correlates the difference's noise; the filter undoes it."""
    pair = scienceConvolved
    free = pair.sourceFree(3.0 * pair.difference.psf.fwhm())
    before = np.where(free, pair.difference.image, np.nan)
    after = np.where(free, _run(pair).image, np.nan)
    assert autocorrelation(before, 1) > 0.1
    for lag in (1, 2, 3):
        assert abs(autocorrelation(after, lag)) < 0.03


def test_varying_psf_with_spatial_grid(varyingPsf):
    """Normalised noise is one in every quadrant; the output PSF varies like the input's."""
    pair = varyingPsf
    after = _run(pair, spatiallyVarying=True)
    free = pair.sourceFree(3.0 * pair.difference.psf.fwhm())
    half = pair.difference.shape[0] // 2
    for rows in (slice(0, half), slice(half, None)):
        for cols in (slice(0, half), slice(half, None)):
            assert _normalisedNoise(after, _only(free, rows, cols)) == pytest.approx(1.0, abs=0.05)
    low, high = after.psf.sigma(0, 0), after.psf.sigma(1023, 1023)
    assert high > 1.15 * low
    assert high < pair.difference.psf.sigma(1023, 1023)


def _only(where: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    selected = np.zeros_like(where)
    selected[rows, cols] = where[rows, cols]
    return selected


def test_entry_point_loads():
    assert plugins.load("decorrelate", "al") is DecorrelateALKernel


def test_missing_kernel_is_an_input_error():
    pair = makeNoisePair(64)
    pair.subtraction.psfMatchingKernel = None
    with pytest.raises(InputError, match="PSF-matching kernel"):
        decorrelate(pair)


def test_shape_mismatch_is_an_input_error():
    pair = makeNoisePair(64)
    small = Exposure(image=np.zeros((32, 32)), variance=np.ones((32, 32)))
    subtraction = SubtractionResult(subtractedExposure=pair.difference, warpedExposure=small,
                                    psfMatchingKernel=pair.subtraction.psfMatchingKernel)
    config = DecorrelateALKernelConfig()
    with pytest.raises(InputError, match="template exposure has shape"):
        DecorrelateALKernel().diffim_decorrelate(pair.science, small, subtraction, config, False,
                                                 None)


def test_an_ignored_plane_the_inputs_lack_counts_as_empty():
    pair = makeNoisePair(64)
    absent = decorrelate(pair, ignoreMaskPlanes=["SAT", "SATURATED"])
    plain = decorrelate(pair, ignoreMaskPlanes=["SAT"])
    np.testing.assert_array_equal(absent.image, plain.image)


def test_template_without_usable_variance_leaves_the_difference():
    pair = makeNoisePair(64)
    pair.template.setMask(np.ones((64, 64), dtype=bool), "NO_DATA")
    after = decorrelate(pair)
    np.testing.assert_array_equal(after.image, pair.difference.image)
    np.testing.assert_array_equal(after.variance, pair.difference.variance)
    assert after.psf.sigma() == pytest.approx(pair.difference.psf.sigma())
    assert after is not pair.difference


def test_ignored_planes_set_the_filter():
    """Pixels in DETECTED (60% here, variance 10x) are left out of the mean variance."""
    plain = makeNoisePair(128, scienceVariance=0.04, templateVariance=0.2)
    masked = makeNoisePair(128, scienceVariance=0.04, templateVariance=0.2)
    detected = np.zeros((128, 128), dtype=bool)
    detected[:77] = True
    masked.science.variance[detected] = 0.4
    masked.science.setMask(detected, "DETECTED")
    reference = decorrelate(plain).psf.at(0, 0)
    np.testing.assert_allclose(decorrelate(masked).psf.at(0, 0), reference, atol=1e-12)
    counted = decorrelate(masked, ignoreMaskPlanes=["NO_DATA"]).psf.at(0, 0)
    assert np.abs(counted - reference).max() > 1e-4
