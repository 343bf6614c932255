"""Footprints on the sky: outlines of pixel boxes, cone bounds and polygon filling.

Sky positions are handled as unit vectors, so nothing depends on where RA
wraps from 360 to 0 degrees.
"""
from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

#: Points per side when a box outline is sampled (its sides need not stay straight on
#: the sky, e.g. with SIP distortion).
OUTLINE_POINTS_PER_SIDE = 16


def boxOutline(width: float, height: float, grow: float = 0.0,
               perSide: int = OUTLINE_POINTS_PER_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` along the outer pixel edges of a ``width`` × ``height`` image, grown by ``grow``.

    The outline runs counter-clockwise from ``(-0.5 - grow, -0.5 - grow)``,
    ``perSide`` points per side, without repeating the first point.
    """
    x0, y0 = -0.5 - grow, -0.5 - grow
    x1, y1 = width - 0.5 + grow, height - 0.5 + grow
    t = np.arange(perSide) / perSide
    x = np.concatenate([x0 + (x1 - x0) * t, np.full(perSide, x1), x1 - (x1 - x0) * t,
                        np.full(perSide, x0)])
    y = np.concatenate([np.full(perSide, y0), y0 + (y1 - y0) * t, np.full(perSide, y1),
                        y1 - (y1 - y0) * t])
    return x, y


def unitVectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """``(n, 3)`` Cartesian unit vectors of ``ra``, ``dec`` (degrees)."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (radians) between unit vectors ``a`` and ``b`` (broadcast over leading axes)."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def boundingCone(wcs: WCS, width: int, height: int,
                 grow: float = 0.0) -> tuple[np.ndarray, float]:
    """Unit vector of the image centre and the angle (radians) enclosing its grown outline."""
    x, y = boxOutline(width, height, grow)
    centre = unitVectors(*wcs.pixel_to_world_values((width - 1) / 2.0, (height - 1) / 2.0))
    outline = unitVectors(*wcs.pixel_to_world_values(x, y))
    return centre, float(np.max(angle(outline, centre)))


def fillPolygon(x: np.ndarray, y: np.ndarray, x0: int, y0: int,
                shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a ``shape`` box at ``(x0, y0)`` whose centres lie inside a closed polygon.

    Even-odd rule, row by row: a pixel ``(i, j)`` of the box (centre
    ``(x0 + i, y0 + j)``) is inside when a ray from its centre towards +x
    crosses the outline an odd number of times.

    Parameters
    ----------
    x, y : numpy.ndarray
        The polygon's vertices in order (the last joins the first).
    x0, y0 : int
        Pixel coordinates of the box's first pixel.
    shape : tuple of int
        ``(height, width)`` of the box.

    Returns
    -------
    numpy.ndarray
        Boolean ``[y, x]`` array.
    """
    height, width = shape
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    rows = y0 + np.arange(height, dtype=float)[:, None]
    spans = (ya <= rows) != (yb <= rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossings = np.where(spans, xa + (rows - ya) * (xb - xa) / (yb - ya), np.inf)
    crossings.sort(axis=1)
    inside = np.zeros(shape, dtype=bool)
    columns = x0 + np.arange(width, dtype=float)
    for row, cuts in enumerate(crossings):
        cuts = cuts[np.isfinite(cuts)]
        for start, stop in zip(cuts[0::2], cuts[1::2]):
            inside[row] |= (columns >= start) & (columns < stop)
    return inside
