"""Noise statistics: how much the variance plane under-states the scatter of the pixels."""
from __future__ import annotations

import numpy as np

from diffim.convolution import convolve
from diffim.statistics import iqrSigma
from diffim.threads import parallelMap


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


def quietPixels(significance: np.ndarray, usable: np.ndarray, psfSigma: float,
                fraction: float) -> np.ndarray:
    """The usable pixels whose surroundings are the quietest ``fraction`` of them.

    A pixel's surroundings are the square of half-size ``max(4, 2 * psfSigma)``
    around it less the central 5x5 pixels; their mean ``significance**2`` is large
    near sources and subtraction residuals of either sign. Leaving out the pixel and
    its nearest neighbours keeps the selection independent of the pixel's own noise,
    even when a warp has correlated it with its neighbours, so the chosen pixels have
    the noise of the image, not less.

    Parameters
    ----------
    significance : numpy.ndarray
        Background-subtracted image over the square root of its variance (2-D).
    usable : numpy.ndarray
        Boolean, True for the pixels that may be used.
    psfSigma : float
        Gaussian sigma of the PSF (pixels).
    fraction : float
        Fraction of the usable pixels (with enough usable surroundings) to keep.

    Returns
    -------
    numpy.ndarray
        Boolean, True for the chosen pixels.
    """
    half = max(4, int(np.ceil(2.0 * psfSigma)))
    ring = np.ones((2 * half + 1, 2 * half + 1))
    ring[half - 2:half + 3, half - 2:half + 3] = 0.0
    squared = np.where(usable, significance, 0.0) ** 2
    power, count = parallelMap(lambda plane: convolve(plane, ring),
                               [squared, usable.astype(np.float64)])
    candidates = usable & (count > 0.5 * ring.sum())
    quiet = np.zeros_like(usable)
    if not candidates.any():
        return quiet
    local = power[candidates] / count[candidates]
    quiet[candidates] = local <= np.quantile(local, fraction)
    return quiet
