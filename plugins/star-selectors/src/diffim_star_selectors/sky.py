"""Sky-subtracted pixels and sky noise of an exposure (for measurement and PSF residuals)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.background import backgroundModel
from diffim.errors import InputError
from diffim.exposure import Exposure

#: Mask planes whose pixels are neither detected on nor measured.
EXCLUDED_PLANES = ("NO_DATA", "BAD")


@dataclass
class SkySubtracted:
    """An exposure's pixels with the sky removed.

    Attributes
    ----------
    data : numpy.ndarray
        Image minus its background; 0 where ``excluded``.
    variance : numpy.ndarray
        Variance plane; its median where ``excluded``.
    skyVariance : numpy.ndarray
        Background of the variance plane: the variance without the
        sources' own photon noise.
    excluded : numpy.ndarray
        BAD, NO_DATA, non-finite or non-positive-variance pixels.
    """

    data: np.ndarray
    variance: np.ndarray
    skyVariance: np.ndarray
    excluded: np.ndarray


def subtractSky(exposure: Exposure, binSize: int) -> SkySubtracted:
    """Remove the background from a copy of ``exposure``'s image and measure the sky noise.

    Both the image's background and the sky variance are
    :func:`diffim.background.backgroundModel` (``binSize`` bins, 3×3 median
    filter) of the image and of the variance plane, with BAD, NO_DATA, SAT and
    non-finite pixels left out.

    Raises
    ------
    InputError
        If the exposure has no variance plane or no usable pixels.
    """
    if exposure.variance is None:
        raise InputError("star selection needs the science variance plane, but "
                         "exposure.variance is None")
    image = exposure.image.astype(np.float32)
    variance = exposure.variance.astype(np.float32)
    excluded = (exposure.maskedPixels(*EXCLUDED_PLANES, context="sourceSelector") | ~np.isfinite(image)
                | ~(np.isfinite(variance) & (variance > 0)))
    if excluded.all():
        raise InputError("star selection found no usable science pixels (all BAD, NO_DATA, "
                         "non-finite or with non-positive variance)")
    ignore = excluded | exposure.maskedPixels("SAT", context="sourceSelector")
    data = image - backgroundModel(image, ignore, binSize)
    data[excluded] = 0.0
    skyVariance = np.maximum(backgroundModel(variance, ignore, binSize), 0.0)
    variance = np.where(excluded, np.median(variance[~excluded]), variance).astype(np.float32)
    return SkySubtracted(data, variance, skyVariance, excluded)
