"""Kernel-candidate QA: residuals of each candidate under its own and the spatial kernel."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from al_testing import makePair, subtract


def _fluxChange(qa, truth):
    """Science over predicted flux of the star under each candidate (2 for the variables)."""
    _, index = cKDTree(np.column_stack([truth.x, truth.y])).query(
        np.column_stack([qa["x"], qa["y"]]))
    return truth.scienceFlux[index] / (truth.templateFlux[index] * truth.fluxRatio)


def test_good_candidates_leave_noise_under_both_kernels(result):
    qa = result.candidateTable()
    used = qa[qa["KCUsed"]]
    assert len(used) == result.nKernelStars > 30
    local = np.asarray(used["KCDiffimStDev_LOCAL"])
    spatial = np.asarray(used["KCDiffimStDev_SPATIAL"])
    assert np.median(local) == pytest.approx(1.0, abs=0.05)
    assert local.max() < 1.2
    assert np.median(spatial) == pytest.approx(np.median(local), abs=0.05)
    assert np.all(np.abs(used["KCDiffimMean_LOCAL"]) < 0.05)
    assert np.all(np.abs(used["KCDiffimMedian_SPATIAL"]) < 0.3)


def test_a_variable_fits_its_own_kernel_but_not_the_spatial_one(pair, result):
    qa = result.candidateTable()
    variable = qa[_fluxChange(qa, pair[2]) > 1.5]
    assert len(variable) == 2
    assert not np.any(variable["KCUsed"])
    assert np.all(variable["KCDiffimStDev_LOCAL"] < 1.2)
    assert np.all(variable["KCDiffimStDev_SPATIAL"] > 4.0)
    assert np.all(variable["KCDiffimMean_SPATIAL"] > 1.0)      # the science is brighter


def test_residuals_are_positive_where_the_science_is_brighter_when_it_is_convolved():
    science, template, truth = makePair(256, nStars=60, seed=2, templateSigma=2.08,
                                        scienceSigma=1.6, nVariables=2)
    qa = subtract(science, template, convolveTemplate=False).candidateTable()
    variable = qa[_fluxChange(qa, truth) > 1.5]
    assert len(variable) == 1
    assert variable["KCDiffimMean_SPATIAL"][0] > 2.0
