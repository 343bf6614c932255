"""Spatial model: functions of position, and matching a PSF that varies across the image."""
from __future__ import annotations

import numpy as np
import pytest
from al_testing import subtract

from diffim.psf import determinant_radius


def test_spatial_terms_span_the_image_and_draw_the_background(pair, result):
    """``spatialModelType`` chebyshev1 gives Chebyshev terms over the image mapped onto
    [-1, 1]; the background image is the model evaluated at every pixel."""
    science, _, _ = pair
    height, width = science.shape
    kernel = result.psfMatchingKernel
    assert kernel.functions.kind == "chebyshev" and kernel.functions.order == 1
    np.testing.assert_allclose(kernel.functions.evaluate([0, width - 1], [0, height - 1]),
                               [[1, -1, -1], [1, 1, 1]])
    background = kernel.background
    assert background.functions.kind == "chebyshev" and background.functions.nTerms == 6
    image = background.image()
    assert image.shape == (height, width) and image.dtype == np.float32
    for x, y in [(0, 0), (width - 1, 0), (200, 300), (width - 1, height - 1)]:
        assert image[y, x] == pytest.approx(background.at(x, y), rel=1e-5, abs=1e-6)


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
    assert polynomial.psfMatchingKernel.functions.kind == "polynomial"
    for x, y in [(10, 20), (256, 256), (500, 480)]:
        np.testing.assert_allclose(polynomial.psfMatchingKernel.at(x, y),
                                   result.psfMatchingKernel.at(x, y), atol=1e-7)
        assert polynomial.psfMatchingKernel.background.at(x, y) == pytest.approx(
            result.psfMatchingKernel.background.at(x, y), abs=1e-4)
