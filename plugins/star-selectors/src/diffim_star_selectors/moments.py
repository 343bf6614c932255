"""Adaptive second moments: the elliptical Gaussian weight that matches each source.

For a source of surface brightness ``I`` and a weight
``W = exp(-d^T M^-1 d / 2)`` (``d`` the offset from the centre ``c``), the
weighted first and second moments of ``I W`` give a new centre and shape. When
``I`` is a Gaussian of covariance ``C`` and ``M = C``, the weighted covariance
is ``C / 2`` and the weighted centre lies half way to the true one, so
iterating ``M <- 2 Cov_W``, ``c <- c + 2 Mean_W`` converges on ``M = C``:
the adaptive moments (as SDSS and LSST's ``SdssShape`` measure them). Unlike
moments over an isophote they do not grow with the flux of the source.

The Gaussian flux is ``2 sum(I W)`` at convergence (exact for a Gaussian
source), its error ``2 sqrt(sum(W^2 V))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Iterations before a source that has not converged is given up.
MAX_ITERATIONS = 60

#: Convergence: largest change of Ixx, Iyy, Ixy relative to their mean diagonal.
SHAPE_TOLERANCE = 1e-4

#: Convergence: largest centre change (pixels).
CENTRE_TOLERANCE = 1e-3

#: Moments (pixels²) below which a source is narrower than a pixel could be: a
#: cosmic ray or a hot pixel, whose moments shrink without bound.
MIN_MOMENT = 0.02


@dataclass
class Moments:
    """Adaptive moments of a set of sources; NaN where ``failed``.

    Attributes
    ----------
    x, y : numpy.ndarray
        Centres, relative to each stamp's middle pixel.
    ixx, iyy, ixy : numpy.ndarray
        Second moments (pixels²).
    flux, fluxErr : numpy.ndarray
        Gaussian flux and its error.
    failed : numpy.ndarray
        True where the iteration did not converge: no positive weighted flux,
        moments below :data:`MIN_MOMENT` or too wide for the stamp, centre
        running off, or no convergence in :data:`MAX_ITERATIONS`.
    """

    x: np.ndarray
    y: np.ndarray
    ixx: np.ndarray
    iyy: np.ndarray
    ixy: np.ndarray
    flux: np.ndarray
    fluxErr: np.ndarray
    failed: np.ndarray

    @property
    def width(self) -> np.ndarray:
        """``sqrt((Ixx + Iyy) / 2)``, the size LSST's object-size star selector uses."""
        return np.sqrt(0.5 * (self.ixx + self.iyy))


def _weights(dx: np.ndarray, dy: np.ndarray, ixx: np.ndarray, iyy: np.ndarray,
             ixy: np.ndarray) -> np.ndarray:
    """``exp(-d^T M^-1 d / 2)`` for each stamp's moments ``M`` (broadcast over the stamps)."""
    det = (ixx * iyy - ixy * ixy)[:, None, None]
    q = (iyy[:, None, None] * dx * dx - 2.0 * ixy[:, None, None] * dx * dy
         + ixx[:, None, None] * dy * dy) / det
    return np.exp(-0.5 * q)


def stampMoments(stamps: np.ndarray, variances: np.ndarray, valid: np.ndarray,
                 x0: np.ndarray, y0: np.ndarray, sigma0: np.ndarray) -> Moments:
    """Adaptive moments and Gaussian flux of one source per stamp.

    Parameters
    ----------
    stamps : numpy.ndarray
        ``(n, s, s)`` background-subtracted pixels, ``s`` odd.
    variances : numpy.ndarray
        ``(n, s, s)`` pixel variances.
    valid : numpy.ndarray
        ``(n, s, s)`` True for pixels that may be used (others get zero weight).
    x0, y0 : numpy.ndarray
        Starting centres, relative to the middle pixel.
    sigma0 : numpy.ndarray
        Starting Gaussian widths (pixels), circular.

    Returns
    -------
    Moments
    """
    n, size = stamps.shape[0], stamps.shape[1]
    half = size // 2
    offsets = np.arange(size, dtype=np.float64) - half
    gx, gy = offsets[None, None, :], offsets[None, :, None]
    data = np.where(valid, stamps, 0.0).astype(np.float64)
    mask = valid.astype(np.float64)
    x0, y0 = np.asarray(x0, dtype=np.float64), np.asarray(y0, dtype=np.float64)
    x, y = x0.copy(), y0.copy()
    ixx = np.asarray(sigma0, dtype=np.float64) ** 2
    iyy, ixy = ixx.copy(), np.zeros(n)
    failed = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    for _ in range(MAX_ITERATIONS):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        dx, dy = gx - x[idx, None, None], gy - y[idx, None, None]
        iw = data[idx] * _weights(dx, dy, ixx[idx], iyy[idx], ixy[idx])
        s0 = iw.sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            mx = (iw * dx).sum(axis=(1, 2)) / s0
            my = (iw * dy).sum(axis=(1, 2)) / s0
            nxx = 2.0 * ((iw * dx * dx).sum(axis=(1, 2)) / s0 - mx * mx)
            nyy = 2.0 * ((iw * dy * dy).sum(axis=(1, 2)) / s0 - my * my)
            nxy = 2.0 * ((iw * dx * dy).sum(axis=(1, 2)) / s0 - mx * my)
        nx, ny = x[idx] + 2.0 * mx, y[idx] + 2.0 * my
        bad = ~(s0 > 0) | ~np.isfinite(nxx + nyy + nxy + nx + ny)
        bad |= (nxx < MIN_MOMENT) | (nyy < MIN_MOMENT) | (nxx * nyy - nxy * nxy < MIN_MOMENT ** 2)
        bad |= (nxx > half * half) | (nyy > half * half)
        bad |= (np.abs(nx - x0[idx]) > 0.5 * half) | (np.abs(ny - y0[idx]) > 0.5 * half)
        scale = 0.5 * (ixx[idx] + iyy[idx])
        done = ((np.abs(nxx - ixx[idx]) < SHAPE_TOLERANCE * scale)
                & (np.abs(nyy - iyy[idx]) < SHAPE_TOLERANCE * scale)
                & (np.abs(nxy - ixy[idx]) < SHAPE_TOLERANCE * scale)
                & (np.abs(nx - x[idx]) < CENTRE_TOLERANCE)
                & (np.abs(ny - y[idx]) < CENTRE_TOLERANCE))
        good = ~bad
        keep = idx[good]
        x[keep], y[keep] = nx[good], ny[good]
        ixx[keep], iyy[keep], ixy[keep] = nxx[good], nyy[good], nxy[good]
        failed[idx[bad]] = True
        active[idx[bad | done]] = False
    failed |= active
    flux, fluxErr = _gaussianFlux(data, variances, mask, gx, gy, x, y, ixx, iyy, ixy, failed)
    for values in (x, y, ixx, iyy, ixy):
        values[failed] = np.nan
    return Moments(x, y, ixx, iyy, ixy, flux, fluxErr, failed)


def _gaussianFlux(data: np.ndarray, variances: np.ndarray, mask: np.ndarray, gx: np.ndarray,
                  gy: np.ndarray, x: np.ndarray, y: np.ndarray, ixx: np.ndarray,
                  iyy: np.ndarray, ixy: np.ndarray,
                  failed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``2 sum(I W)`` and ``2 sqrt(sum(W² V))`` under the converged weight; NaN where failed."""
    flux = np.full(len(x), np.nan)
    fluxErr = np.full(len(x), np.nan)
    idx = np.flatnonzero(~failed)
    if len(idx):
        w = mask[idx] * _weights(gx - x[idx, None, None], gy - y[idx, None, None],
                                 ixx[idx], iyy[idx], ixy[idx])
        flux[idx] = 2.0 * (data[idx] * w).sum(axis=(1, 2))
        fluxErr[idx] = 2.0 * np.sqrt((w * w * variances[idx]).sum(axis=(1, 2)))
    return flux, fluxErr
