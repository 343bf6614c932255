"""Smooth background of an image: sigma-clipped bin levels joined by a spline."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.interpolate import make_interp_spline

#: Bin statistics use a regular subsample of at most this many pixels.
MAX_BACKGROUND_SAMPLES = 1 << 22

#: A bin needs at least this many usable pixels to get its own level.
MIN_BIN_PIXELS = 20

#: Rounds of refitting the bin levels to the residuals of the spline model.
REFINE_ROUNDS = 5


def smoothBackground(image: np.ndarray, good: np.ndarray, binSize: int,
                     nSigma: float = 3.0, nIter: int = 3) -> np.ndarray:
    """Background model of ``image``: a spline through sigma-clipped bin levels.

    The image is cut into ``round(size / binSize)`` bins along each axis, and at
    least two, so that a gradient across an image smaller than two bins is still
    followed (a single bin would leave it in the image). Each bin's level starts as
    the mean of its usable pixels after ``nIter`` rounds of ``nSigma`` clipping about
    the bin mean; the levels are interpolated between bin centres with a spline of
    degree up to 3 along each axis (a line through two bins, extended to the edges). Because masked pixels move a bin's
    centroid away from its centre, the levels are then corrected
    :data:`REFINE_ROUNDS` times by the mean residual of the kept pixels from the
    spline, which makes the model exact for backgrounds the spline can represent.
    Bins without enough usable pixels take the level of the nearest bin that has them.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image.
    good : numpy.ndarray
        True where a pixel may be used (not masked, finite).
    binSize : int
        Bin size in pixels.
    nSigma : float
        Clipping threshold in standard deviations.
    nIter : int
        Clipping rounds.

    Returns
    -------
    numpy.ndarray
        float32 background of ``image``'s shape; zeros when no pixel is usable.
    """
    height, width = image.shape
    nY = max(2, int(round(height / binSize)))
    nX = max(2, int(round(width / binSize)))
    stride = max(1, int(np.ceil(np.sqrt(image.size / MAX_BACKGROUND_SAMPLES))))
    rows = np.arange(0, height, stride)
    cols = np.arange(0, width, stride)
    bins = _Bins((rows * nY) // height, (cols * nX) // width, nY, nX)
    use = good[::stride, ::stride]
    values = np.where(use, image[::stride, ::stride], np.float32(0.0))

    keep = _clip(bins, values, use, nSigma, nIter)
    count = bins.sums(keep)
    valid = count >= MIN_BIN_PIXELS
    if not valid.any():
        return np.zeros(image.shape, dtype=np.float32)
    weights = keep.astype(np.float32)
    rowBasis = _splineBasis(nY, height, rows)
    colBasis = _splineBasis(nX, width, cols)
    levels = _fillInvalid(bins.sums(values * weights) / np.maximum(count, 1), valid)
    for _ in range(REFINE_ROUNDS):
        residual = values - rowBasis @ levels.astype(np.float32) @ colBasis.T
        residual *= weights
        levels += _fillInvalid(bins.sums(residual) / np.maximum(count, 1), valid)
    return (_splineBasis(nY, height, np.arange(height)) @ levels.astype(np.float32)
            @ _splineBasis(nX, width, np.arange(width)).T)


class _Bins:
    """Sums over equal bins of a (subsampled) image whose rows and columns are bin-sorted.

    Parameters
    ----------
    rowBin, colBin : numpy.ndarray
        Non-decreasing bin index of each row and column.
    nY, nX : int
        Number of bins along each axis.
    """

    def __init__(self, rowBin: np.ndarray, colBin: np.ndarray, nY: int, nX: int):
        self.rowStarts = np.searchsorted(rowBin, np.arange(nY))
        self.colStarts = np.searchsorted(colBin, np.arange(nX))
        self.rowCounts = np.diff(np.append(self.rowStarts, len(rowBin)))
        self.colCounts = np.diff(np.append(self.colStarts, len(colBin)))

    def sums(self, array: np.ndarray) -> np.ndarray:
        """``(nY, nX)`` sums of ``array`` over each bin (float32 along rows, then float64)."""
        partial = np.add.reduceat(array, self.colStarts, axis=1, dtype=np.float32)
        return np.add.reduceat(partial, self.rowStarts, axis=0, dtype=np.float64)

    def expand(self, perBin: np.ndarray) -> np.ndarray:
        """A per-pixel float32 array holding each bin's value."""
        return np.repeat(np.repeat(perBin.astype(np.float32), self.rowCounts, axis=0),
                         self.colCounts, axis=1)


def _clip(bins: _Bins, values: np.ndarray, use: np.ndarray, nSigma: float,
          nIter: int) -> np.ndarray:
    """Boolean of the usable values kept after ``nIter`` rounds of clipping about the bin mean."""
    keep = use
    for _ in range(nIter):
        weights = keep.astype(np.float32)
        count = np.maximum(bins.sums(weights), 1)
        mean = bins.sums(values * weights) / count
        std = np.sqrt(np.maximum(bins.sums(values * values * weights) / count - mean ** 2, 0.0))
        keep = use & (np.abs(values - bins.expand(mean)) <= bins.expand(nSigma * std))
    return keep


def _fillInvalid(levels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``levels`` with each invalid bin replaced by its nearest valid bin's level."""
    if valid.all():
        return levels
    nearest = ndimage.distance_transform_edt(~valid, return_distances=False,
                                             return_indices=True)
    return levels[tuple(nearest)]


def _splineBasis(n: int, length: int, at: np.ndarray) -> np.ndarray:
    """``(len(at), n)`` float32 matrix taking ``n`` bin levels to the interpolating spline.

    The spline (degree ``min(3, n - 1)``, ``n >= 2``) passes through the levels at
    the centres of ``n`` equal bins of ``length`` pixels; its end pieces continue to
    the image edges.
    """
    centers = (np.arange(n) + 0.5) * (length / n) - 0.5
    spline = make_interp_spline(centers, np.eye(n), k=min(3, n - 1))
    return spline(np.asarray(at, dtype=np.float64)).astype(np.float32)
