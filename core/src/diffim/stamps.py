"""Square cut-outs around many positions at once, and which of their pixels a source may use."""
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


def stampPixelMask(shape: tuple[int, int], ix: np.ndarray, iy: np.ndarray, half: int,
                   usable: np.ndarray | None = None, labels: np.ndarray | None = None,
                   owner: np.ndarray | None = None, ownFootprintOnly: bool = False) -> np.ndarray:
    """``(n, s, s)`` True for the stamp pixels each source may use.

    A pixel is usable when it lies on the image, is ``usable`` (when given) and,
    with ``labels`` and ``owner``, belongs to the source's own footprint or (unless
    ``ownFootprintOnly``) to none.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the image.
    ix, iy : numpy.ndarray
        Integer stamp centres.
    half : int
        Stamp half-width.
    usable : numpy.ndarray, optional
        Boolean image of usable pixels.
    labels : numpy.ndarray, optional
        Footprint label image (0: no footprint).
    owner : numpy.ndarray, optional
        Footprint label of each source.
    ownFootprintOnly : bool
        Leave out the pixels of no footprint too.
    """
    offsets = np.arange(-half, half + 1)
    rows = np.asarray(iy, dtype=np.int64)[:, None] + offsets
    cols = np.asarray(ix, dtype=np.int64)[:, None] + offsets
    allowed = (((rows >= 0) & (rows < shape[0]))[:, :, None]
               & ((cols >= 0) & (cols < shape[1]))[:, None, :])
    if usable is not None:
        allowed &= extractStamps(usable, ix, iy, half, False)
    if labels is not None and owner is not None:
        stampLabels = extractStamps(labels, ix, iy, half, -1)
        mine = stampLabels == np.asarray(owner)[:, None, None]
        allowed &= mine if ownFootprintOnly else (mine | (stampLabels == 0))
    return allowed
