"""Random placement of non-overlapping circular footprints on unmasked sky."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def diskOffsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """``(dy, dx)`` integer offsets of the pixels whose centres lie within ``radius`` of (0, 0)."""
    reach = int(radius)
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    inside = dx * dx + dy * dy <= radius * radius
    return dy[inside], dx[inside]


def growRegion(region: np.ndarray, grow: int) -> np.ndarray:
    """``region`` grown by ``grow`` pixels with a disc (isotropic) structuring element."""
    if grow <= 0:
        return region.copy()
    dy, dx = diskOffsets(float(grow))
    disc = np.zeros((2 * grow + 1, 2 * grow + 1), dtype=bool)
    disc[dy + grow, dx + grow] = True
    return ndimage.binary_dilation(region, structure=disc)


def placeCircles(avoid: np.ndarray, radius: float, nSources: int, nTrials: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Draw circle centres uniformly until ``nSources`` fit or ``nTrials`` are spent.

    Each trial draws an integer ``x``, then ``y``, uniformly within the image
    shrunk by ``int(radius) + 1`` pixels on every side. The circle is accepted
    when none of its pixels is in ``avoid`` or in an earlier accepted circle.

    Parameters
    ----------
    avoid : numpy.ndarray
        True for pixels a circle must not touch; not modified.
    radius : float
        Circle radius in pixels.
    nSources : int
        Circles wanted.
    nTrials : int
        Most positions to try.
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    x, y : numpy.ndarray
        Integer centres (as float64) of the accepted circles, in the order drawn.
    trials : int
        Positions tried.
    """
    height, width = avoid.shape
    margin = int(radius) + 1
    low = np.array([margin, margin])
    high = np.array([width - 1 - margin, height - 1 - margin])
    accepted: list[tuple[int, int]] = []
    trials = 0
    if np.any(high < low):
        return np.empty(0), np.empty(0), trials
    blocked = avoid.copy()
    dy, dx = diskOffsets(radius)
    while len(accepted) < nSources and trials < nTrials:
        trials += 1
        x, y = (int(v) for v in rng.integers(low, high + 1))
        if blocked[y + dy, x + dx].any():
            continue
        blocked[y + dy, x + dx] = True
        accepted.append((x, y))
    centres = np.array(accepted, dtype=np.float64).reshape(-1, 2)
    return centres[:, 0], centres[:, 1], trials
