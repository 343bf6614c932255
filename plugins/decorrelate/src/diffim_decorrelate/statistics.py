"""The mean variance of an exposure's variance plane, as the decorrelation filter needs it."""
from __future__ import annotations

import numpy as np

from diffim.statistics import clippedMean


def meanVariance(variance: np.ndarray, mask: np.ndarray, ignoreBits: int) -> float:
    """Clipped mean of a variance plane over the pixels with none of ``ignoreBits`` set.

    The statistic is :func:`diffim.statistics.clippedMean` (LSST's MEANCLIP: 3 sigma,
    3 passes), the one the zogy subtraction also uses for its mean variances.

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
    return clippedMean(variance[(mask & ignoreBits) == 0])
