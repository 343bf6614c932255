"""Robust image statistics: sigma-clipped means over the usable pixels."""
from __future__ import annotations

import numpy as np

#: Statistics of larger images use a regular subsample of at most this many pixels.
MAX_SAMPLES = 1 << 18


def clippedMean(values: np.ndarray, nSigma: float = 3.0, nIter: int = 3) -> float:
    """Mean after ``nIter`` rounds of rejecting values beyond ``nSigma`` standard deviations.

    Each round centres on the median of the values kept so far (robust against the
    bright tail of stars) and measures their standard deviation.

    Parameters
    ----------
    values : numpy.ndarray
        Sample (any shape); non-finite values are ignored.
    nSigma : float
        Clipping threshold.
    nIter : int
        Clipping rounds.

    Returns
    -------
    float
        The clipped mean; NaN when no finite value is given.
    """
    kept = np.asarray(values, dtype=np.float64).ravel()
    kept = kept[np.isfinite(kept)]
    if kept.size == 0:
        return float("nan")
    for _ in range(nIter):
        width = kept.std()
        if not width > 0:
            break
        inside = np.abs(kept - np.median(kept)) <= nSigma * width
        if inside.all():
            break
        kept = kept[inside]
    return float(kept.mean())


def sampleGood(array: np.ndarray, good: np.ndarray, maxSamples: int = MAX_SAMPLES) -> np.ndarray:
    """The values of ``array`` where ``good`` is True, on a regular subsample.

    Every ``s``-th row and column is taken, with ``s`` the smallest stride that leaves
    at most ``maxSamples`` pixels; images that small are used whole.

    Parameters
    ----------
    array : numpy.ndarray
        2-D values.
    good : numpy.ndarray
        Boolean array of the same shape.
    maxSamples : int
        Largest number of pixels to look at.

    Returns
    -------
    numpy.ndarray
        1-D selected values.
    """
    stride = max(1, int(np.ceil(np.sqrt(array.size / maxSamples))))
    return array[::stride, ::stride][good[::stride, ::stride]]
