"""The difference and score images have the noise their variance planes claim."""
from __future__ import annotations

import numpy as np
import pytest

from diffim import Exposure, GaussianPsf
from diffim.statistics import iqrSigma
from zogy_testing import localPeaks, normalisedNoise, simulated, sourceFree, subtract


@pytest.mark.parametrize("seeingRatio, psfVariation, grid", [
    (1.3, 0.0, False),   # science seeing worse than the template's
    (0.7, 0.0, False),   # science sharper
    (1.0, 0.0, False),   # equal seeing
    (1.3, 0.3, True),    # PSF width changing by 30% across the image, spatial grid
], ids=["worse", "sharper", "equal", "varying-grid"])
def test_difference_noise_matches_variance(seeingRatio, psfVariation, grid):
    science, template, truth = simulated(1024, seeingRatio=seeingRatio, seed=21,
                                         psfVariation=psfVariation)
    result = subtract(science, template, doSpatialGrid=grid)
    difference = result.subtractedExposure
    free = sourceFree(difference.shape, truth, 12)
    noise = normalisedNoise(difference, free)
    assert noise.size > 500_000
    assert iqrSigma(noise) == pytest.approx(1.0, abs=0.05)
    assert abs(np.median(noise)) < 0.02
    score = result.scoreExposure
    assert iqrSigma(normalisedNoise(score, free)) == pytest.approx(1.0, abs=0.05)
    if grid:
        assert result.metadata["zogyGridCells"][0] > 1


def _uniformNoisePair(shape, scienceSigma, templateSigma, scienceVar, templateVar, seed):
    rng = np.random.default_rng(seed)
    exposures = []
    for sigma, var in ((scienceSigma, scienceVar), (templateSigma, templateVar)):
        image = rng.normal(0.0, np.sqrt(var), shape)
        exposures.append(Exposure(image=image, variance=np.full(shape, var),
                                  psf=GaussianPsf(sigma)))
    return exposures


@pytest.mark.parametrize("sigmas", [(3.3, 2.2), (2.2, 3.3)], ids=["worse", "sharper"])
def test_difference_of_pure_noise_is_white(sigmas):
    """LSST's check: Var(D) = σ_n² + σ_r² in science units, and no correlated noise."""
    science, template = _uniformNoisePair((512, 512), *sigmas, 100.0, 100.0, seed=3)
    result = subtract(science, template, scaleByCalibration=False, correctBackground=False)
    difference = result.subtractedExposure
    inner = np.s_[40:-40, 40:-40]
    image = difference.image[inner].astype(np.float64)
    assert np.var(image) == pytest.approx(200.0, rel=0.05)
    assert np.mean(difference.variance[inner]) == pytest.approx(200.0, rel=0.02)
    # A PSF-matched (AL-like) difference has neighbour correlations of tens of per cent.
    for lagged, base in ((image[1:, :], image[:-1, :]), (image[:, 1:], image[:, :-1])):
        assert abs(np.corrcoef(base.ravel(), lagged.ravel())[0, 1]) < 0.02
    score = result.scoreExposure
    assert np.nanmax(np.abs(score.image / np.sqrt(score.variance))) < 5.0


def test_score_has_no_false_detections_without_transients():
    science, template, truth = simulated(1000, seeingRatio=1.3, seed=31, nTransients=0)
    score = subtract(science, template).scoreExposure
    significance = np.where(score.mask == 0, score.image / np.sqrt(score.variance), np.nan)
    assert len(localPeaks(significance, 5.0)) <= 1
    assert len(localPeaks(-significance, 5.0)) <= 1


def test_score_finds_the_transients(worsePair, worseResult):
    _, _, truth = worsePair
    score = worseResult.scoreExposure
    significance = score.image / np.sqrt(score.variance)
    bright = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] > 8)]
    peaks = [np.nanmax(significance[int(round(y)) - 1:int(round(y)) + 2,
                                    int(round(x)) - 1:int(round(x)) + 2])
             for x, y in zip(bright["x"], bright["y"])]
    assert len(bright) > 20
    assert np.mean(np.array(peaks) > 5.0) > 0.9
    # The score is the PSF-fit flux: its value at a transient is that transient's flux.
    ratios = [score.image[int(round(y)), int(round(x))] / flux
              for x, y, flux in zip(bright["x"], bright["y"], bright["differenceFlux"])]
    assert np.median(ratios) == pytest.approx(1.0, abs=0.1)
