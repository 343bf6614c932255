"""Growing boolean masks (saturation, NO_DATA, footprints) by a distance."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Metrics of :func:`growMask`: the shape a single pixel grows into.
METRICS = ("euclidean", "taxicab", "chessboard")

#: Above this radius a growth is done by distance transform (cost independent of the
#: radius) rather than by dilation with the whole structuring element.
_DIRECT_RADIUS = 4

#: The 4-connected cross: a taxicab growth by r is r dilations by it (cheaper than one
#: by the whole diamond).
_CROSS = ndimage.generate_binary_structure(2, 1)


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
        reach = int(np.floor(radius))
        return _orAlong(_orAlong(mask, reach, axis=0), reach, axis=1)
    if metric == "taxicab" and radius <= _DIRECT_RADIUS:
        return ndimage.binary_dilation(mask, structure=_CROSS, iterations=int(np.floor(radius)))
    if radius <= _DIRECT_RADIUS:
        return ndimage.binary_dilation(mask, structure=structuringElement(radius, metric))
    if metric == "euclidean":
        return ndimage.distance_transform_edt(~mask) <= radius
    return ndimage.distance_transform_cdt(~mask, metric="taxicab") <= radius


def _orAlong(mask: np.ndarray, reach: int, axis: int) -> np.ndarray:
    """OR of each pixel's ``2 * reach + 1`` neighbours along ``axis``, by doubling shifts.

    ``log2(2 reach + 1)`` whole-array ORs: faster than a maximum filter on booleans.
    """
    moved = np.moveaxis(mask, axis, 0)
    length = moved.shape[0]
    size = 2 * reach + 1
    padded = np.zeros((length + 2 * reach,) + moved.shape[1:], dtype=bool)
    padded[reach:reach + length] = moved
    covered = 1
    while covered < size:
        step = min(covered, size - covered)
        padded[:len(padded) - step] |= padded[step:]
        covered += step
    return np.moveaxis(padded[:length], 0, axis)


def growMaskBits(mask: np.ndarray, bits: int, radius: float,
                 metric: str = "chessboard") -> np.ndarray:
    """Copy of an integer bit-plane mask with each of ``bits`` grown on its own.

    Parameters
    ----------
    mask : numpy.ndarray
        Integer mask of bit planes (not modified).
    bits : int
        OR of the plane bits to grow; the other planes are copied as they are.
    radius : float
        Growth distance in pixels.
    metric : str
        How distance is measured (:func:`growMask`).

    Returns
    -------
    numpy.ndarray
        The new mask, same dtype.
    """
    out = np.array(mask, copy=True)
    present = int(np.bitwise_or.reduce(mask, axis=None)) & bits if mask.size else 0
    if radius <= 0 or not present:
        return out
    for bit in range(present.bit_length()):
        value = 1 << bit
        if present & value:
            out[growMask((mask & value) != 0, radius, metric)] |= mask.dtype.type(value)
    return out


def growLabels(labels: np.ndarray, radius: float, metric: str = "euclidean") -> np.ndarray:
    """Grow every labelled region by ``radius``, a pixel reached by several going to the nearest.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer label image (0: no region).
    radius : float
        Growth distance in pixels (``euclidean`` or ``taxicab``).
    metric : str
        How distance is measured.

    Returns
    -------
    numpy.ndarray
        The grown label image (a new array, same dtype).
    """
    if radius <= 0 or not labels.any():
        return labels.copy()
    outside = labels == 0
    if metric == "euclidean":
        distance, (iy, ix) = ndimage.distance_transform_edt(outside, return_indices=True)
    elif metric == "taxicab":
        distance, (iy, ix) = ndimage.distance_transform_cdt(outside, metric="taxicab",
                                                            return_indices=True)
    else:
        raise ValueError(f"unknown metric {metric!r} for growLabels; expected 'euclidean' or "
                         "'taxicab'")
    return np.where(distance <= radius, labels[iy, ix], 0).astype(labels.dtype)
