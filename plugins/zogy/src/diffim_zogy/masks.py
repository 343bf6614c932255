"""Mask bookkeeping: the border of the output."""
from __future__ import annotations

import numpy as np


def setBorder(mask: np.ndarray, value: int, width: int) -> None:
    """OR ``value`` into the ``width`` outermost rows and columns of ``mask`` (in place)."""
    if width <= 0:
        return
    mask[:width] |= value
    mask[-width:] |= value
    mask[:, :width] |= value
    mask[:, -width:] |= value
