"""The mean variance of an exposure's variance plane, as the decorrelation filter needs it."""
from __future__ import annotations

import numpy as np

#: Ratio of a Gaussian's standard deviation to its inter-quartile range.
SIGMA_PER_IQR = 0.741301

#: Sigma-clipping threshold and number of passes of :func:`clippedMean`.
CLIP_SIGMA = 3.0
CLIP_ITERATIONS = 3


def clippedMean(values: np.ndarray, nSigma: float = CLIP_SIGMA,
                nIter: int = CLIP_ITERATIONS) -> float:
    """Mean of ``values`` after iterative sigma clipping (LSST's MEANCLIP statistic).

    The first pass clips about the median with a width from the inter-quartile
    range; later passes clip about the mean with the standard deviation of the
    survivors. Non-finite values are ignored.

    Parameters
    ----------
    values : numpy.ndarray
        The values (any shape).
    nSigma : float
        Clipping threshold in standard deviations.
    nIter : int
        Number of clipping passes.

    Returns
    -------
    float
        The clipped mean; NaN when no value is finite.
    """
    values = np.asarray(values).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    q25, centre, q75 = np.percentile(values, [25.0, 50.0, 75.0])
    width = SIGMA_PER_IQR * (q75 - q25)
    for _ in range(nIter):
        kept = values[np.abs(values - centre) <= nSigma * width]
        if kept.size == 0:
            break
        values = kept
        centre, width = values.mean(dtype=np.float64), values.std(dtype=np.float64)
    return float(values.mean(dtype=np.float64))


def meanVariance(variance: np.ndarray, mask: np.ndarray, ignoreBits: int) -> float:
    """Clipped mean of a variance plane over the pixels with none of ``ignoreBits`` set.

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
    usable = ((mask & ignoreBits) == 0) & np.isfinite(variance)
    return clippedMean(variance[usable])
