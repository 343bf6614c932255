"""The score-image variant: the likelihood image of a pre-convolved science image.

Science PSF two Gaussians (3.0 px, 80%; 5.0 px, 20%), template a 2.2 px
Gaussian four times noisier than the science image (so that its correlated
noise matters), pre-convolution with the science PSF itself or with a Gaussian
of its width, as the task does.
"""
from __future__ import annotations

import numpy as np
import pytest
from decorrelate_testing import (autocorrelation, clippedVariance, decorrelate, interior,
                                 makeNoisePair, makeScorePair, optimalSignificance)

from diffim import SpatialPsf, plugins
from diffim.errors import InputError
from diffim.preconvolve import preConvolve
from diffim.psf import gaussian_stamp
from diffim.sanitize import sanitize
from diffim.statistics import iqrSigma
from diffim.testing.simulate import simulatePair

from diffim_decorrelate import DecorrelateALKernel, DecorrelateALKernelConfig

AlardLuptonSubtraction = plugins.load("subtract", "al")
ImagePsfMatchConfig = AlardLuptonSubtraction.ConfigClass

SCIENCE_VARIANCE = 0.04
TEMPLATE_VARIANCE = 0.16
#: Pixels left out at the border: the NaN border of the likelihood image and the filter's reach.
MARGIN = 45
PRECONVOLUTIONS = {"psf": False, "gaussian": True}


def _significance(exposure):
    return exposure.image / np.sqrt(exposure.variance)


def _score(pair, spatiallyVarying=False, **overrides):
    """The plugin's score image of ``pair`` (with its own pre-convolution kernel)."""
    return decorrelate(pair, spatiallyVarying, pair.preConvKernel, **overrides)


@pytest.fixture(scope="module", params=list(PRECONVOLUTIONS))
def noise(request):
    """Pure noise, 768 px: the score noise is correlated over ~PSF scales, so it needs pixels."""
    pair = makeScorePair(768, useGaussian=PRECONVOLUTIONS[request.param],
                         scienceVariance=SCIENCE_VARIANCE, templateVariance=TEMPLATE_VARIANCE,
                         seed=1)
    return pair, _score(pair)


@pytest.fixture(scope="module", params=list(PRECONVOLUTIONS))
def sources(request):
    """Noiseless point sources of flux 100 (the variance planes are those of the noise)."""
    pair = makeScorePair(384, useGaussian=PRECONVOLUTIONS[request.param],
                         scienceVariance=SCIENCE_VARIANCE, templateVariance=TEMPLATE_VARIANCE,
                         sourceFlux=100.0, nSources=9, noise=False)
    return pair, _score(pair), request.param


def test_score_noise_is_unit_normal(noise):
    """S / sqrt(var) of pure noise has unit scatter; the plain difference filter gives ~0.1."""
    pair, score = noise
    significance = interior(_significance(score), MARGIN)
    assert iqrSigma(significance) == pytest.approx(1.0, abs=0.03)
    assert clippedVariance(significance) == pytest.approx(1.0, abs=0.04)
    assert abs(float(np.mean(significance))) < 0.05
    assert autocorrelation(interior(score.image, MARGIN), 1) > 0.8
    plain = decorrelate(pair)
    assert iqrSigma(interior(_significance(plain), MARGIN)) < 0.2


def test_complete_variance_propagation_agrees(noise):
    """Convolving the (constant) planes with the squared filters gives the scaled variance."""
    pair, score = noise
    complete = _score(pair, completeVarPlanePropagation=True)
    np.testing.assert_allclose(interior(complete.variance, MARGIN),
                               interior(score.variance, MARGIN), rtol=1e-4)
    np.testing.assert_array_equal(complete.image, score.image)


def test_score_peaks_at_the_optimal_significance(sources):
    """A source reaches the matched-filter S/N nu of the pair in S / sqrt(var).

    With the PSF as pre-convolution kernel the score is the optimal filter, so it reaches
    nu exactly; a Gaussian of the PSF's width comes within 2%. The likelihood image alone
    (matched to the science noise only) falls 5% short, and no filter can exceed nu.
    """
    pair, score, preConvolution = sources
    nu = optimalSignificance(pair)
    assert nu == pytest.approx(24.0, abs=0.5)
    rows, cols = pair.sourceY.astype(int), pair.sourceX.astype(int)
    peaks = _significance(score)[rows, cols] / nu
    if preConvolution == "psf":
        np.testing.assert_allclose(peaks, 1.0, atol=0.003)
    else:
        assert peaks.min() > 0.98 and peaks.max() < 1.001
    likelihood = _significance(pair.likelihood)[rows, cols] / nu
    assert likelihood.max() < 0.96


def test_score_psf_is_the_filtered_difference_psf(sources):
    """Each source is flux x the output PSF, which the filter makes narrower than L's."""
    pair, score, _ = sources
    psf = score.psf.at(*score.center)
    assert psf.sum() == pytest.approx(1.0, abs=1e-10)
    half = psf.shape[0] // 2
    for x, y in zip(pair.sourceX.astype(int), pair.sourceY.astype(int)):
        stamp = score.image[y - half:y + half + 1, x - half:x + half + 1]
        np.testing.assert_allclose(stamp / pair.sourceFlux, psf, atol=2e-3 * psf.max())
    assert score.psf.sigma() < 0.8 * pair.likelihood.psf.sigma()


def test_spatial_grid_matches_the_single_filter():
    """With a constant kernel the grid of score filters reproduces the single one.

    The score filter drops sharply to zero where the kernel's spectrum, at its truncation
    floor, exceeds that of the pre-convolution kernel; its faint ringing reaches past a
    node's border, so the agreement is 1e-2 of the noise rather than the plain filter's 1e-5.
    """
    pair = makeScorePair(384, scienceVariance=SCIENCE_VARIANCE,
                         templateVariance=TEMPLATE_VARIANCE, seed=3)
    single = _score(pair)
    spatial = _score(pair, True, scaleByFwhm=False, gridStep=96.0, borderSize=64.0)
    noise = float(np.std(interior(single.image, MARGIN)))
    difference = interior(spatial.image - single.image, MARGIN) / noise
    assert float(np.sqrt(np.mean(difference ** 2))) < 0.02
    np.testing.assert_allclose(interior(spatial.variance, MARGIN),
                               interior(single.variance, MARGIN), rtol=1e-3)
    assert isinstance(spatial.psf, SpatialPsf)
    np.testing.assert_allclose(spatial.psf.at(191, 191), single.psf.at(191, 191), atol=1e-6)


def test_score_of_a_real_al_subtraction():
    """Pre-convolve a simulated science image, match with ``al``, and check the score noise."""
    science, template, truth = simulatePair(size=768, offset=(0.0, 0.0), nTransients=5,
                                            seed=21)
    science, template = sanitize(science, "science"), sanitize(template, "template")
    preConvKernel = science.psf.at(*science.psf.averagePosition)
    config = ImagePsfMatchConfig()
    config.freeze()
    subtraction = AlardLuptonSubtraction().diffim_subtract(
        preConvolve(science, preConvKernel), template, config, True, None,
        np.random.default_rng(0))
    decorrelateConfig = DecorrelateALKernelConfig()
    decorrelateConfig.freeze()
    score = DecorrelateALKernel().diffim_decorrelate(science, template, subtraction,
                                                     decorrelateConfig, False, preConvKernel)
    free = np.isfinite(score.image)
    yy, xx = np.mgrid[:768, :768]
    for x, y in zip(truth["x"], truth["y"]):
        free &= np.hypot(xx - x, yy - y) > 6.0 * science.psf.fwhm()
    assert free.sum() > 150000
    assert iqrSigma(_significance(score)[free]) == pytest.approx(1.0, abs=0.04)


def test_hook_passes_the_preconvolution_kernel():
    """Called through pluggy (as the task calls it), the kernel reaches the plugin."""
    pair = makeScorePair(128, scienceVariance=SCIENCE_VARIANCE,
                         templateVariance=TEMPLATE_VARIANCE)
    manager = plugins.new_manager()
    manager.register(DecorrelateALKernel())
    config = DecorrelateALKernelConfig()
    config.freeze()
    viaHook = manager.hook.diffim_decorrelate(
        science=pair.science, template=pair.template, subtraction=pair.subtraction,
        config=config, spatiallyVarying=False, preConvKernel=pair.preConvKernel)
    np.testing.assert_array_equal(viaHook.image, _score(pair).image)
    assert not np.allclose(interior(viaHook.image, MARGIN),
                           interior(decorrelate(pair).image, MARGIN))


def test_convolved_science_is_an_input_error():
    pair = makeNoisePair(64, convolveTemplate=False)
    with pytest.raises(InputError, match="needs the template convolved"):
        decorrelate(pair, preConvKernel=gaussian_stamp(2.2))


@pytest.mark.parametrize("kernel, message", [
    (np.ones((4, 5)) / 20.0, "odd size"),
    (2.0 * gaussian_stamp(2.2), "unit sum"),
    (np.full((3, 3), np.nan), "unit sum"),
])
def test_malformed_preconvolution_kernel_is_an_input_error(kernel, message):
    with pytest.raises(InputError, match=message):
        decorrelate(makeNoisePair(64), preConvKernel=kernel)

