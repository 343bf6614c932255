"""Mask bookkeeping: combining the two inputs' planes and growing them by a kernel's reach."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d

from diffim.mask import MaskPlanes


def planeBits(planes: MaskPlanes, names) -> int:
    """OR of the bits of those ``names`` that ``planes`` defines (others are skipped)."""
    return planes.bitmask([name for name in names if name in planes])


def growPlanes(mask: np.ndarray, bits: int, radius: int) -> np.ndarray:
    """Copy of ``mask`` with each of ``bits`` set over the ``(2*radius+1)²`` square around it.

    Parameters
    ----------
    mask : numpy.ndarray
        Integer bit-plane mask (not modified).
    bits : int
        The planes to grow.
    radius : int
        Half-width of the square.
    """
    out = mask.copy()
    present = int(np.bitwise_or.reduce(mask, axis=None)) & bits if mask.size else 0
    if radius <= 0 or not present:
        return out
    bit = 0
    while present >> bit:
        value = 1 << bit
        if present & value:
            plane = _dilateAlongColumns((mask & value) != 0, radius)
            plane = maximum_filter1d(plane.view(np.uint8), 2 * radius + 1, axis=1,
                                     mode="constant").view(bool)
            out[plane] |= mask.dtype.type(value)
        bit += 1
    return out


def _dilateAlongColumns(plane: np.ndarray, radius: int) -> np.ndarray:
    """OR of each pixel's ``2*radius+1`` vertical neighbours (boolean), by doubling shifts."""
    height = plane.shape[0]
    size = 2 * radius + 1
    padded = np.zeros((height + 2 * radius, plane.shape[1]), dtype=bool)
    padded[radius:radius + height] = plane
    covered = 1
    while covered < size:
        step = min(covered, size - covered)
        padded[:len(padded) - step] |= padded[step:]
        covered += step
    return padded[:height]


def setBorder(mask: np.ndarray, value: int, width: int) -> None:
    """OR ``value`` into the ``width`` outermost rows and columns of ``mask`` (in place)."""
    if width <= 0:
        return
    mask[:width] |= value
    mask[-width:] |= value
    mask[:, :width] |= value
    mask[:, -width:] |= value
