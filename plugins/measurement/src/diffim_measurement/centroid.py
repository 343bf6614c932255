"""Gaussian-windowed centroids with errors, for many sources at once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.stamps import extractStamps, nearestPixel

#: A centroid that moves farther than this from its start (pixels) has failed.
MAX_SHIFT = 2.0

#: Iteration limit and convergence tolerance (pixels).
MAX_ITER = 30
TOLERANCE = 1e-4


@dataclass
class Centroids:
    """Windowed centroids and their 1-sigma errors; ``failed`` rows hold their start.

    ``xUnit``, ``yUnit`` are the errors the same pixels would give with a variance of 1
    each (to rescale the part of the noise that is correlated).
    """

    x: np.ndarray
    y: np.ndarray
    xErr: np.ndarray
    yErr: np.ndarray
    xUnit: np.ndarray
    yUnit: np.ndarray
    failed: np.ndarray


def windowedCentroids(image: np.ndarray, variance: np.ndarray, usable: np.ndarray,
                      labels: np.ndarray, owner: np.ndarray, x0: np.ndarray, y0: np.ndarray,
                      sign: np.ndarray, sigma: float) -> Centroids:
    """Iterate a Gaussian-weighted first moment to the centre of each source.

    With a circular Gaussian window ``w`` of the PSF sigma centred on the
    current estimate ``xc``, the update is ``xc += 2 sum(w (X - xc) I) / sum(w I)``
    (it lands on the centre of a Gaussian source of that sigma in one step; for
    any symmetric source the fixed point is its centre). ``I`` is
    ``sign * image``; pixels that are unusable or belong to another source's
    footprint carry no weight. At convergence the error follows from
    linearising the fixed point ``sum(w (X - xc) I) = 0`` on uncorrelated pixel
    noise: ``var(xc) = sum(w^2 (X - xc)^2 V) / sum(w I (1 - (X - xc)^2 / sigma^2))^2``
    (``4 sum(w^2 (X - xc)^2 V) / sum(w I)^2`` for a Gaussian source of the window's
    width).

    Parameters
    ----------
    image, variance : numpy.ndarray
        Difference image and its variance.
    usable : numpy.ndarray
        True where a pixel may be used.
    labels : numpy.ndarray
        Footprint label image.
    owner : numpy.ndarray
        Label of each source (its own footprint pixels, and unlabelled ones, are used).
    x0, y0 : numpy.ndarray
        Start positions.
    sign : numpy.ndarray
        +1 or -1: the sign of the light to centre on.
    sigma : float
        Window sigma (pixels), the PSF sigma.

    Returns
    -------
    Centroids
    """
    n = len(x0)
    ix, iy = nearestPixel(x0, y0)
    half = int(np.ceil(4.0 * sigma + MAX_SHIFT))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    stampLabels = extractStamps(labels, ix, iy, half, -1)
    allowed = ((stampLabels == 0) | (stampLabels == np.asarray(owner)[:, None, None]))
    allowed &= extractStamps(usable, ix, iy, half, False)
    light = np.where(allowed, extractStamps(image, ix, iy, half, 0.0), 0.0).astype(np.float64)
    light *= np.asarray(sign, dtype=np.float64)[:, None, None]
    noise = np.where(allowed, extractStamps(variance, ix, iy, half, 0.0), 0.0).astype(np.float64)
    dx = np.asarray(x0, dtype=np.float64) - ix
    dy = np.asarray(y0, dtype=np.float64) - iy
    startX, startY = dx.copy(), dy.copy()
    active = np.ones(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        rx, ry, weighted, total = _moments(light[idx], offsets, dx[idx], dy[idx], sigma)
        bad = ~(total > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            stepX = np.clip(np.where(bad, 0.0, 2.0 * np.einsum("kyx,kx->k", weighted, rx) / total),
                            -1.0, 1.0)
            stepY = np.clip(np.where(bad, 0.0, 2.0 * np.einsum("kyx,ky->k", weighted, ry) / total),
                            -1.0, 1.0)
        dx[idx] += stepX
        dy[idx] += stepY
        lost = bad | (np.hypot(dx[idx] - startX[idx], dy[idx] - startY[idx]) > MAX_SHIFT)
        failed[idx[lost]] = True
        active[idx[lost | (np.maximum(np.abs(stepX), np.abs(stepY)) < TOLERANCE)]] = False
    failed |= active
    window = _window(offsets, dx, dy, sigma)
    rx = offsets[None, None, :] - dx[:, None, None]
    ry = offsets[None, :, None] - dy[:, None, None]
    weighted = window * light
    used = allowed.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        slopeX = np.abs((weighted * (1.0 - rx ** 2 / sigma ** 2)).sum(axis=(1, 2)))
        slopeY = np.abs((weighted * (1.0 - ry ** 2 / sigma ** 2)).sum(axis=(1, 2)))
        xErr = np.sqrt((window ** 2 * noise * rx ** 2).sum(axis=(1, 2))) / slopeX
        yErr = np.sqrt((window ** 2 * noise * ry ** 2).sum(axis=(1, 2))) / slopeY
        xUnit = np.sqrt((window ** 2 * used * rx ** 2).sum(axis=(1, 2))) / slopeX
        yUnit = np.sqrt((window ** 2 * used * ry ** 2).sum(axis=(1, 2))) / slopeY
    x = np.where(failed, x0, ix + dx)
    y = np.where(failed, y0, iy + dy)
    for error in (xErr, yErr, xUnit, yUnit):
        error[failed] = np.nan
    return Centroids(x, y, xErr, yErr, xUnit, yUnit, failed)


def _window(offsets: np.ndarray, dx: np.ndarray, dy: np.ndarray, sigma: float) -> np.ndarray:
    """Circular Gaussian windows of ``sigma`` centred ``(dx, dy)`` from each stamp's middle."""
    rx = offsets[None, :] - dx[:, None]
    ry = offsets[None, :] - dy[:, None]
    return (np.exp(-0.5 * (ry / sigma) ** 2)[:, :, None]
            * np.exp(-0.5 * (rx / sigma) ** 2)[:, None, :])


def _moments(light: np.ndarray, offsets: np.ndarray, dx: np.ndarray, dy: np.ndarray,
             sigma: float) -> tuple[np.ndarray, ...]:
    """Offsets from the centre, window-weighted light and its sum for each stamp."""
    rx = offsets[None, :] - dx[:, None]
    ry = offsets[None, :] - dy[:, None]
    weighted = _window(offsets, dx, dy, sigma) * light
    return rx, ry, weighted, weighted.sum(axis=(1, 2))
