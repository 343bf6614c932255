"""PSF-weighted significance at positions: the 'does this image show a star here' test."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.photometry import psfWeightedSignificance
from diffim.psf import GaussianPsf


def test_star_significance_is_its_matched_filter_snr_and_blank_sky_is_noise():
    rng = np.random.default_rng(2)
    psf = GaussianPsf(1.8).at(0.0, 0.0)
    image = np.full((200, 200), 500.0)                     # sky the ring median removes
    variance = np.full_like(image, 100.0)
    half = psf.shape[0] // 2
    flux = 2000.0
    image[100 - half:101 + half, 60 - half:61 + half] += flux * psf
    expected = flux * np.sum(psf ** 2) / np.sqrt(100.0 * np.sum(psf ** 2))
    noisy = image + rng.normal(0.0, 10.0, image.shape)
    x = np.array([60, 140, 3])
    y = np.array([100, 100, 100])
    significance = psfWeightedSignificance(noisy, variance, x, y, psf)
    assert significance[0] == pytest.approx(expected, rel=0.05)       # about 41
    assert abs(significance[1]) < 4.0                                   # blank sky
    assert np.isnan(significance[2])                                    # stamp off the image
    noisy[100, 140] = np.nan
    assert np.isnan(psfWeightedSignificance(noisy, variance, x[1:2], y[1:2], psf)[0])
