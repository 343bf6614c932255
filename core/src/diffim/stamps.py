"""Square cut-outs around many positions at once, and the pixel offsets they cover (shared by measurement plugins)."""
from __future__ import annotations

import numpy as np


def extractStamps(array: np.ndarray, xc: np.ndarray, yc: np.ndarray, half: int,
                  fill) -> np.ndarray:
    """Cut ``(2*half+1)``-pixel squares centred on integer pixels, all at once.

    Parameters
    ----------
    array : numpy.ndarray
        2-D array ``[y, x]``.
    xc, yc : numpy.ndarray
        Integer centre pixels (n of them).
    half : int
        Half-width of the squares.
    fill : scalar
        Value of stamp pixels that fall outside ``array``.

    Returns
    -------
    numpy.ndarray
        ``(n, 2*half+1, 2*half+1)``; ``stamp[k, half, half] == array[yc[k], xc[k]]``.
    """
    offsets = np.arange(-half, half + 1)
    rows = np.asarray(yc, dtype=np.int64)[:, None] + offsets
    cols = np.asarray(xc, dtype=np.int64)[:, None] + offsets
    rowInside = (rows >= 0) & (rows < array.shape[0])
    colInside = (cols >= 0) & (cols < array.shape[1])
    stamps = array[np.clip(rows, 0, array.shape[0] - 1)[:, :, None],
                   np.clip(cols, 0, array.shape[1] - 1)[:, None, :]]
    stamps[~(rowInside[:, :, None] & colInside[:, None, :])] = fill
    return stamps


def nearestPixel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel containing each position (pixel centres are integers)."""
    return (np.floor(np.asarray(x) + 0.5).astype(np.int64),
            np.floor(np.asarray(y) + 0.5).astype(np.int64))
