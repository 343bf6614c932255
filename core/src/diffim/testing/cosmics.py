"""Unmasked cosmic rays added to a simulated exposure.

Each cosmic ray is a straight track of 1 to ``maxLength`` pixels at a random
angle (a single hot pixel a third of the time), whose pixels each get a value
between ``minSnr`` and ``maxSnr`` times the local noise (log-uniform). Nothing
is masked and the variance plane is left alone, as for a detector hit that no
earlier step found.
"""
from __future__ import annotations

import numpy as np
from astropy.table import Table

from ..exposure import Exposure

#: Share of the cosmic rays that are single pixels (hot pixels, head-on hits).
SINGLE_PIXEL_FRACTION = 1.0 / 3.0


def addCosmicRays(exposure: Exposure, n: int, rng: np.random.Generator, minSnr: float = 8.0,
                  maxSnr: float = 300.0, maxLength: int = 8, border: int = 40) -> Table:
    """Add ``n`` cosmic rays to ``exposure.image`` in place; return where they are.

    Parameters
    ----------
    exposure : Exposure
        The exposure hit (its image changes; mask and variance do not).
    n : int
        Number of cosmic rays.
    rng : numpy.random.Generator
        Random numbers.
    minSnr, maxSnr : float
        Range of each pixel's value in units of its noise sigma.
    maxLength : int
        Longest track, in pixels.
    border : int
        Pixels kept clear at each image edge.

    Returns
    -------
    astropy.table.Table
        ``x``, ``y`` (the track's middle, 0-based pixel centres), ``length`` (pixels)
        and ``peakSnr`` (the largest pixel value over its noise).
    """
    height, width = exposure.shape
    rows = {"x": [], "y": [], "length": [], "peakSnr": []}
    for _ in range(n):
        single = rng.random() < SINGLE_PIXEL_FRACTION
        length = 1 if single else int(rng.integers(2, maxLength + 1))
        angle = rng.uniform(0.0, np.pi)
        x0 = rng.uniform(border, width - border)
        y0 = rng.uniform(border, height - border)
        steps = np.arange(length) - (length - 1) / 2.0
        ix = np.unique(np.stack([np.floor(y0 + steps * np.sin(angle) + 0.5),
                                 np.floor(x0 + steps * np.cos(angle) + 0.5)], axis=1)
                       .astype(int), axis=0)
        snr = np.exp(rng.uniform(np.log(minSnr), np.log(maxSnr), len(ix)))
        sigma = np.sqrt(exposure.variance[ix[:, 0], ix[:, 1]])
        exposure.image[ix[:, 0], ix[:, 1]] += (snr * sigma).astype(exposure.image.dtype)
        rows["x"].append(float(ix[:, 1].mean()))
        rows["y"].append(float(ix[:, 0].mean()))
        rows["length"].append(len(ix))
        rows["peakSnr"].append(float(snr.max()))
    return Table(rows)
