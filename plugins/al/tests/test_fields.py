"""Config fields change what the subtraction does (each run on the shared 512x512 pair)."""
from __future__ import annotations

import pytest
from al_testing import subtract

from diffim.errors import InsufficientKernelSourcesError


def test_cells_and_stars_per_cell(pair, result):
    science, template, _ = pair
    one = subtract(science, template, nStarPerCell=1)
    big = subtract(science, template, sizeCellX=256, sizeCellY=256)
    assert one.metadata["ALCandidatesUsed"] <= 16
    assert big.metadata["ALCandidatesUsed"] <= 12
    assert result.metadata["ALCandidatesUsed"] > 2 * one.metadata["ALCandidatesUsed"]


def test_basis_fields(pair):
    science, template, truth = pair
    small = subtract(science, template, kernelSizeMax=25, alardDegGauss=[2, 2, 1])
    assert small.metadata["ALKernelSize"] == 25
    assert small.metadata["ALBasisDegGauss"] == [2, 2, 1]
    assert small.psfMatchingKernel.kernelSize == 25
    assert small.psfMatchingKernel.kernelSum == pytest.approx(truth.fluxRatio, rel=0.01)


def test_residual_limits_reject_more_candidates(pair, result):
    science, template, _ = pair
    strict = subtract(science, template, candidateResidualStdMax=1.02)
    core = subtract(science, template, useCoreStats=True, candidateResidualStdMax=1.02)
    loose = subtract(science, template, singleKernelClipping=False, kernelSumClipping=False,
                     spatialKernelClipping=False, kernelCentroidClipping=False)
    assert strict.metadata["ALCandidatesRejected"] > result.metadata["ALCandidatesRejected"]
    assert core.metadata["ALCandidatesRejected"] != strict.metadata["ALCandidatesRejected"]
    assert loose.metadata["ALCandidatesRejected"] == 0
    assert loose.metadata["ALSpatialIterations"] == 1


def test_kernel_sum_clipping_protects_against_variables(pair, result):
    """Clipping on kernel sums (and residuals) removes the 3 variable stars from the fit."""
    science, template, truth = pair
    loose = subtract(science, template, singleKernelClipping=False, kernelSumClipping=False,
                     spatialKernelClipping=False, kernelCentroidClipping=False)
    clippedError = abs(result.psfMatchingKernel.kernelSum / truth.fluxRatio - 1.0)
    looseError = abs(loose.psfMatchingKernel.kernelSum / truth.fluxRatio - 1.0)
    assert clippedError < 0.003
    assert looseError > 2.0 * clippedError


def test_weighting_and_iterations(pair):
    science, template, truth = pair
    perPixel = subtract(science, template, constantVarianceWeighting=False,
                        maxSpatialIterations=1)
    assert perPixel.metadata["ALSpatialIterations"] <= 2
    assert perPixel.psfMatchingKernel.kernelSum == pytest.approx(truth.fluxRatio, rel=0.01)


def test_condition_number_check(pair):
    science, template, _ = pair
    with pytest.raises(InsufficientKernelSourcesError):
        subtract(science, template, checkConditionNumber=True, maxConditionNumber=10.0)


def test_a_bad_mask_plane_the_exposures_lack_counts_as_empty(pair, caplog):
    science, template, _ = pair
    with caplog.at_level("INFO", logger="diffim.mask"):
        absent = subtract(science, template, badMaskPlanes=["SAT", "CROSSTALK"])
    plain = subtract(science, template, badMaskPlanes=["SAT"])
    assert absent.metadata["ALKernelSum"] == plain.metadata["ALKernelSum"]
    assert "subtract.badMaskPlanes names the mask plane CROSSTALK" in caplog.text
