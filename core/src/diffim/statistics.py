"""Robust statistics of pixel samples: the one clipped estimator every step uses.

The clipped statistic is LSST's ``MEANCLIP`` (``afw.math.Statistics``): the first
pass clips about the median with a width from the interquartile range, so bright
sources cannot inflate the starting estimate; each later pass clips the *whole*
sample about the mean of the values kept by the pass before, with their standard
deviation. Callers choose the threshold and the number of passes, and pass the
values they want measured (masking is theirs to do, with :func:`sampleGood` when an
image is large).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Gaussian standard deviation per unit interquartile range (1 / 1.34898).
SIGMA_PER_IQR = 0.741301

#: Gaussian standard deviation per unit median absolute deviation (1 / 0.674490).
SIGMA_PER_MAD = 1.482602

#: Statistics of larger images use a regular subsample of at most this many pixels.
MAX_SAMPLES = 1 << 18

#: :func:`median` of larger samples brackets the middle from a regular subsample of
#: about ``SELECT_SAMPLES`` values and partitions only the values inside the bracket.
SELECT_MIN_SIZE = 1 << 18
SELECT_SAMPLES = 1 << 16

#: Half-width of that bracket in subsample ranks, in units of sqrt(SELECT_SAMPLES): the
#: middle of a random subsample strays by at most half of one (one sigma).
SELECT_MARGIN = 4.0


@dataclass(frozen=True)
class ClippedStats:
    """The result of :func:`clippedStats`.

    Attributes
    ----------
    mean : float
        Mean of the kept values (NaN when none is finite).
    stdev : float
        Their sample standard deviation (``ddof=1``; 0 for a single value).
    median : float
        Median of the finite input values.
    nKept : int
        Values kept by the last pass.
    """

    mean: float
    stdev: float
    median: float
    nKept: int


def clippedStats(values: np.ndarray, nSigma: float = 3.0, nIter: int = 3) -> ClippedStats:
    """Sigma-clipped mean and standard deviation (LSST's MEANCLIP).

    Parameters
    ----------
    values : numpy.ndarray
        Sample of any shape; non-finite values are ignored.
    nSigma : float
        Clipping half-width in standard deviations.
    nIter : int
        Clipping passes. A pass that would keep fewer than two values is not applied.

    Returns
    -------
    ClippedStats
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return ClippedStats(float("nan"), float("nan"), float("nan"), 0)
    q25, median, q75 = np.percentile(values, [25.0, 50.0, 75.0])
    centre, width = median, SIGMA_PER_IQR * (q75 - q25)
    kept = values
    for _ in range(nIter):
        if not width > 0:
            break
        trial = values[np.abs(values - centre) <= nSigma * width]
        if trial.size < 2:
            break
        kept = trial
        centre, width = kept.mean(), kept.std(ddof=1)
    stdev = float(kept.std(ddof=1)) if kept.size > 1 else 0.0
    return ClippedStats(float(kept.mean()), stdev, float(median), int(kept.size))


def clippedMean(values: np.ndarray, nSigma: float = 3.0, nIter: int = 3) -> float:
    """The mean of :func:`clippedStats` (NaN when no value is finite)."""
    return clippedStats(values, nSigma, nIter).mean


def clippedStdev(values: np.ndarray, nSigma: float = 3.0, nIter: int = 3) -> float:
    """The standard deviation of :func:`clippedStats` (NaN when no value is finite)."""
    return clippedStats(values, nSigma, nIter).stdev


def iqrSigma(values: np.ndarray) -> float:
    """Gaussian-equivalent standard deviation from the interquartile range of the finite values.

    NaN when no value is finite.
    """
    values = _finite(values)
    if values.size == 0:
        return float("nan")
    q25, q75 = np.percentile(values, [25.0, 75.0])
    return float(SIGMA_PER_IQR * (q75 - q25))


def _finite(values: np.ndarray) -> np.ndarray:
    """The finite values, flattened (no copy when all are finite and float)."""
    values = np.ravel(np.asarray(values))
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


def median(values: np.ndarray) -> float:
    """The median of a 1-D sample of finite values, exactly as :func:`numpy.median` gives it.

    A large sample is not partitioned whole: the two middle values are bracketed
    by the order statistics of a regular subsample, the values below the bracket
    counted and only those inside it partitioned (three passes over the data
    instead of a copy and a full selection; an unlucky bracket falls back to the
    full selection, so the result never depends on the subsample).

    Parameters
    ----------
    values : numpy.ndarray
        1-D finite values (float); not modified.

    Returns
    -------
    float
        The middle value, or the mean of the two middle ones in ``values``' dtype
        (as numpy computes it); NaN for an empty sample.
    """
    values = np.asarray(values)
    if values.size == 0:
        return float("nan")
    lower, upper = _middleValues(values)
    return float(np.median(np.array([lower, upper], dtype=values.dtype)))


def _middleValues(values: np.ndarray) -> tuple[float, float]:
    """The values of ranks ``(n - 1) // 2`` and ``n // 2`` of the sorted sample."""
    n = values.size
    ranks = ((n - 1) // 2, n // 2)
    if n >= SELECT_MIN_SIZE:
        sample = np.sort(values[::n // SELECT_SAMPLES])
        margin = int(SELECT_MARGIN * np.sqrt(sample.size)) + 1
        first = min(max(ranks[0] * sample.size // n - margin, 0), sample.size - 1)
        last = min(ranks[1] * sample.size // n + margin, sample.size - 1)
        low, high = sample[first], sample[last]
        below = int(np.count_nonzero(values < low))
        inside = values[(values >= low) & (values <= high)]
        if below <= ranks[0] and ranks[1] < below + inside.size:
            part = np.partition(inside, (ranks[0] - below, ranks[1] - below))
            return part[ranks[0] - below], part[ranks[1] - below]
    part = np.partition(values, ranks)
    return part[ranks[0]], part[ranks[1]]


def madSigma(values: np.ndarray, centre: float | None = None, nSigma: float = 3.0,
             nIter: int = 0) -> float:
    """Gaussian-equivalent standard deviation from the median absolute deviation.

    Parameters
    ----------
    values : numpy.ndarray
        Sample; non-finite values are ignored.
    centre : float, optional
        The point deviations are measured from; the median when omitted.
    nSigma : float
        With ``nIter``: the clipping half-width in current sigmas.
    nIter : int
        Passes that keep only the values within ``nSigma`` of the centre (the
        median of those kept, unless ``centre`` is given) and measure again.

    Returns
    -------
    float
        ``1.4826 * median(|values - centre|)``; NaN when no value is finite.
    """
    values = _finite(values)
    if values.size == 0:
        return float("nan")
    middle = _median64(values) if centre is None else float(centre)
    sigma = SIGMA_PER_MAD * _median64(_deviations(values, middle))
    for _ in range(nIter):
        if not sigma > 0:
            break
        kept = values[_deviations(values, middle) < nSigma * sigma]
        if kept.size == 0:
            break
        middle = _median64(kept) if centre is None else middle
        sigma = SIGMA_PER_MAD * _median64(_deviations(kept, middle))
    return float(sigma)


def _deviations(values: np.ndarray, centre: float) -> np.ndarray:
    """``|values - centre|`` in float64, in one pass."""
    deviations = np.subtract(values, centre, dtype=np.float64)
    return np.abs(deviations, out=deviations)


def _median64(values: np.ndarray) -> float:
    """:func:`median` of the values taken as float64 (exact for any float input)."""
    lower, upper = _middleValues(values)
    return (float(lower) + float(upper)) / 2.0


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


@dataclass(frozen=True)
class RobustMean:
    """The result of :func:`robustWeightedMean`.

    Attributes
    ----------
    mean : float
        Weighted mean of the kept values.
    error : float
        Its standard error (intrinsic scatter included).
    kept : numpy.ndarray
        True for the values the mean rests on.
    intrinsic : float
        Scatter of the kept values beyond their errors (standard deviation).
    """

    mean: float
    error: float
    kept: np.ndarray
    intrinsic: float

    @property
    def nKept(self) -> int:
        return int(np.count_nonzero(self.kept))


def robustWeightedMean(values: np.ndarray, errors: np.ndarray, nSigma: float = 3.0,
                       nIter: int = 10) -> RobustMean:
    """Inverse-variance weighted mean of measurements, with outliers rejected.

    Made for per-object ratios (flux scales, kernel sums) where most objects agree
    and some (variables, transients, blends) do not. The start is the median of the
    densest half of the values (the shortest interval holding ``n // 2 + 1`` of
    them), so that a majority of constant objects wins even when the others scatter
    widely. The scatter of the kept values beyond their errors (from their MAD
    about the centre) is an intrinsic error added in quadrature; values farther
    from the centre than ``nSigma`` total errors are rejected and the centre becomes
    the median of the rest, until nothing changes or ``nIter`` rounds pass.

    Parameters
    ----------
    values, errors : numpy.ndarray
        Measurements and their 1-sigma errors (finite, errors positive).
    nSigma : float
        Rejection threshold in total errors.
    nIter : int
        Largest number of rejection rounds.

    Returns
    -------
    RobustMean
        NaN mean and error (nothing kept) when ``values`` is empty.
    """
    values = np.asarray(values, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if values.size == 0:
        return RobustMean(float("nan"), float("nan"), np.zeros(0, dtype=bool), 0.0)
    keep = _densestHalf(values)
    centre = float(np.median(values[keep]))
    total, intrinsic = errors, 0.0
    for _ in range(nIter):
        spread = SIGMA_PER_MAD * float(np.median(np.abs(values[keep] - centre)))
        intrinsic = max(spread ** 2 - float(np.median(errors[keep] ** 2)), 0.0)
        total = np.sqrt(errors ** 2 + intrinsic)
        trial = np.abs(values - centre) <= nSigma * total
        if not trial.any() or np.array_equal(trial, keep):
            break
        keep = trial
        centre = float(np.median(values[keep]))
    weights = 1.0 / total[keep] ** 2
    mean = float(np.sum(weights * values[keep]) / np.sum(weights))
    return RobustMean(mean, float(1.0 / np.sqrt(np.sum(weights))), keep,
                      float(np.sqrt(intrinsic)))


def _densestHalf(values: np.ndarray) -> np.ndarray:
    """Boolean of the ``n // 2 + 1`` values spanning the shortest interval."""
    order = np.argsort(values)
    count = values.size // 2 + 1
    widths = values[order[count - 1:]] - values[order[:values.size - count + 1]]
    start = int(np.argmin(widths))
    keep = np.zeros(values.size, dtype=bool)
    keep[order[start:start + count]] = True
    return keep
