"""The smooth background removed from the difference and score images."""
from __future__ import annotations

import numpy as np
import pytest

from diffim import Exposure, GaussianPsf
from zogy_testing import localPeaks, subtract


def _gradientPair(seed: int, size: int = 256) -> tuple[Exposure, Exposure]:
    """Starless pair of sky 1000 and variance 1000; the science sky rises by 5% across x."""
    rng = np.random.default_rng(seed)
    xx = np.mgrid[:size, :size][1]
    exposures = []
    for sigma, gradient in ((2.6, 0.05), (2.0, 0.0)):
        image = 1000.0 * (1.0 + gradient * (xx / size - 0.5)) + rng.normal(0.0, np.sqrt(1000.0),
                                                                           xx.shape)
        exposures.append(Exposure(image=image.astype(np.float32),
                                  variance=np.full(xx.shape, 1000.0, dtype=np.float32),
                                  psf=GaussianPsf(sigma)))
    return exposures[0], exposures[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_gradient_across_an_image_smaller_than_two_bins_is_removed(seed):
    """The 256-px images are smaller than one 256-px bin; the background has two bins per
    axis at least, so the 50-ADU gradient leaves D and S (one bin would leave it: 13 to 19
    false 5-sigma score peaks on such pairs, and a 0.25-sigma tilt of D). The second
    estimate of the background takes up what the masked border hid from the first
    (0.05 sigma of D left at the sides without it, under 0.03 with it)."""
    result = subtract(*_gradientPair(seed), scaleByCalibration=False)
    score = result.scoreExposure
    significance = np.where(score.mask == 0, score.image / np.sqrt(score.variance), np.nan)
    assert len(localPeaks(significance, 5.0)) == 0
    assert len(localPeaks(-significance, 5.0)) == 0
    difference = result.subtractedExposure
    normalised = np.where(difference.mask == 0,
                          difference.image / np.sqrt(difference.variance), np.nan)
    for columns in (slice(40, 100), slice(156, 216)):
        assert abs(np.nanmedian(normalised[:, columns])) < 0.04
