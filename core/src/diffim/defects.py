"""Small defects (bad pixels, short columns, cosmic-ray holes) filled from their neighbours.

A calibrated exposure has its defects interpolated (LSST's ``InterpImageTask``); a raw
or single-exposure image may have a few per cent of its pixels NaN, scattered singly
and in small clusters. Left as NO_DATA they disqualify every kernel stamp that holds
one and grow through every convolution until nothing is left; filled, they cost
nothing but a little locally correlated noise. Each group of connected unusable
pixels no larger than ``maxArea`` is filled with the Gaussian-weighted mean of the
usable pixels around it (normalised convolution) and flagged INTRP instead of
NO_DATA; its variance becomes the same mean of theirs. Larger regions (a chip gap,
the template's edge) stay NO_DATA.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .exposure import Exposure

#: Gaussian sigma (pixels) of the interpolation weights, and their reach in sigmas.
SIGMA = 1.5
REACH = 3.0


def interpolateDefects(exposure: Exposure, maxArea: int) -> int:
    """Fill the small NO_DATA groups of a sanitised exposure in place; return the pixels filled.

    Parameters
    ----------
    exposure : Exposure
        A sanitised exposure (unusable pixels are NO_DATA with image 0); its image,
        variance and mask are updated.
    maxArea : int
        Largest group (8-connected pixels) that is filled; 0 fills nothing.

    Returns
    -------
    int
        Number of pixels filled.
    """
    if maxArea <= 0 or "NO_DATA" not in exposure.maskPlanes:
        return 0
    nodata = exposure.maskedPixels("NO_DATA")
    if not nodata.any():
        return 0
    labels, count = ndimage.label(nodata, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    small = (sizes <= maxArea)
    small[0] = False
    defects = small[labels]
    if not defects.any():
        return 0
    usable = ~nodata
    filled = {}
    weight = _smooth(usable.astype(np.float32))
    reached = defects & (weight > 1e-3)
    for name in ("image", "variance"):
        plane = getattr(exposure, name)
        total = _smooth(np.where(usable, plane, np.float32(0.0)).astype(np.float32))
        filled[name] = total[reached] / weight[reached]
    exposure.image[reached] = filled["image"]
    exposure.variance[reached] = filled["variance"]
    exposure.maskPlanes.add("INTRP")
    exposure.mask[reached] &= ~exposure.bitmask("NO_DATA")
    exposure.setMask(reached, "INTRP")
    return int(reached.sum())


def _smooth(array: np.ndarray) -> np.ndarray:
    """Separable Gaussian smoothing (SIGMA, truncated at REACH sigmas), zero outside."""
    return ndimage.gaussian_filter(array, SIGMA, mode="constant", truncate=REACH)
