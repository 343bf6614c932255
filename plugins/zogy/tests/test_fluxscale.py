"""The template-to-science flux ratio."""
from __future__ import annotations

import numpy as np
import pytest

from diffim.statistics import robustWeightedMean
from diffim_zogy.fluxscale import fitFluxRatio
from zogy_testing import simulated


def test_robust_mean_outvotes_variable_stars():
    """The per-star ratios are combined by diffim.statistics.robustWeightedMean: a
    minority of scattered variables loses even when their errors are the smallest."""
    rng = np.random.default_rng(5)
    errors = rng.uniform(0.005, 0.05, 40)
    values = 3.6 + rng.normal(0.0, 1.0, 40) * errors
    values[:15] = rng.uniform(1.8, 7.0, 15)   # 37% variables, some very precise
    errors[:15] = 0.002
    combined = robustWeightedMean(values, errors)
    assert combined.nKept == 25
    assert combined.mean == pytest.approx(3.6, abs=3 * combined.error)
    assert combined.error < 0.01


@pytest.mark.parametrize("seeingRatio", [1.3, 0.7])
def test_fitted_ratio_matches_the_calibrations(seeingRatio):
    science, template, _ = simulated(768, seeingRatio=seeingRatio, seed=9, nVariables=15,
                                     templateFluxScale=2.5)
    unusable = ((science.mask | template.mask) & science.bitmask("SAT", "NO_DATA")) != 0
    scaling = fitFluxRatio(science, template, unusable)
    assert scaling.source == "fit"
    assert scaling.ratio == pytest.approx(2.5, rel=0.01)
    assert abs(scaling.ratio - 2.5) < 4 * scaling.error
