"""Random placement of non-overlapping circular footprints on unmasked sky."""
from __future__ import annotations

import numpy as np

from diffim.morphology import structuringElement


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
    disc = structuringElement(radius, "euclidean")
    dy, dx = np.nonzero(disc)
    dy, dx = dy - disc.shape[0] // 2, dx - disc.shape[1] // 2
    while len(accepted) < nSources and trials < nTrials:
        trials += 1
        x, y = (int(v) for v in rng.integers(low, high + 1))
        if blocked[y + dy, x + dx].any():
            continue
        blocked[y + dy, x + dx] = True
        accepted.append((x, y))
    centres = np.array(accepted, dtype=np.float64).reshape(-1, 2)
    return centres[:, 0], centres[:, 1], trials
