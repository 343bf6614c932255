"""Mask-plane flags of each source's footprint and centre (LSST's base_PixelFlags)."""
from __future__ import annotations

import numpy as np

from diffim.exposure import Exposure

from .schema import PIXEL_FLAG_PLANES, PIXEL_FLAGS
from diffim.stamps import extractStamps, nearestPixel


def pixelFlags(exposure: Exposure, labels: np.ndarray, x: np.ndarray,
               y: np.ndarray) -> dict[str, np.ndarray]:
    """Which mask planes each footprint, and the 3x3 box around each centre, touch.

    Parameters
    ----------
    exposure : Exposure
        The difference image (its mask is read).
    labels : numpy.ndarray
        Footprint label image; row ``i`` owns label ``i + 1``.
    x, y : numpy.ndarray
        Centres; a non-finite or off-image centre sets ``offimage`` only.

    Returns
    -------
    dict
        The ``base_PixelFlags_flag_*`` columns of :mod:`.schema`.
    """
    n = len(x)
    height, width = labels.shape
    inside = np.flatnonzero(labels)
    owner = labels.ravel()[inside]
    finite = np.isfinite(x) & np.isfinite(y)
    ix, iy = nearestPixel(np.where(finite, x, -10.0), np.where(finite, y, -10.0))
    onImage = finite & (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    columns = {f"{PIXEL_FLAGS}_offimage": ~onImage}
    # the mask is read only at the footprints' pixels and around the centres
    footprintMask = exposure.mask.ravel()[inside]
    centreMask = extractStamps(exposure.mask, ix, iy, 1, 0)
    rows, cols = np.divmod(inside, width)
    border = (rows == 0) | (rows == height - 1) | (cols == 0) | (cols == width - 1)
    for name, plane in PIXEL_FLAG_PLANES.items():
        bit = exposure.bitmask(plane) if plane in exposure.maskPlanes else 0
        centre = ((centreMask & bit) != 0).any(axis=(1, 2))
        columns[f"{PIXEL_FLAGS}_{name}Center"] = centre & onImage
        flagged = (footprintMask & bit) != 0
        if name == "edge":
            flagged |= border
        columns[f"{PIXEL_FLAGS}_{name}"] = np.bincount(owner[flagged], minlength=n + 1)[1:n + 1] > 0
    return columns
