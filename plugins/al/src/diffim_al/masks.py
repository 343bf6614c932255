"""Mask bookkeeping: the border a kernel cannot convolve."""
from __future__ import annotations

import numpy as np


def borderPixels(shape: tuple[int, int], halfWidth: int) -> np.ndarray:
    """Boolean image, True within ``halfWidth`` pixels of the border."""
    border = np.ones(shape, dtype=bool)
    border[halfWidth:shape[0] - halfWidth, halfWidth:shape[1] - halfWidth] = False
    return border
