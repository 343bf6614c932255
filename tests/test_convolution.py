"""diffim.convolution against scipy.signal.fftconvolve, whose arithmetic it repeats."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.convolution import Convolution, convolve
from scipy import signal


@pytest.mark.parametrize("shape, kernelShape", [((100, 130), (25, 25)), ((33, 41), (8, 6)),
                                                ((5, 5), (11, 11))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["same", "full"])
def test_the_same_bits_as_scipy_signal(shape, kernelShape, dtype, mode):
    rng = np.random.default_rng(3)
    image = rng.normal(size=shape).astype(dtype)
    kernel = rng.normal(size=kernelShape).astype(dtype)
    expected = signal.fftconvolve(image, kernel, mode=mode)
    result = convolve(image, kernel, mode)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


def test_a_point_source_lands_where_the_kernel_centre_puts_it():
    image = np.zeros((64, 64))
    image[20, 30] = 2.0
    kernel = np.zeros((7, 7))
    kernel[3, 4] = 1.0                                     # one pixel right of the centre
    result = convolve(image, kernel)
    assert np.unravel_index(np.argmax(result), result.shape) == (20, 31)
    assert result.sum() == pytest.approx(2.0)


def test_one_kernel_for_many_planes_and_clear_errors():
    kernel = np.ones((3, 3)) / 9.0
    smooth = Convolution(kernel, (20, 20))
    for value in (1.0, 5.0):
        assert smooth(np.full((20, 20), value))[10, 10] == pytest.approx(value)
    with pytest.raises(ValueError, match=r"shape \(20, 20\), got \(10, 10\)"):
        smooth(np.zeros((10, 10)))
    with pytest.raises(ValueError, match="mode must be one of same, full"):
        Convolution(kernel, (20, 20), mode="valid")
