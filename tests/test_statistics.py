"""The one clipped statistic (LSST MEANCLIP) and the robust weighted mean."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.statistics import (clippedStats, iqrSigma, madSigma, robustWeightedMean,
                               sampleGood)


def test_clipped_stats_ignore_bright_outliers_and_nan():
    rng = np.random.default_rng(3)
    values = rng.normal(100.0, 5.0, 20_000)
    values[:500] = 1e5
    values[500:510] = np.nan
    stats = clippedStats(values)
    assert stats.mean == pytest.approx(100.0, abs=0.15)
    # 3-sigma clipping of a Gaussian keeps 99.7 % and narrows it by 1.3 %
    assert stats.stdev == pytest.approx(5.0 * 0.987, rel=0.03)
    assert 19_000 < stats.nKept < 19_500
    assert np.isnan(clippedStats(np.array([np.nan])).mean)


def test_clipped_stats_first_pass_uses_the_quartiles_not_the_polluted_stdev():
    # a fifth of the sample far off: a first pass about the mean with the full
    # standard deviation would keep it, the quartile width rejects it
    values = np.concatenate([np.random.default_rng(1).normal(0.0, 1.0, 6000),
                             np.full(1500, 50.0)])
    assert abs(clippedStats(values).mean) < 0.05


def test_robust_widths_agree_on_gaussian_noise():
    values = np.random.default_rng(2).normal(0.0, 2.0, 200_000)
    assert iqrSigma(values) == pytest.approx(2.0, rel=0.01)
    assert madSigma(values) == pytest.approx(2.0, rel=0.01)
    assert madSigma(values, centre=1.0) > 2.2


def test_sample_good_subsamples_large_images():
    image = np.arange(2000 * 2000, dtype=np.float32).reshape(2000, 2000)
    good = np.ones(image.shape, dtype=bool)
    good[:, :1000] = False
    sample = sampleGood(image, good, maxSamples=250_000)
    assert sample.size == 500 * 250   # every 4th row and column
    assert np.all(sample % 2000 >= 1000)


def test_robust_weighted_mean_rejects_a_minority_of_variables():
    rng = np.random.default_rng(4)
    errors = rng.uniform(0.005, 0.02, 60)
    values = 0.278 + rng.normal(0.0, errors)
    values[:15] *= rng.uniform(1.5, 4.0, 15)        # variables and transients
    result = robustWeightedMean(values, errors)
    assert result.mean == pytest.approx(0.278, abs=0.003)
    assert not result.kept[:15].any() and result.nKept >= 43
    assert result.error < 0.003
    assert np.isnan(robustWeightedMean(np.empty(0), np.empty(0)).mean)
