"""Growing boolean masks (saturation, NO_DATA, footprints) by a distance."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Metrics of :func:`growMask`: the shape a single pixel grows into.
METRICS = ("euclidean", "taxicab", "chessboard")

#: Above this radius a growth is done by distance transform (cost independent of the
#: radius) rather than by dilation with the whole structuring element.
_DIRECT_RADIUS = 4


def structuringElement(radius: float, metric: str = "euclidean") -> np.ndarray:
    """The pixels within ``radius`` of the centre pixel, as a boolean square.

    Parameters
    ----------
    radius : float
        Growth distance in pixels.
    metric : str
        ``euclidean`` (a disc: offsets with ``dx**2 + dy**2 <= radius**2``),
        ``taxicab`` (a diamond: ``|dx| + |dy| <= radius``) or ``chessboard``
        (a square: ``max(|dx|, |dy|) <= radius``).
    """
    reach = int(np.floor(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    if metric == "euclidean":
        return dx * dx + dy * dy <= radius * radius
    if metric == "taxicab":
        return np.abs(dx) + np.abs(dy) <= radius
    if metric == "chessboard":
        return np.maximum(np.abs(dx), np.abs(dy)) <= radius
    raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def growMask(mask: np.ndarray, radius: float, metric: str = "euclidean") -> np.ndarray:
    """``mask`` with every pixel within ``radius`` of a True pixel set.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean array (2-D, or a stack of 2-D masks along the first axis when
        ``mask.ndim == 3``: each is grown on its own); not modified.
    radius : float
        Distance in pixels; 0 or less returns a copy.
    metric : str
        How distance is measured: see :func:`structuringElement`.

    Returns
    -------
    numpy.ndarray
        The grown mask (a new array).
    """
    mask = np.asarray(mask, dtype=bool)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if radius <= 0 or not mask.any():
        return mask.copy()
    if mask.ndim == 3:
        return np.stack([growMask(plane, radius, metric) for plane in mask])
    if metric == "chessboard":
        size = 2 * int(np.floor(radius)) + 1
        grown = ndimage.maximum_filter1d(mask, size, axis=0, mode="constant")
        return ndimage.maximum_filter1d(grown, size, axis=1, mode="constant")
    if radius <= _DIRECT_RADIUS:
        return ndimage.binary_dilation(mask, structure=structuringElement(radius, metric))
    if metric == "euclidean":
        return ndimage.distance_transform_edt(~mask) <= radius
    return ndimage.distance_transform_cdt(~mask, metric="taxicab") <= radius
