"""Pair stars of two lists by position once they are in the same pixel frame."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def matchNearest(x1, y1, x2, y2, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours closer than ``radius``.

    A pair ``(i, j)`` is kept when star ``j`` of the second list is the nearest
    to star ``i`` of the first, ``i`` is the nearest to ``j``, and they are
    closer than ``radius``; each star is used at most once.

    Parameters
    ----------
    x1, y1, x2, y2 : numpy.ndarray
        Positions of the two lists, in one frame.
    radius : float
        Largest separation.

    Returns
    -------
    index1, index2 : numpy.ndarray
        Indices of the matched stars in each list.
    """
    empty = np.array([], dtype=np.intp)
    if len(x1) == 0 or len(x2) == 0:
        return empty, empty
    first = np.column_stack([x1, y1])
    second = np.column_stack([x2, y2])
    distance, nearest2 = cKDTree(second).query(first, distance_upper_bound=radius)
    _, nearest1 = cKDTree(first).query(second)
    index1 = np.flatnonzero(np.isfinite(distance))
    index2 = nearest2[index1]
    mutual = nearest1[index2] == index1
    return index1[mutual], index2[mutual]
