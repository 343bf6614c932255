"""Gaussian-windowed centroids of the unsmoothed image, for many sources at once."""
from __future__ import annotations

import numpy as np

from diffim.stamps import extractStamps


def windowedCentroids(image: np.ndarray, owner: np.ndarray, labels: np.ndarray,
                      x0: np.ndarray, y0: np.ndarray, sign: np.ndarray, sigma: float,
                      maxShift: float = 2.0, maxIter: int = 30,
                      tolerance: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterate a Gaussian-weighted first moment to the centre of each source.

    The window is a circular Gaussian of the PSF sigma centred on the current
    estimate; the update ``x += 2 * sum(w (X - x) I) / sum(w I)`` lands on the
    centre of a Gaussian source of that sigma in one step, and for any
    symmetric source its fixed point is the source centre. The estimator
    reaches the Cramér-Rao bound of a PSF fit for a Gaussian PSF on white noise.
    Only pixels of the source's own footprint count, weighted by
    ``max(sign * image, 0)`` so that a dipole lobe ignores the other lobe.

    Parameters
    ----------
    image : numpy.ndarray
        Unsmoothed image (invalid pixels already 0).
    owner : numpy.ndarray
        Footprint label of each source (int, n of them).
    labels : numpy.ndarray
        Footprint label image.
    x0, y0 : numpy.ndarray
        Integer start pixels (the peaks).
    sign : numpy.ndarray
        +1 or -1 per source: the sign of the light to centre on.
    sigma : float
        PSF sigma (pixels), the window width.
    maxShift : float
        A centroid farther than this from its start pixel counts as failed.
    maxIter : int
        Iteration limit.
    tolerance : float
        Stop when no source moves more than this (pixels).

    Returns
    -------
    x, y : numpy.ndarray
        Centroids; the start pixel where the iteration failed.
    failed : numpy.ndarray
        True where the windowed centroid could not be computed.
    """
    x0 = np.asarray(x0, dtype=np.int64)
    y0 = np.asarray(y0, dtype=np.int64)
    n = x0.size
    if n == 0:
        empty = np.zeros(0)
        return empty, empty.copy(), np.zeros(0, dtype=bool)
    half = int(np.ceil(4.0 * sigma + maxShift))
    light = extractStamps(image, x0, y0, half, 0.0).astype(np.float64)
    light *= np.asarray(sign, dtype=np.float64)[:, None, None]
    mine = extractStamps(labels, x0, y0, half, 0) == np.asarray(owner)[:, None, None]
    light = np.where(mine, np.clip(light, 0.0, None), 0.0)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    dx = np.zeros(n)
    dy = np.zeros(n)
    active = np.ones(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    for _ in range(maxIter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        rx = offsets[None, :] - dx[idx, None]
        ry = offsets[None, :] - dy[idx, None]
        window = (np.exp(-0.5 * (ry / sigma) ** 2)[:, :, None]
                  * np.exp(-0.5 * (rx / sigma) ** 2)[:, None, :])
        weighted = window * light[idx]
        total = weighted.sum(axis=(1, 2))
        bad = ~(total > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            stepX = 2.0 * np.einsum("kyx,kx->k", weighted, rx) / total
            stepY = 2.0 * np.einsum("kyx,ky->k", weighted, ry) / total
        stepX = np.clip(np.where(bad, 0.0, stepX), -1.0, 1.0)
        stepY = np.clip(np.where(bad, 0.0, stepY), -1.0, 1.0)
        dx[idx] += stepX
        dy[idx] += stepY
        lost = bad | (np.hypot(dx[idx], dy[idx]) > maxShift)
        failed[idx[lost]] = True
        active[idx[lost | (np.maximum(np.abs(stepX), np.abs(stepY)) < tolerance)]] = False
    dx[failed] = 0.0
    dy[failed] = 0.0
    return x0 + dx, y0 + dy, failed
