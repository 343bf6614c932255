"""The AL basis: widths, kernel size, renormalisation, separable convolution."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d

from diffim_al import ImagePsfMatchConfig
from diffim_al.basis import basisShape, makeKernelBasis
from diffim_al.stampfit import convolveWithBasis, solveSymmetric


def shapeFor(target, reference, **overrides):
    return basisShape(ImagePsfMatchConfig(**overrides), target, reference)


def test_convolution_mode_ladder_starts_at_kernel_sigma_when_narrow():
    shape = shapeFor(1.6, 2.08)
    kernelSigma = np.sqrt(2.08 ** 2 - 1.6 ** 2)
    assert shape.mode == "convolution"
    np.testing.assert_allclose(shape.sigmas, [kernelSigma, 2 * kernelSigma, 4 * kernelSigma])
    assert shape.degrees == (4, 2, 2)
    assert shape.kernelSize == 31


def test_convolution_mode_ladder_centred_on_kernel_sigma_when_wide():
    shape = shapeFor(1.0, 3.0)
    kernelSigma = np.sqrt(8.0)
    np.testing.assert_allclose(shape.sigmas, [kernelSigma / 2, kernelSigma, 2 * kernelSigma])
    assert shape.kernelSize == 33


def test_kernel_sigma_floor_and_size_clamps():
    narrow = shapeFor(1.6, 1.65)
    np.testing.assert_allclose(narrow.sigmas, [0.7, 1.4, 2.8])
    assert narrow.kernelSize == 21
    assert shapeFor(1.0, 5.0).kernelSize == 35
    assert shapeFor(1.0, 5.0, kernelSizeMax=29).kernelSize == 29


def test_config_mode():
    assert shapeFor(2.0, 2.0).mode == "config"
    shape = shapeFor(1.6, 2.08, scaleByFwhm=False, kernelSize=25)
    assert shape.mode == "config"
    assert shape.sigmas == (0.7, 1.5, 3.0) and shape.kernelSize == 25


def test_number_of_gaussians():
    assert shapeFor(1.0, 3.0, alardNGauss=1, alardDegGauss=[3],
                    alardSigGauss=[1.0]).sigmas == pytest.approx((np.sqrt(8.0),))
    two = shapeFor(1.0, 3.0, alardNGauss=2, alardDegGauss=[2, 2], alardSigGauss=[1.0, 2.0])
    assert two.sigmas == pytest.approx((np.sqrt(2.0), np.sqrt(8.0)))


def test_deconvolution_series():
    shape = shapeFor(2.08, 1.6)
    k = np.sqrt(2.08 ** 2 - 1.6 ** 2)
    s0, s1, s2 = k / 2, k, 2 * k
    expected = sorted([np.sqrt(s1 ** 2 - 2 * s0 ** 2), np.sqrt(2 * s1 ** 2 - 3 * s0 ** 2),
                       np.sqrt(s1 ** 2 + s2 ** 2 - 3 * s0 ** 2)])
    assert shape.mode == "deconvolution"
    np.testing.assert_allclose(shape.sigmas, expected)
    assert shape.degrees == (3, 3, 3)


def test_deconvolution_falls_back_when_the_series_is_not_real():
    shape = shapeFor(2.08, 1.6, alardGaussBeta=1.01)
    assert shape.mode == "deconvolution-fallback"
    assert len(shape.sigmas) == 3 and np.all(np.isfinite(shape.sigmas))
    assert min(shape.sigmas) > 0


def test_renormalised_basis():
    basis = makeKernelBasis(shapeFor(1.6, 2.08))
    assert basis.nBasis == 27
    assert basis.images.shape == (27, 31, 31)
    sums = basis.images.sum(axis=(1, 2))
    assert sums[0] == pytest.approx(1.0)
    np.testing.assert_allclose(sums[1:], 0.0, atol=1e-12)
    np.testing.assert_allclose((basis.images[1:] ** 2).sum(axis=(1, 2)), 1.0)
    rank = np.linalg.matrix_rank(basis.images.reshape(27, -1))
    assert rank == 27


def test_separable_convolution_equals_direct_convolution():
    basis = makeKernelBasis(shapeFor(1.6, 2.08))
    stamps = np.random.default_rng(3).normal(size=(2, 45, 45))
    convolved = convolveWithBasis(stamps, basis)
    assert convolved.shape == (2, 15, 15, 27)
    for i in (0, 4, 13, 26):
        direct = convolve2d(stamps[1], basis.images[i], mode="valid")
        np.testing.assert_allclose(convolved[1, :, :, i], direct, atol=1e-12)


def test_solver():
    rng = np.random.default_rng(4)
    design = rng.normal(size=(50, 4)) * [1.0, 1e3, 1e-3, 10.0]
    data = rng.normal(size=50)
    np.testing.assert_allclose(solveSymmetric(design.T @ design, design.T @ data),
                               np.linalg.lstsq(design, data, rcond=None)[0], rtol=1e-9)
    degenerate = np.column_stack([design, design[:, 0] + design[:, 1]])
    solution = solveSymmetric(degenerate.T @ degenerate, degenerate.T @ data)
    best = np.linalg.lstsq(degenerate, data, rcond=None)[0]
    assert np.all(np.isfinite(solution))
    assert np.sum((degenerate @ solution - data) ** 2) == pytest.approx(
        np.sum((degenerate @ best - data) ** 2), rel=1e-9)
