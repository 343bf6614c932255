"""The difference image's noise in units of what its variance plane predicts."""
from __future__ import annotations

import numpy as np

from .exposure import Exposure
from .statistics import madSigma

#: Mask planes whose pixels do not sample the difference's noise.
NOT_NOISE_PLANES = ("NO_DATA", "DETECTED", "DETECTED_NEGATIVE", "SAT", "EDGE")


def cleanSignificance(difference: Exposure) -> np.ndarray:
    """difference / sqrt(variance) at the clean, finite pixels (flattened).

    Its robust width is the run's noise ratio: 1 when the variance plane
    describes the difference's noise.
    """
    bad = difference.maskedPixels(*NOT_NOISE_PLANES)
    z = difference.image[~bad] / np.sqrt(difference.variance[~bad])
    return z[np.isfinite(z)]


def noiseRatio(significance: np.ndarray) -> float:
    """Robust width (:func:`diffim.statistics.madSigma`) of a :func:`cleanSignificance`
    sample: the run's noise ratio; NaN with fewer than two values."""
    return madSigma(significance) if significance.size >= 2 else float("nan")
