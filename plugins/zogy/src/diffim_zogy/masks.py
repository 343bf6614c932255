"""Mask bookkeeping: the planes the inputs define, and the border of the output."""
from __future__ import annotations

import numpy as np

from diffim.mask import MaskPlanes


def planeBits(planes: MaskPlanes, names) -> int:
    """OR of the bits of those ``names`` that ``planes`` defines (others are skipped)."""
    return planes.bitmask([name for name in names if name in planes])


def setBorder(mask: np.ndarray, value: int, width: int) -> None:
    """OR ``value`` into the ``width`` outermost rows and columns of ``mask`` (in place)."""
    if width <= 0:
        return
    mask[:width] |= value
    mask[-width:] |= value
    mask[:, :width] |= value
    mask[:, -width:] |= value
