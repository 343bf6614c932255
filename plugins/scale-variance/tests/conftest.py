"""Synthetic exposures for the scaleVariance tests (helpers are fixtures: importlib mode)."""
from __future__ import annotations

import numpy as np
import pytest

from diffim import Exposure, GaussianPsf


def noiseExposure(shape: tuple[int, int], noise: float, varianceScale: float,
                  rng: np.random.Generator) -> Exposure:
    """White noise of rms ``noise`` whose variance plane is ``varianceScale * noise**2``."""
    image = rng.normal(0.0, noise, shape).astype(np.float32)
    variance = np.full(shape, varianceScale * noise ** 2, dtype=np.float32)
    return Exposure(image=image, variance=variance, psf=GaussianPsf(1.5))


@pytest.fixture
def makeNoise():
    """:func:`noiseExposure`."""
    return noiseExposure
