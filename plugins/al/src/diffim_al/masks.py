"""Mask bookkeeping: dilation by the kernel footprint, the unconvolved border, plane maps."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d



def dilateMask(mask: np.ndarray, halfWidth: int) -> np.ndarray:
    """OR of every mask bit over the ``(2*halfWidth+1)``-square kernel footprint.

    Parameters
    ----------
    mask : numpy.ndarray
        Integer bit-plane mask (not modified).
    halfWidth : int
        Kernel half-width.

    Returns
    -------
    numpy.ndarray
        The dilated mask, same dtype.
    """
    out = np.zeros_like(mask)
    present = int(np.bitwise_or.reduce(mask, axis=None)) if mask.size else 0
    size = 2 * halfWidth + 1
    for bit in range(mask.dtype.itemsize * 8 - 1):
        value = 1 << bit
        if not present & value:
            continue
        plane = ((mask & value) != 0).view(np.uint8)
        plane = maximum_filter1d(plane, size, axis=0, mode="constant")
        plane = maximum_filter1d(plane, size, axis=1, mode="constant")
        out |= plane.astype(mask.dtype) << bit
    return out


def borderPixels(shape: tuple[int, int], halfWidth: int) -> np.ndarray:
    """Boolean image, True within ``halfWidth`` pixels of the border."""
    border = np.ones(shape, dtype=bool)
    border[halfWidth:shape[0] - halfWidth, halfWidth:shape[1] - halfWidth] = False
    return border
