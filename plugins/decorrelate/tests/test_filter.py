"""The filter, the FFT placement helpers, the variance statistic and the grid nodes."""
from __future__ import annotations

import numpy as np
import pytest
from decorrelate_testing import GaussianKernel, kernelSigma

from diffim.psf import gaussian_stamp
from diffim_decorrelate.filter import DecorrelationFilter
from diffim_decorrelate.fourier import cropCentred, fftShape, gridMean, padCentred
from diffim_decorrelate.grid import AxisNodes
from diffim_decorrelate.statistics import meanVariance


@pytest.fixture
def kernel():
    return GaussianKernel(kernelSigma(), kappa=1.3).image


def test_filter_keeps_flux_and_whitens(kernel):
    """phi(0) = 1 exactly, and phi**2 times the difference's noise power is flat."""
    shape = fftShape((200, 180), kernel.shape)
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.09, shape)
    assert decorrelation.phi[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert decorrelation.phi.max() > 1.5
    kernelPower = np.abs(np.fft.rfft2(padCentred(kernel, shape))) ** 2
    whitened = decorrelation.phi ** 2 * (0.04 + 0.09 * kernelPower)
    np.testing.assert_allclose(whitened, 0.04 + 1.3 ** 2 * 0.09, rtol=1e-10)


def test_noise_weights_follow_parseval(kernel):
    """(w_n, w_r) equal the sums of the squared real-space filters phi and K conv phi."""
    shape = fftShape((64, 75), kernel.shape)
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.09, shape)
    full = np.fft.fft2(padCentred(kernel, shape))
    power = np.abs(full) ** 2
    phi = np.sqrt((0.04 + 1.69 * 0.09) / (0.04 + 0.09 * power))
    unconvolved = np.fft.ifft2(phi).real
    convolved = np.fft.ifft2(phi * full).real
    weights = decorrelation.noiseWeights()
    assert weights[0] == pytest.approx((unconvolved ** 2).sum(), rel=1e-10)
    assert weights[1] == pytest.approx((convolved ** 2).sum(), rel=1e-10)
    assert 0.04 * weights[0] + 0.09 * weights[1] == pytest.approx(decorrelation.whiteVariance)


@pytest.fixture
def scoreKernels():
    """Pre-convolution kernel P (the science PSF, sigma 3.3) and the kernel K matching the
    template (sigma 2.2) to the pre-convolved science image, of sum 1.3."""
    preConvKernel = gaussian_stamp(3.3, 25)
    return GaussianKernel(np.sqrt(2 * 3.3 ** 2 - 2.2 ** 2), kappa=1.3).image, preConvKernel


def test_score_filter_is_the_squared_filter_of_the_deconvolved_kernel(scoreKernels):
    """phi_score = (s_n + kappa**2 s_r) / (s_n + s_r |K|**2 / |P|**2), phi_score(0) = 1."""
    kernel, preConvKernel = scoreKernels
    shape = fftShape((90, 100), kernel.shape, preConvKernel.shape)
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.09, shape, preConvKernel)
    kernelPower = np.abs(np.fft.rfft2(padCentred(kernel, shape))) ** 2
    preConvPower = np.abs(np.fft.rfft2(padCentred(preConvKernel, shape))) ** 2
    expected = (0.04 + 1.3 ** 2 * 0.09) / (0.04 + 0.09 * kernelPower / preConvPower)
    assert decorrelation.phi[0, 0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(decorrelation.phi, expected, rtol=1e-10)


def test_score_noise_weights_follow_parseval(scoreKernels):
    """(w_n, w_r) of the score filter are the sums of the squared P conv phi and K conv phi."""
    kernel, preConvKernel = scoreKernels
    shape = fftShape((64, 75), kernel.shape, preConvKernel.shape)
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.09, shape, preConvKernel)
    kernelSpectrum = np.fft.fft2(padCentred(kernel, shape))
    preConvSpectrum = np.fft.fft2(padCentred(preConvKernel, shape))
    phi = (0.04 + 1.69 * 0.09) / (0.04 + 0.09 * np.abs(kernelSpectrum / preConvSpectrum) ** 2)
    unconvolved = np.fft.ifft2(phi * preConvSpectrum).real
    convolved = np.fft.ifft2(phi * kernelSpectrum).real
    weights = decorrelation.noiseWeights()
    assert weights[0] == pytest.approx((unconvolved ** 2).sum(), rel=1e-8)
    assert weights[1] == pytest.approx((convolved ** 2).sum(), rel=1e-8)
    smallGridFilters = decorrelation.realSpaceFilters()
    assert (smallGridFilters[0] ** 2).sum() == pytest.approx(weights[0], rel=1e-6)
    assert (smallGridFilters[1] ** 2).sum() == pytest.approx(weights[1], rel=1e-6)


def test_score_psf_stamp_grid_matches_the_image_grid(scoreKernels):
    """To 1e-4 of the peak: where both kernels' spectra reach their truncation floors the
    score filter is erratic, and image grids of different sizes differ by 1e-5 too."""
    kernel, preConvKernel = scoreKernels
    psf = np.outer(*2 * [np.exp(-0.5 * (np.arange(-15, 16) / 4.0) ** 2)])
    shape = (400, 400)
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.09, shape, preConvKernel)
    onImageGrid = cropCentred(np.fft.irfft2(np.fft.rfft2(padCentred(psf, shape))
                                            * decorrelation.phi, s=shape), psf.shape)
    np.testing.assert_allclose(decorrelation.applyToStamp(psf), onImageGrid,
                               atol=1e-4 * psf.max())


@pytest.mark.parametrize("width", [40, 41])
def test_grid_mean_counts_both_halves(width):
    values = np.random.default_rng(3).normal(size=(30, width))
    half = np.abs(np.fft.rfft2(values)) ** 2
    assert gridMean(half, width) == pytest.approx((values ** 2).sum(), rel=1e-12)


def test_centred_stamps_wrap_to_the_origin():
    stamp = np.arange(25.0).reshape(5, 5)
    grid = padCentred(stamp, (16, 12))
    assert grid[0, 0] == stamp[2, 2]
    assert grid[-2, -2] == stamp[0, 0]
    assert grid[2, 2] == stamp[4, 4]
    np.testing.assert_array_equal(cropCentred(grid, (5, 5)), stamp)


def test_fft_shape_leaves_room_for_the_stamp():
    shape = fftShape((300, 257), (33, 33), (25, 25))
    assert shape[0] >= 300 + 32 and shape[1] >= 257 + 32


def test_filtering_is_linear_not_circular(kernel):
    """A point at the left edge must not leak to the right edge (no wrap-around)."""
    image = np.zeros((64, 64))
    image[32, 0] = 1.0
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.5, fftShape(image.shape, kernel.shape))
    filtered = decorrelation.apply(image, 0.0)
    assert filtered[32, 0] > 1.0
    assert np.abs(filtered[:, -8:]).max() < 1e-6
    image = np.roll(image, 32, axis=1)
    assert decorrelation.apply(image, 0.0).sum() == pytest.approx(1.0, abs=1e-4)


def test_psf_stamp_grid_matches_the_image_grid(kernel):
    """The PSF is filtered on a small grid; on the image grid it comes out the same."""
    psf = np.outer(*2 * [np.exp(-0.5 * (np.arange(-12, 13) / 3.3) ** 2)])
    shape = (400, 400)
    decorrelation = DecorrelationFilter(kernel, 0.04, 1.0, shape)
    onImageGrid = cropCentred(np.fft.irfft2(np.fft.rfft2(padCentred(psf, shape))
                                            * decorrelation.phi, s=shape), psf.shape)
    np.testing.assert_allclose(decorrelation.applyToStamp(psf), onImageGrid,
                               atol=1e-7 * psf.max())


def test_missing_pixels_are_filled_then_restored(kernel):
    image = np.zeros((60, 60))
    image[30, 30] = np.nan
    decorrelation = DecorrelationFilter(kernel, 0.04, 1.0, fftShape(image.shape, kernel.shape))
    filtered = decorrelation.apply(image, 0.0)
    assert np.isnan(filtered[30, 30])
    assert np.abs(np.delete(filtered.ravel(), 30 * 60 + 30)).max() < 1e-6
    assert abs(decorrelation.apply(image, 1.0)[30, 31]) > 0.01


def test_filter_without_template_noise_is_the_identity(kernel):
    image = np.random.default_rng(0).normal(size=(50, 60))
    decorrelation = DecorrelationFilter(kernel, 0.04, 0.0, fftShape(image.shape, kernel.shape))
    np.testing.assert_allclose(decorrelation.apply(image, 0.0), image, atol=1e-5)


def test_mean_variance_skips_masked_pixels():
    variance = np.full((100, 100), 0.04, dtype=np.float32)
    mask = np.zeros((100, 100), dtype=np.int32)
    variance[:60] = 0.4
    mask[:60] = 1 << 5
    assert meanVariance(variance, mask, 1 << 5) == pytest.approx(0.04)
    assert meanVariance(variance, mask, 1 << 0) == pytest.approx(0.6 * 0.4 + 0.4 * 0.04)


@pytest.mark.parametrize("length, step", [(384, 48.0), (1000, 93.0), (50, 200.0), (2, 1.0)])
def test_tent_weights_sum_to_one(length, step):
    nodes = AxisNodes.spanning(length, step)
    assert nodes.positions[0] == 0 and nodes.positions[-1] == length - 1
    assert nodes.spacing <= step
    total = np.zeros(length)
    for i in range(len(nodes.positions)):
        support = nodes.support(i)
        weights = nodes.weights(i)
        assert weights.min() > 0
        total[support] += weights
        expanded = nodes.expanded(i, 5)
        assert expanded.start <= support.start and expanded.stop >= support.stop
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_single_node_covers_a_one_pixel_axis():
    nodes = AxisNodes.spanning(1, 10.0)
    assert list(nodes.positions) == [0.0]
    np.testing.assert_array_equal(nodes.weights(0), [1.0])
