"""The mean variance of an exposure's variance plane, as the decorrelation filter needs it."""
from __future__ import annotations

import numpy as np

from diffim.statistics import clippedMean, sampleGood


def meanVariance(variance: np.ndarray, mask: np.ndarray, ignoreBits: int) -> float:
    """Clipped mean of a variance plane over the pixels with none of ``ignoreBits`` set.

    The statistic is :func:`diffim.statistics.clippedMean` (LSST's MEANCLIP: 3 sigma,
    3 passes) of the :func:`diffim.statistics.sampleGood` subsample (every pixel up to
    512x512, a regular grid of about as many beyond), as the zogy subtraction takes
    its mean variances: a variance plane is smooth, and the whole of a 4096x4096 one
    took a second for the same mean to a part in 1e4.

    Parameters
    ----------
    variance : numpy.ndarray
        Variance plane (or a cut-out of it).
    mask : numpy.ndarray
        The matching mask.
    ignoreBits : int
        OR of the mask bits whose pixels are left out.

    Returns
    -------
    float
        The mean variance; NaN when no pixel is usable.
    """
    return clippedMean(sampleGood(variance, (mask & ignoreBits) == 0))
