"""End-to-end numbers of the al subtraction on synthetic pairs."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from al_testing import apertureSum, makePair, sourceFree, subtract

from diffim import plugins
from diffim.errors import InputError, InsufficientKernelSourcesError
from diffim.results import MatchingKernel
from diffim.statistics import madSigma
from diffim_al import AlardLuptonSubtraction, SpatialMatchingKernel

APERTURE = 8.0


def robustNoise(exposure, truth, sigma):
    """MAD sigma of difference/sqrt(variance) over source-free, valid pixels, and its median."""
    z = exposure.image / np.sqrt(exposure.variance)
    use = sourceFree(exposure.shape, truth, 6.0 * sigma) & np.isfinite(z)
    centre = float(np.median(z[use]))
    return madSigma(z[use], centre), centre


def brightStars(truth, shape, margin, minFlux):
    """Non-variable stars brighter than ``minFlux``, ``margin`` pixels from the border."""
    keep = ((truth.scienceFlux >= minFlux) & (truth.x > margin) & (truth.y > margin)
            & (truth.x < shape[1] - margin) & (truth.y < shape[0] - margin))
    keep &= np.isclose(truth.scienceFlux, truth.fluxRatio * truth.templateFlux)
    return np.flatnonzero(keep)


def test_plugin_is_registered():
    assert plugins.load("subtract", "al") is AlardLuptonSubtraction


def test_noise_of_difference_matches_variance(pair, result):
    _, _, truth = pair
    noise, centre = robustNoise(result.subtractedExposure, truth, 1.3 * truth.templateSigma)
    assert noise == pytest.approx(1.0, abs=0.10)
    assert abs(centre) < 0.1


def test_kernel_sum_is_flux_ratio(pair, result):
    _, _, truth = pair
    assert result.psfMatchingKernel.kernelSum == pytest.approx(truth.fluxRatio, rel=0.01)
    assert result.metadata["ALKernelSum"] == result.psfMatchingKernel.kernelSum


def test_bright_stars_subtract_to_under_one_percent(pair, result):
    _, _, truth = pair
    difference = result.subtractedExposure
    stars = brightStars(truth, difference.shape, 30, 1.0e5)
    assert len(stars) >= 8
    residual = [apertureSum(difference.image, truth.x[i], truth.y[i], APERTURE)
                / truth.scienceFlux[i] for i in stars]
    assert np.all(np.isfinite(residual))
    assert np.max(np.abs(residual)) < 0.01


def test_transient_flux_is_recovered(pair, result):
    _, _, truth = pair
    measured = np.array([apertureSum(result.subtractedExposure.image, x, y, APERTURE)
                         for x, y in zip(truth.transientX, truth.transientY)])
    assert measured / truth.transientFlux == pytest.approx(np.ones(len(measured)), abs=0.03)


def test_variable_stars_are_left_in_the_difference(pair, result):
    """The 3 variables doubled their flux: the fit must not absorb them (kernel-sum clipping)."""
    _, _, truth = pair
    for i in range(3):
        excess = truth.scienceFlux[i] - truth.fluxRatio * truth.templateFlux[i]
        measured = apertureSum(result.subtractedExposure.image, truth.x[i], truth.y[i], APERTURE)
        if np.isfinite(measured):
            assert measured / excess == pytest.approx(1.0, abs=0.05)


def test_result_structure(pair, result):
    science, template, _ = pair
    difference = result.subtractedExposure
    assert result.warpedExposure is template
    assert not result.convolvedScience
    assert difference.psf.sigma() == pytest.approx(science.psf.sigma())
    assert difference.photoCalib == science.photoCalib
    assert difference.filter == science.filter and difference.obsDate == science.obsDate
    assert isinstance(result.psfMatchingKernel, MatchingKernel)
    assert isinstance(result.psfMatchingKernel, SpatialMatchingKernel)
    matched = result.matchedExposure
    assert matched.psf.sigma() == pytest.approx(science.psf.sigma())
    valid = np.isfinite(difference.image)
    background = result.psfMatchingKernel.background.image()
    np.testing.assert_allclose(difference.image[valid],
                               (science.image - matched.image - background)[valid], atol=1e-2)
    np.testing.assert_allclose(difference.variance[valid],
                               (science.variance + matched.variance)[valid], rtol=1e-5)
    meta = result.metadata
    assert meta["ALBasisMode"] == "convolution"
    assert meta["ALBasisNGauss"] == 3 and meta["ALBasisDegGauss"] == [4, 2, 2]
    assert meta["ALKernelSize"] == result.psfMatchingKernel.kernelSize
    assert meta["ALCandidatesUsed"] >= 40
    assert meta["ALSpatialKernelOrder"] == 1 and meta["ALSpatialBgOrder"] == 2
    assert meta["ALSpatialResidualStd"] == pytest.approx(1.0, abs=0.1)


def test_kernel_evaluation(result):
    kernel = result.psfMatchingKernel
    for x, y in [(0, 0), (255.5, 100), (511, 511)]:
        image = kernel.at(x, y)
        assert image.shape == (kernel.kernelSize, kernel.kernelSize)
        assert image.sum() == pytest.approx(kernel.kernelSum, rel=1e-9)


def test_border_and_mask_propagation(pair):
    science, template, _ = pair
    template = template.clone()
    template.image[:, 300:310] = np.nan
    template.setMask(np.isnan(template.image), "NO_DATA")
    bad = np.zeros(template.shape, dtype=bool)
    bad[200, 100] = True
    template.setMask(bad, "BAD")
    result = subtract(science, template)
    difference = result.subtractedExposure
    half = result.psfMatchingKernel.kernelSize // 2

    noData = difference.maskedPixels("NO_DATA")
    assert np.all(difference.maskedPixels("EDGE")[:half]) and np.all(noData[:, -half:])
    assert not difference.maskedPixels("EDGE")[half:-half, half:-half].any()
    stripe = np.zeros(template.shape, dtype=bool)
    stripe[:, 300 - half:310 + half] = True
    interior = np.zeros(template.shape, dtype=bool)
    interior[half:-half, half:-half] = True
    assert np.array_equal(noData & interior, stripe & interior)
    assert np.all(np.isnan(difference.image[noData]))
    assert np.all(np.isinf(difference.variance[noData]))
    assert np.all(np.isfinite(difference.image[~noData]))
    assert np.all(np.isfinite(difference.variance[~noData]))

    badBox = difference.maskedPixels("BAD")
    expected = np.zeros(template.shape, dtype=bool)
    expected[200 - half:201 + half, 100 - half:101 + half] = True
    assert np.array_equal(badBox, expected)


def test_inputs_are_not_modified(pair):
    science, template, _ = pair
    template = template.clone()
    template.image[:40, :40] = np.nan
    template.setMask(np.isnan(template.image), "NO_DATA")
    before = [(e.image.copy(), e.mask.copy(), e.variance.copy(), dict(e.maskPlanes))
              for e in (science, template)]
    subtract(science, template)
    subtract(science, template, convolveTemplate=False)
    for exposure, (image, mask, variance, planes) in zip((science, template), before):
        np.testing.assert_array_equal(exposure.image, image)
        np.testing.assert_array_equal(exposure.mask, mask)
        np.testing.assert_array_equal(exposure.variance, variance)
        assert dict(exposure.maskPlanes) == planes


def test_convolving_the_science_image(swappedPair, scienceConvolved):
    science, template, truth = swappedPair
    result = scienceConvolved
    difference = result.subtractedExposure
    assert result.convolvedScience
    assert result.metadata["ALBasisMode"] == "convolution"
    assert result.psfMatchingKernel.kernelSum == pytest.approx(1.0 / truth.fluxRatio, rel=0.01)
    assert difference.psf.sigma() == pytest.approx(template.psf.sigma())
    assert difference.photoCalib == science.photoCalib
    noise, _ = robustNoise(difference, truth, 2.08)
    assert noise == pytest.approx(1.0, abs=0.10)
    measured = np.array([apertureSum(difference.image, x, y, APERTURE)
                         for x, y in zip(truth.transientX, truth.transientY)])
    assert np.all(measured > 0)
    assert measured / truth.transientFlux == pytest.approx(np.ones(len(measured)), abs=0.03)
    stars = brightStars(truth, difference.shape, 30, 1.0e5)
    residual = [apertureSum(difference.image, truth.x[i], truth.y[i], APERTURE)
                / truth.scienceFlux[i] for i in stars]
    assert len(stars) >= 8 and np.max(np.abs(residual)) < 0.01


def test_deconvolution_mode_stays_finite(swappedPair):
    """Convolving the wider template: LSST's fragile deconvolution basis; finite and close."""
    science, template, truth = swappedPair
    result = subtract(science, template, convolveTemplate=True)
    difference = result.subtractedExposure
    assert result.metadata["ALBasisMode"] == "deconvolution"
    noData = difference.maskedPixels("NO_DATA")
    assert np.all(np.isfinite(difference.image[~noData]))
    assert result.psfMatchingKernel.kernelSum == pytest.approx(truth.fluxRatio, rel=0.08)
    noise, _ = robustNoise(difference, truth, 2.08)
    assert noise == pytest.approx(1.0, abs=0.15)


def test_given_kernel_sources(pair):
    science, template, truth = pair
    bright = np.argsort(truth.templateFlux)[::-1][3:120]
    sources = Table({"x": truth.x[bright], "y": truth.y[bright]})
    result = subtract(science, template, kernelSources=sources)
    assert result.metadata["ALCandidateSource"] == "kernelSources"
    assert result.metadata["ALCandidatesFound"] == len(bright)
    assert result.psfMatchingKernel.kernelSum == pytest.approx(truth.fluxRatio, rel=0.01)
    with pytest.raises(InputError, match="'y'"):
        subtract(science, template, kernelSources=Table({"x": [1.0]}))


def test_few_stars_fall_back_to_a_constant_kernel():
    science, template, truth = makePair(256, nStars=4, seed=5, fluxRange=(5e4, 1e5),
                                        nTransients=0)
    result = subtract(science, template)
    meta = result.metadata
    assert meta["ALSpatialFallback"] is True
    assert meta["ALSpatialKernelOrder"] == 0 and meta["ALSpatialBgOrder"] == 0
    assert 1 <= meta["ALCandidatesUsed"] < 6
    assert result.psfMatchingKernel.kernelSum == pytest.approx(truth.fluxRatio, rel=0.02)


def test_no_stars_raises():
    science, template, _ = makePair(256, nStars=0, seed=6, nTransients=0)
    with pytest.raises(InsufficientKernelSourcesError, match="detThreshold"):
        subtract(science, template)


def test_mismatched_shapes_raise(pair):
    science, template, _ = pair
    small = makePair(128, nStars=5, seed=4, nTransients=0)[1]
    with pytest.raises(InputError, match="science pixel grid"):
        subtract(science, small)


def test_background_fit_acts(pair):
    """Without fitForBackground the sky difference is forced into the kernel: a wrong fit."""
    science, template, truth = pair
    result = subtract(science, template, fitForBackground=False)
    assert result.psfMatchingKernel.background is None
    assert abs(result.psfMatchingKernel.kernelSum / truth.fluxRatio - 1.0) > 0.2
    _, centre = robustNoise(result.subtractedExposure, truth, 2.08)
    assert abs(centre) > 0.3          # the fitted background leaves < 0.1
