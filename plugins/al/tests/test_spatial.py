"""Spatial model: functions of position, and matching a PSF that varies across the image."""
from __future__ import annotations

import numpy as np
import pytest
from al_testing import subtract

from diffim.psf import determinant_radius
from diffim_al.spatial import SpatialFunctions, nTerms


def test_chebyshev_terms():
    functions = SpatialFunctions("chebyshev1", 2, 101, 51)
    assert functions.nTerms == nTerms(2) == 6
    assert functions.powers == [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    values = functions.evaluate([0, 100, 50], [0, 50, 25])
    np.testing.assert_allclose(values[0], [1, -1, -1, 1, 1, 1])
    np.testing.assert_allclose(values[1], [1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(values[2], [1, 0, 0, -1, 0, -1], atol=1e-12)


def test_image_matches_evaluate():
    for modelType in ("chebyshev1", "polynomial"):
        functions = SpatialFunctions(modelType, 2, 40, 30)
        coefficients = np.array([1.0, 0.5, -0.3, 0.2, 0.1, -0.4])
        yy, xx = np.mgrid[:30, :40]
        expected = (functions.evaluate(xx.ravel(), yy.ravel()) @ coefficients).reshape(30, 40)
        np.testing.assert_allclose(functions.image(coefficients), expected, rtol=1e-5, atol=1e-6)


def _brightStarChi2(result, truth):
    """Mean of z**2 in 13x13 boxes on the stars brighter than 5e4 (1 for a perfect match)."""
    difference = result.subtractedExposure
    z = difference.image / np.sqrt(difference.variance)
    values = []
    for i in np.flatnonzero(truth.templateFlux > 5e4):
        x, y = int(round(truth.x[i])), int(round(truth.y[i]))
        box = z[y - 6:y + 7, x - 6:x + 7]
        if box.shape == (13, 13) and np.all(np.isfinite(box)):
            values.append(np.mean(box ** 2))
    assert len(values) > 100
    return float(np.mean(values))


def test_spatially_varying_psf_needs_a_varying_kernel(varyingPair):
    science, template, truth = varyingPair
    constant = subtract(science, template, spatialKernelOrder=0)
    varying = subtract(science, template, spatialKernelOrder=1)
    chi2Constant = _brightStarChi2(constant, truth)
    chi2Varying = _brightStarChi2(varying, truth)
    assert chi2Varying < 1.2
    assert chi2Constant > 3.0 * chi2Varying
    assert varying.metadata["ALSpatialResidualStd"] < constant.metadata["ALSpatialResidualStd"]
    kernel = varying.psfMatchingKernel
    assert kernel.isSpatiallyVarying and not constant.psfMatchingKernel.isSpatiallyVarying
    left, right = kernel.at(0, 512), kernel.at(1023, 512)
    assert left.sum() == pytest.approx(right.sum(), rel=1e-9)
    # The science PSF widens with x, so the matching kernel must too.
    assert determinant_radius(right) > determinant_radius(left) + 0.3


def test_polynomial_and_chebyshev_models_agree(pair, result):
    science, template, _ = pair
    polynomial = subtract(science, template, spatialModelType="polynomial")
    for x, y in [(10, 20), (256, 256), (500, 480)]:
        np.testing.assert_allclose(polynomial.psfMatchingKernel.at(x, y),
                                   result.psfMatchingKernel.at(x, y), atol=1e-7)
        assert polynomial.psfMatchingKernel.background.at(x, y) == pytest.approx(
            result.psfMatchingKernel.background.at(x, y), abs=1e-4)
