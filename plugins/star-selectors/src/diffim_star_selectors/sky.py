"""Sky-subtracted pixels and sky noise of an exposure (for measurement and PSF residuals)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep

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
        Image minus the background mesh; 0 where ``excluded``.
    variance : numpy.ndarray
        Variance plane; its median where ``excluded``.
    skyVariance : numpy.ndarray
        Background mesh of the variance plane: the variance without the
        sources' own photon noise.
    excluded : numpy.ndarray
        BAD, NO_DATA, non-finite or non-positive-variance pixels.
    """

    data: np.ndarray
    variance: np.ndarray
    skyVariance: np.ndarray
    excluded: np.ndarray


def planeMask(exposure: Exposure, names: tuple[str, ...]) -> np.ndarray:
    """True where any of the named planes (those the exposure has) is set."""
    present = [name for name in names if name in exposure.maskPlanes]
    if not present:
        return np.zeros(exposure.shape, dtype=bool)
    return exposure.maskedPixels(*present)


def backgroundMesh(image: np.ndarray, ignore: np.ndarray, binSize: int) -> np.ndarray:
    """sep background mesh (``binSize`` cells, 3×3 median filtered) of the pixels not ignored."""
    filled = np.where(ignore, 0.0, image).astype(np.float32)
    return sep.Background(filled, mask=ignore, bw=binSize, bh=binSize, fw=3, fh=3).back(
        dtype=np.float32)


def subtractSky(exposure: Exposure, binSize: int) -> SkySubtracted:
    """Remove a background mesh from a copy of ``exposure``'s image and measure the sky noise.

    BAD, NO_DATA, SAT and non-finite pixels are left out of both meshes.

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
    excluded = (planeMask(exposure, EXCLUDED_PLANES) | ~np.isfinite(image)
                | ~(np.isfinite(variance) & (variance > 0)))
    if excluded.all():
        raise InputError("star selection found no usable science pixels (all BAD, NO_DATA, "
                         "non-finite or with non-positive variance)")
    ignore = excluded | planeMask(exposure, ("SAT",))
    data = image - backgroundMesh(image, ignore, binSize)
    data[excluded] = 0.0
    skyVariance = np.maximum(backgroundMesh(variance, ignore, binSize), 0.0)
    variance = np.where(excluded, np.median(variance[~excluded]), variance).astype(np.float32)
    return SkySubtracted(data, variance, skyVariance, excluded)
