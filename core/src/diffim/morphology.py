"""Growing boolean masks (saturation, NO_DATA, footprints) by a distance.

A pixel of the grown mask depends only on the mask within ``radius`` of it, so masks
are grown tile by tile, each tile from itself and a margin of ``radius`` pixels around
it, and tiles with no True pixel within reach are skipped: the cost follows the masked
area, not the frame's. A tile is grown as a union of shifted rows: every metric's
shape (disc, diamond, square) is a stack of centred runs of pixels, so the growth is
one run-length dilation along x per distinct run length and one OR per row of the shape.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage

#: Metrics of :func:`growMask`: the shape a single pixel grows into.
METRICS = ("euclidean", "taxicab", "chessboard")

#: Side (pixels) of the tiles masks are grown in.
TILE = 256

#: Side (pixels) of the tiles labels are grown in (a distance transform costs more per
#: pixel than a row-wise growth, so the tiles follow the labelled area more closely).
LABEL_TILE = 128

#: Above this radius a tile is grown by distance transform (cost independent of the
#: radius) rather than row by row (cost growing with the radius).
_ROWS_RADIUS = 24


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


def growMask(mask: np.ndarray, radius: float, metric: str = "euclidean",
             within: np.ndarray | None = None) -> np.ndarray:
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
    within : numpy.ndarray, optional
        The pixels whose value is wanted (2-D; the others are False in the result): a
        growth that only a few pixels need skips the rest of the image.

    Returns
    -------
    numpy.ndarray
        The grown mask (a new array).
    """
    mask = np.asarray(mask, dtype=bool)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    reach = int(np.floor(radius)) if radius > 0 else 0
    if reach == 0 or not mask.any():
        return mask.copy() if within is None else mask & within
    if mask.ndim == 3:
        return np.stack([growMask(plane, radius, metric, within) for plane in mask])
    out = np.zeros_like(mask)
    halfWidths = structuringElement(radius, metric).sum(axis=1) // 2
    for tile, region, inner in _activeTiles(mask, reach, wanted=within):
        part = mask[region]
        if not part.any():
            continue
        if metric == "chessboard":
            grown = _orAlong(_orAlong(part, reach, axis=0), reach, axis=1)
        elif reach <= _ROWS_RADIUS:
            grown = _growByRows(part, halfWidths)
        elif metric == "euclidean":
            grown = ndimage.distance_transform_edt(~part) <= radius
        elif metric == "taxicab":
            grown = ndimage.distance_transform_cdt(~part, metric="taxicab") <= radius
        out[tile] = grown[inner]
    if within is not None:
        out &= within
    return out


def _activeTiles(mask: np.ndarray, reach: int, side: int = TILE,
                 wanted: np.ndarray | None = None
                 ) -> Iterator[tuple[tuple[slice, slice], tuple[slice, slice],
                                     tuple[slice, slice]]]:
    """The ``side``-pixel tiles with a True pixel of ``mask`` within ``reach``, row by row.

    With ``wanted``, only the tiles that also hold a True pixel of ``wanted``. Yields
    ``(tile, region, inner)``: the tile's slices in the image, those of the tile with a
    margin of ``reach`` (cut at the image's edges), and the tile's slices within that
    region.
    """
    height, width = mask.shape
    near = -(-reach // side)
    active = ndimage.binary_dilation(_occupied(mask, side),
                                     structure=np.ones((2 * near + 1,) * 2, dtype=bool))
    if wanted is not None:
        active &= _occupied(wanted, side)
    for row, column in zip(*np.nonzero(active)):
        y0, x0 = row * side, column * side
        y1, x1 = min(y0 + side, height), min(x0 + side, width)
        ry0, rx0 = max(y0 - reach, 0), max(x0 - reach, 0)
        ry1, rx1 = min(y1 + reach, height), min(x1 + reach, width)
        yield ((slice(y0, y1), slice(x0, x1)), (slice(ry0, ry1), slice(rx0, rx1)),
               (slice(y0 - ry0, y1 - ry0), slice(x0 - rx0, x1 - rx0)))


def _occupied(mask: np.ndarray, side: int) -> np.ndarray:
    """Which ``side``-pixel tiles of ``mask`` hold a True pixel."""
    height, width = mask.shape
    rows, columns = -(-height // side), -(-width // side)
    padded = mask
    if (rows * side, columns * side) != mask.shape:
        padded = np.zeros((rows * side, columns * side), dtype=bool)
        padded[:height, :width] = mask
    return padded.reshape(rows, side, columns, side).any(axis=(1, 3))


def _growByRows(mask: np.ndarray, halfWidths: np.ndarray) -> np.ndarray:
    """Dilation (zero outside) by the shape whose row ``dy`` spans ``|dx| <= halfWidths[dy]``.

    ``halfWidths`` holds one entry per row of the shape, from ``dy = -reach`` to ``reach``.
    """
    reach = halfWidths.size // 2
    height = mask.shape[0]
    runs = {}
    current, done = mask, 0
    for half in sorted(set(halfWidths.tolist())):
        current = _orAlong(current, half - done, axis=1)
        runs[half], done = current, half
    out = runs[int(halfWidths[reach])].copy()
    for dy in range(1, reach + 1):
        if dy >= height:
            break
        row = runs[int(halfWidths[reach + dy])]
        out[:height - dy] |= row[dy:]
        row = runs[int(halfWidths[reach - dy])]
        out[dy:] |= row[:height - dy]
    return out


def _orAlong(mask: np.ndarray, reach: int, axis: int) -> np.ndarray:
    """OR of each pixel's ``2 * reach + 1`` neighbours along ``axis``, by doubling shifts.

    ``log2(2 reach + 1)`` whole-array ORs: faster than a maximum filter on booleans.
    """
    if reach <= 0:
        return mask
    length = mask.shape[axis]
    shape = list(mask.shape)
    shape[axis] += 2 * reach
    total, size = shape[axis], 2 * reach + 1

    def along(start: int, stop: int) -> tuple[slice, ...]:
        index = [slice(None)] * mask.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    padded = np.zeros(shape, dtype=bool)
    padded[along(reach, reach + length)] = mask
    covered = 1
    while covered < size:
        step = min(covered, size - covered)
        padded[along(0, total - step)] |= padded[along(step, total)]
        covered += step
    return padded[along(0, length)]


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


def growLabels(labels: np.ndarray, radius: float, metric: str = "euclidean",
               within: np.ndarray | None = None) -> np.ndarray:
    """Grow every labelled region by ``radius``, a pixel reached by several going to the nearest.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer label image (0: no region).
    radius : float
        Growth distance in pixels (``euclidean`` or ``taxicab``).
    metric : str
        How distance is measured.
    within : numpy.ndarray, optional
        The pixels whose label is wanted (the others are 0 in the result): a growth
        that only a few pixels need skips the rest of the image.

    Returns
    -------
    numpy.ndarray
        The grown label image (a new array, same dtype).

    Notes
    -----
    A ``taxicab`` growth is done in tiles of :data:`LABEL_TILE` pixels, each with a margin
    of ``radius``: a pixel's nearest label within ``radius`` is reached along paths that
    stay within ``radius`` of it, so the chamfer transform of the tile and its margin
    picks the same label (ties included) as that of the whole image.
    """
    if metric not in ("euclidean", "taxicab"):
        raise ValueError(f"unknown metric {metric!r} for growLabels; expected 'euclidean' or "
                         "'taxicab'")
    if radius <= 0 or not labels.any():
        out = labels.copy()
    elif metric == "euclidean":
        out = _nearestLabel(labels, radius, metric)
    else:
        out = np.zeros_like(labels)
        for tile, region, inner in _activeTiles(labels != 0, int(np.floor(radius)),
                                                LABEL_TILE, within):
            if labels[region].any():
                out[tile] = _nearestLabel(labels[region], radius, metric)[inner]
    if within is not None:
        out[~within] = 0
    return out


def _nearestLabel(labels: np.ndarray, radius: float, metric: str) -> np.ndarray:
    """The label of the nearest labelled pixel within ``radius`` of each pixel (else 0)."""
    outside = labels == 0
    if metric == "euclidean":
        distance, (iy, ix) = ndimage.distance_transform_edt(outside, return_indices=True)
    else:
        distance, (iy, ix) = ndimage.distance_transform_cdt(outside, metric="taxicab",
                                                            return_indices=True)
    return np.where(distance <= radius, labels[iy, ix], 0).astype(labels.dtype)
