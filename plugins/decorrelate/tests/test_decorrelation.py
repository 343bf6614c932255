"""Acceptance tests of the single-filter decorrelation on LSST's Gaussian set-up.

Science PSF sigma 3.3, template 2.2 (swapped when the science image is
convolved), Gaussian matching kernel, white noise of variance 0.04.
"""
from __future__ import annotations

import numpy as np
import pytest
from decorrelate_testing import (KERNEL_SIZE, autocorrelation, clippedVariance, decorrelate,
                                 interior, kernelSigma, makeNoisePair)
from scipy.signal import fftconvolve

from diffim import ImagePsf
from diffim.psf import gaussian_stamp
from diffim.statistics import iqrSigma

VARIANCE = 0.04


@pytest.fixture(scope="module")
def equalNoise():
    return makeNoisePair(scienceVariance=VARIANCE, templateVariance=VARIANCE)


@pytest.mark.parametrize("complete", [False, True])
def test_variance_is_that_of_white_noise(equalNoise, complete):
    """After decorrelation the noise is sigma_S**2 + sigma_T**2 = 0.08 and the plane says so."""
    before = equalNoise.difference
    assert clippedVariance(interior(before.image)) < 0.06
    assert np.mean(interior(before.variance)) < 0.06
    after = decorrelate(equalNoise, completeVarPlanePropagation=complete)
    pixelVariance = clippedVariance(interior(after.image))
    planeMean = float(np.mean(interior(after.variance)))
    assert pixelVariance == pytest.approx(2 * VARIANCE, rel=0.05)
    assert planeMean == pytest.approx(2 * VARIANCE, rel=0.02)
    assert pixelVariance == pytest.approx(planeMean, rel=0.05)


@pytest.mark.parametrize("convolveTemplate", [True, False])
def test_noise_becomes_uncorrelated(convolveTemplate):
    """The image that was convolved is the noisier one (25x): its noise dominates before."""
    kwargs = ({"scienceVariance": VARIANCE, "templateVariance": 25 * VARIANCE}
              if convolveTemplate else
              {"scienceVariance": 25 * VARIANCE, "templateVariance": VARIANCE})
    pair = makeNoisePair(convolveTemplate=convolveTemplate, seed=4, **kwargs)
    before = interior(pair.difference.image)
    after = interior(decorrelate(pair).image)
    for lag in (1, 2, 3):
        assert autocorrelation(before, lag) > 0.15
        assert abs(autocorrelation(after, lag)) < 0.1


@pytest.mark.parametrize("convolveTemplate", [True, False])
@pytest.mark.parametrize("complete", [False, True])
def test_normalised_noise_is_one(convolveTemplate, complete):
    """D / sqrt(var) has unit scatter; with the science image convolved kappa = 1.3 enters."""
    pair = makeNoisePair(scienceVariance=VARIANCE, templateVariance=2 * VARIANCE, kappa=1.3,
                         convolveTemplate=convolveTemplate, seed=2)
    after = decorrelate(pair, completeVarPlanePropagation=complete)
    ratio = iqrSigma(interior(after.image / np.sqrt(after.variance)))
    assert ratio == pytest.approx(1.0, abs=0.05)
    unconvolved, convolved = ((VARIANCE, 2 * VARIANCE) if convolveTemplate
                              else (2 * VARIANCE, VARIANCE))
    white = unconvolved + 1.3 ** 2 * convolved
    expected = white if convolveTemplate else white / 1.3 ** 2
    assert float(np.mean(interior(after.variance))) == pytest.approx(expected, rel=0.02)


@pytest.fixture(scope="module")
def pointSources():
    """Noiseless point sources of flux 1000 on the difference (variance planes still 0.04)."""
    return makeNoisePair(scienceVariance=VARIANCE, templateVariance=4 * VARIANCE,
                         sourceFlux=1000.0, nSources=9, noise=False)


def _aperture(image: np.ndarray, x: float, y: float, radius: float) -> float:
    yy, xx = np.mgrid[:image.shape[0], :image.shape[1]]
    return float(image[np.hypot(xx - x, yy - y) <= radius].sum())


def _stamp(image: np.ndarray, x: float, y: float, half: int) -> np.ndarray:
    x, y = int(x), int(y)
    return image[y - half:y + half + 1, x - half:x + half + 1]


def test_point_source_flux_is_preserved(pointSources):
    after = decorrelate(pointSources)
    psf = after.psf.at(0, 0)
    half = psf.shape[0] // 2
    for x, y in zip(pointSources.sourceX, pointSources.sourceY):
        assert _aperture(after.image, x, y, 20.0) == pytest.approx(1000.0, rel=0.01)
        stamp = _stamp(after.image, x, y, half)
        psfFlux = (stamp * psf).sum() / (psf * psf).sum()
        assert psfFlux == pytest.approx(1000.0, rel=0.01)


def test_corrected_psf_is_the_image_of_a_point_source(pointSources):
    """The new PSF is narrower, has unit sum, and is what a filtered point source looks like."""
    before = pointSources.difference
    after = decorrelate(pointSources)
    assert isinstance(after.psf, ImagePsf)
    psf = after.psf.at(0, 0)
    assert psf.sum() == pytest.approx(1.0, abs=1e-9)
    assert after.psf.sigma() < 0.9 * before.psf.sigma()
    half = psf.shape[0] // 2
    x, y = pointSources.sourceX[4], pointSources.sourceY[4]
    stamp = _stamp(after.image, x, y, half)
    assert np.abs(stamp - 1000.0 * psf).max() < 0.01 * 1000.0 * psf.max()


def test_matches_lsst_fft_mechanics(equalNoise):
    """The result equals the recipe of decorrelation.md done with numpy's full FFTs.

    That recipe pads every array with its centre pixel moved to the origin on an
    even grid; the plugin uses a fast-FFT grid and a corner placement. Both are
    zero-padded linear convolutions, so they agree away from the edges.
    """
    difference = equalNoise.difference.image.astype(np.float64)
    kernel = equalNoise.subtraction.psfMatchingKernel.at(0, 0)
    shape = tuple(n + KERNEL_SIZE - 1 + (n + KERNEL_SIZE - 1) % 2 for n in difference.shape)
    finite = np.isfinite(difference)
    filled = np.where(finite, difference, difference[finite].mean())
    kernelHat = np.fft.fft2(_centreAtOrigin(kernel, shape))
    phi = np.sqrt(2 * VARIANCE / (VARIANCE + VARIANCE * np.abs(kernelHat) ** 2))
    padded = _centreAtOrigin(filled, shape)
    reference = _undoCentre(np.fft.ifft2(phi * np.fft.fft2(padded)).real, difference.shape)
    after = decorrelate(equalNoise).image
    noise = np.sqrt(2 * VARIANCE)
    assert np.abs(interior(after - reference)).max() < 1e-3 * noise


def _centreAtOrigin(array: np.ndarray, shape) -> np.ndarray:
    grid = np.zeros(shape)
    h, w = array.shape
    grid[:h, :w] = array
    return np.roll(grid, (-(h // 2), -(w // 2)), axis=(0, 1))


def _undoCentre(grid: np.ndarray, shape) -> np.ndarray:
    h, w = shape
    return np.roll(grid, (h // 2, w // 2), axis=(0, 1))[:h, :w]


def test_complete_propagation_convolves_the_variance_planes():
    """With a step in the template variance the complete mode is the exact convolution."""
    size = 256
    columns = np.arange(size)
    templateVariance = np.broadcast_to(np.where(columns < size // 2, 0.01, 4.0), (size, size))
    pair = makeNoisePair(size, scienceVariance=VARIANCE, templateVariance=templateVariance)
    simple = decorrelate(pair)
    complete = decorrelate(pair, completeVarPlanePropagation=True)

    kernel = gaussian_stamp(kernelSigma(), KERNEL_SIZE)
    shape = (512, 512)
    kernelHat = np.fft.fft2(_centreAtOrigin(kernel, shape))
    sn, sr = VARIANCE, 0.5 * (0.01 + 4.0)
    phi = np.sqrt((sn + sr) / (sn + sr * np.abs(kernelHat) ** 2))
    phiReal = np.fft.fftshift(np.fft.ifft2(phi).real)[256 - 40:256 + 41, 256 - 40:256 + 41]
    convolvedReal = np.fft.fftshift(np.fft.ifft2(phi * kernelHat).real)[216:297, 216:297]
    reference = (fftconvolve(np.full((size, size), sn), phiReal ** 2, mode="same")
                 + fftconvolve(templateVariance, convolvedReal ** 2, mode="same"))
    np.testing.assert_allclose(interior(complete.variance), interior(reference), rtol=1e-3)

    rows = slice(KERNEL_SIZE, -KERNEL_SIZE)
    far = np.r_[KERNEL_SIZE:size // 2 - 20, size // 2 + 20:size - KERNEL_SIZE]
    np.testing.assert_allclose(complete.variance[rows][:, far], simple.variance[rows][:, far],
                               rtol=1e-3)
    stepSimple = np.diff(simple.variance[100, size // 2 - 3:size // 2 + 3]).max()
    stepComplete = np.diff(complete.variance[100, size // 2 - 3:size // 2 + 3]).max()
    assert stepComplete < 0.5 * stepSimple


def test_complete_propagation_of_constant_planes_is_the_scaling(equalNoise):
    """For constant variance planes both variance modes give the same plane."""
    simple = decorrelate(equalNoise)
    complete = decorrelate(equalNoise, completeVarPlanePropagation=True)
    np.testing.assert_allclose(interior(complete.variance), interior(simple.variance),
                               rtol=1e-5)


def test_mask_and_missing_pixels_are_kept(equalNoise):
    before = equalNoise.difference
    after = decorrelate(equalNoise)
    np.testing.assert_array_equal(after.mask, before.mask)
    assert after.mask is not before.mask
    np.testing.assert_array_equal(np.isnan(after.image), np.isnan(before.image))
    missing = ~np.isfinite(before.variance)
    assert np.isinf(after.variance[missing]).all()
    assert np.isfinite(after.variance[~missing]).all()
    assert after.image.dtype == np.float32 and after.variance.dtype == np.float32


def test_inputs_are_not_modified():
    pair = makeNoisePair(128, scienceVariance=VARIANCE, templateVariance=VARIANCE)
    exposures = (pair.science, pair.template, pair.difference)
    copies = [(e.image.copy(), e.variance.copy(), e.mask.copy(), e.psf.at(0, 0))
              for e in exposures]
    for spatial in (False, True):
        decorrelate(pair, spatial, completeVarPlanePropagation=True)
    for exposure, (image, variance, mask, psf) in zip(exposures, copies):
        np.testing.assert_array_equal(exposure.image, image)
        np.testing.assert_array_equal(exposure.variance, variance)
        np.testing.assert_array_equal(exposure.mask, mask)
        np.testing.assert_array_equal(exposure.psf.at(0, 0), psf)


def test_missing_pixels_do_not_smear():
    """NaN pixels count as the image mean in the FFT: a flat offset stays flat up to them."""
    pair = makeNoisePair(128, scienceVariance=VARIANCE, templateVariance=10 * VARIANCE,
                         noise=False)
    finite = np.isfinite(pair.difference.image)
    pair.difference.image[finite] += 5.0
    after = decorrelate(pair).image
    np.testing.assert_allclose(after[finite], 5.0, atol=0.01)
