"""Gaussian-windowed centroids with errors, for many sources at once.

The estimator is the windowed first moment (SExtractor's ``XWIN``, LSST's
``base_GaussianCentroid`` in spirit): a circular Gaussian window of the PSF
sigma, centred on the current estimate ``c``, moves it by
``2 sum(w (X - c) I) / sum(w I)``. For a Gaussian source of the window's width
it lands on the centre in one step; for any symmetric source the fixed point is
its centre, and for a Gaussian PSF on white noise it reaches the Cramér-Rao
bound of a PSF fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stamps import extractStamps, nearestPixel, stampPixelMask

#: A centroid that moves farther than this from its start (pixels) has failed.
MAX_SHIFT = 2.0

#: Iteration limit and convergence tolerance (pixels).
MAX_ITER = 30
TOLERANCE = 1e-4

#: A centroid still moving by more than this (pixels) after MAX_ITER has failed; one
#: oscillating by less (a source cut by its footprint) keeps its last position.
UNCONVERGED_STEP = 1e-2


@dataclass
class Centroids:
    """Windowed centroids and their 1-sigma errors; ``failed`` rows hold their start.

    ``xUnit``, ``yUnit`` are the errors the same pixels would give with a variance of 1
    each (to rescale the part of the noise that is correlated). Errors are NaN where
    the centroid failed, and for every source when no variance was given.
    """

    x: np.ndarray
    y: np.ndarray
    xErr: np.ndarray
    yErr: np.ndarray
    xUnit: np.ndarray
    yUnit: np.ndarray
    failed: np.ndarray


def windowedCentroids(image: np.ndarray, x0: np.ndarray, y0: np.ndarray, sigma: float,
                      variance: np.ndarray | None = None, usable: np.ndarray | None = None,
                      labels: np.ndarray | None = None, owner: np.ndarray | None = None,
                      sign: np.ndarray | None = None, ownFootprintOnly: bool = False,
                      clipNegative: bool = False, maxShift: float = MAX_SHIFT) -> Centroids:
    """Iterate a Gaussian-weighted first moment to the centre of each source.

    The light is ``sign * image``; pixels that are not ``usable``, or that belong
    to another source's footprint, carry no weight. At convergence the error
    follows from linearising the fixed point ``sum(w (X - c) I) = 0`` on
    uncorrelated pixel noise:
    ``var(c) = sum(w^2 (X - c)^2 V) / sum(w I (1 - (X - c)^2 / sigma^2))^2``.

    Parameters
    ----------
    image : numpy.ndarray
        The image (background-subtracted).
    x0, y0 : numpy.ndarray
        Start positions.
    sigma : float
        Window sigma (pixels): the PSF sigma.
    variance : numpy.ndarray, optional
        Per-pixel variance, for the errors.
    usable : numpy.ndarray, optional
        True where a pixel may be used (all pixels when omitted).
    labels : numpy.ndarray, optional
        Footprint label image (0: no footprint).
    owner : numpy.ndarray, optional
        With ``labels``: the footprint label of each source.
    sign : numpy.ndarray, optional
        +1 or -1 per source: the sign of the light to centre on (+1 when omitted).
    ownFootprintOnly : bool
        Use only the pixels of the source's own footprint (not unlabelled ones).
    clipNegative : bool
        Give pixels of the wrong sign no weight (so that one lobe of a dipole
        ignores the other).
    maxShift : float
        A centroid farther than this from its start has failed.

    Returns
    -------
    Centroids
        Failed rows keep their start position: no positive windowed light, a
        run of more than ``maxShift`` pixels, or still moving by more than
        :data:`UNCONVERGED_STEP` after :data:`MAX_ITER` steps.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    n = x0.size
    ix, iy = nearestPixel(x0, y0)
    half = int(np.ceil(4.0 * sigma + maxShift))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    allowed = stampPixelMask(image.shape, ix, iy, half, usable, labels, owner,
                             ownFootprintOnly)
    light = np.where(allowed, extractStamps(image, ix, iy, half, 0.0), 0.0).astype(np.float64)
    if sign is not None:
        light *= np.asarray(sign, dtype=np.float64)[:, None, None]
    if clipNegative:
        np.clip(light, 0.0, None, out=light)
    dx, dy = x0 - ix, y0 - iy
    startX, startY = dx.copy(), dy.copy()
    active = np.ones(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    lastStep = np.zeros(n)
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        window = _window(offsets, dx[idx], dy[idx], sigma)
        weighted = window * light[idx]
        total = weighted.sum(axis=(1, 2))
        rx = offsets[None, :] - dx[idx, None]
        ry = offsets[None, :] - dy[idx, None]
        bad = ~(total > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            stepX = np.where(bad, 0.0, 2.0 * np.einsum("kyx,kx->k", weighted, rx) / total)
            stepY = np.where(bad, 0.0, 2.0 * np.einsum("kyx,ky->k", weighted, ry) / total)
        stepX, stepY = np.clip(stepX, -1.0, 1.0), np.clip(stepY, -1.0, 1.0)
        dx[idx] += stepX
        dy[idx] += stepY
        lastStep[idx] = np.maximum(np.abs(stepX), np.abs(stepY))
        lost = bad | (np.hypot(dx[idx] - startX[idx], dy[idx] - startY[idx]) > maxShift)
        failed[idx[lost]] = True
        active[idx[lost | (lastStep[idx] < TOLERANCE)]] = False
    failed |= active & (lastStep > UNCONVERGED_STEP)
    errors = _errors(light, allowed, variance, ix, iy, half, offsets, dx, dy, sigma)
    for error in errors:
        error[failed] = np.nan
    x = np.where(failed, x0, ix + dx)
    y = np.where(failed, y0, iy + dy)
    return Centroids(x, y, *errors, failed)


def _window(offsets: np.ndarray, dx: np.ndarray, dy: np.ndarray, sigma: float) -> np.ndarray:
    """Circular Gaussian windows of ``sigma`` centred ``(dx, dy)`` from each stamp's middle."""
    rx = offsets[None, :] - dx[:, None]
    ry = offsets[None, :] - dy[:, None]
    return (np.exp(-0.5 * (ry / sigma) ** 2)[:, :, None]
            * np.exp(-0.5 * (rx / sigma) ** 2)[:, None, :])


def _errors(light: np.ndarray, allowed: np.ndarray, variance: np.ndarray | None,
            ix: np.ndarray, iy: np.ndarray, half: int, offsets: np.ndarray, dx: np.ndarray,
            dy: np.ndarray, sigma: float) -> list[np.ndarray]:
    """``xErr``, ``yErr``, ``xUnit``, ``yUnit`` at the converged centres."""
    window = _window(offsets, dx, dy, sigma)
    rx = offsets[None, None, :] - dx[:, None, None]
    ry = offsets[None, :, None] - dy[:, None, None]
    weighted = window * light
    used = allowed.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        slopeX = np.abs((weighted * (1.0 - rx ** 2 / sigma ** 2)).sum(axis=(1, 2)))
        slopeY = np.abs((weighted * (1.0 - ry ** 2 / sigma ** 2)).sum(axis=(1, 2)))
        xUnit = np.sqrt((window ** 2 * used * rx ** 2).sum(axis=(1, 2))) / slopeX
        yUnit = np.sqrt((window ** 2 * used * ry ** 2).sum(axis=(1, 2))) / slopeY
        if variance is None:
            return [np.full(len(dx), np.nan), np.full(len(dx), np.nan), xUnit, yUnit]
        noise = np.where(allowed, extractStamps(variance, ix, iy, half, 0.0),
                         0.0).astype(np.float64)
        xErr = np.sqrt((window ** 2 * noise * rx ** 2).sum(axis=(1, 2))) / slopeX
        yErr = np.sqrt((window ** 2 * noise * ry ** 2).sum(axis=(1, 2))) / slopeY
    return [xErr, yErr, xUnit, yUnit]
