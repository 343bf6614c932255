"""Noise statistics: how much the variance plane under-states the scatter of the pixels."""
from __future__ import annotations

import numpy as np

from diffim.statistics import iqrSigma, lowerSideSigma


def pixelBasedFactor(image: np.ndarray, variance: np.ndarray) -> float:
    """Square of the robust width of ``image / sqrt(variance)`` (1 if the variance is right).

    Parameters
    ----------
    image, variance : numpy.ndarray
        Background-subtracted values and variances of the good pixels (1-D).
    """
    return iqrSigma(image / np.sqrt(variance)) ** 2


def imageBasedFactor(image: np.ndarray, variance: np.ndarray) -> float:
    """Square of the robust width of ``image`` over the square root of the median variance.

    Less exact than :func:`pixelBasedFactor` where the variance varies, but not
    thrown by a few pixels with absurdly small variance.
    """
    return (iqrSigma(image) / np.sqrt(np.median(variance))) ** 2


def sourceRejectedFactor(image: np.ndarray, variance: np.ndarray) -> float:
    """:func:`pixelBasedFactor` for pixels most of which hold some source light.

    The width of ``image / sqrt(variance)`` is measured below its mode
    (:func:`diffim.statistics.lowerSideSigma`), where sources, which only add
    light, leave the noise (nearly) alone.
    """
    return lowerSideSigma(image / np.sqrt(variance))[1] ** 2
