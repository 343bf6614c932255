"""A detection exposure with sources, masks and known noise for the sky-source tests."""
from __future__ import annotations

import numpy as np
import pytest

from diffim import Exposure, GaussianPsf
from diffim.morphology import growMask

#: PSF sigma and noise rms of the test exposure.
SIGMA, NOISE = 2.0, 10.0

#: Radius (pixels) of the detection mask around each source.
MASK_RADIUS = 8


def detectionExposure(size: int = 1024, nSources: int = 150, seed: int = 0) -> Exposure:
    """White noise with bright positive and negative point sources, detected and masked.

    Sources are Gaussian (``SIGMA``) stamps of |flux| 2e4-1e5 (S/N > 400); each gets
    DETECTED (or DETECTED_NEGATIVE) on a disc of radius ``MASK_RADIUS``. A NO_DATA band
    covers the top 100 rows (image 0 there, as the core sanitises NaNs) and a BAD column
    runs down x = 300.
    """
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, NOISE, (size, size))
    psf = GaussianPsf(SIGMA)
    half = psf.image.shape[0] // 2
    centres = {1.0: np.zeros((size, size), bool), -1.0: np.zeros((size, size), bool)}
    for _ in range(nSources):
        x, y = rng.integers(half, size - half, 2)
        sign = rng.choice([-1.0, 1.0])
        flux = sign * rng.uniform(2e4, 1e5)
        image[y - half:y + half + 1, x - half:x + half + 1] += flux * psf.image
        centres[sign][y, x] = True
    image[size - 100:, :] = 0.0
    exposure = Exposure(image=image, variance=np.full((size, size), NOISE ** 2), psf=psf)
    exposure.setMask(growMask(centres[1.0], MASK_RADIUS, "euclidean"), "DETECTED")
    exposure.setMask(growMask(centres[-1.0], MASK_RADIUS, "euclidean"), "DETECTED_NEGATIVE")
    noData = np.zeros((size, size), bool)
    noData[size - 100:, :] = True
    exposure.setMask(noData, "NO_DATA")
    bad = np.zeros((size, size), bool)
    bad[:, 300] = True
    exposure.setMask(bad, "BAD")
    return exposure


@pytest.fixture(scope="module")
def detected() -> Exposure:
    """:func:`detectionExposure` with its defaults (do not modify it)."""
    return detectionExposure()


@pytest.fixture
def makeDetected():
    """:func:`detectionExposure`."""
    return detectionExposure
