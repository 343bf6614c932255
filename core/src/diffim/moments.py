"""Adaptive second moments (SDSS / LSST ``SdssShape``) and Gaussian fluxes of many sources.

For a source of surface brightness ``I`` and an elliptical Gaussian weight
``W(d) = exp(-d^T M^-1 d / 2)`` about a centre ``c``, let ``M_w`` and ``m`` be the
covariance and mean offset of ``I W``. For a Gaussian source of covariance ``C``
centred on ``c``, ``M_w = (C^-1 + M^-1)^-1``, which is ``C / 2`` when ``M = C``,
and the weighted centre lies half way to the true one; so iterating
``M <- 2 M_w``, ``c <- c + 2 m`` converges on ``M = C`` (SDSS's adaptive
moments). The fixed point ``M_w = M / 2`` holds for any source, and the update
always stays positive definite, which the faster one-step inversion
``M <- (M_w^-1 - M^-1)^-1`` does not on faint, noisy sources. Unlike moments over
an isophote, adaptive moments do not grow with the flux of the source. The
Gaussian flux is ``2 sum(I W)`` at convergence (exact for a Gaussian source), its
error ``2 sqrt(sum(W^2 V))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stamps import extractStamps, nearestPixel, stampPixelMask

#: Iterations before a source that has not converged is given up.
MAX_ITERATIONS = 60

#: Convergence: largest change of Ixx, Iyy, Ixy relative to their mean diagonal.
SHAPE_TOLERANCE = 1e-4

#: Convergence: largest centre change (pixels).
CENTRE_TOLERANCE = 1e-3

#: Moments (pixels²) below which a source is narrower than a pixel could be: a
#: cosmic ray or a hot pixel, whose moments shrink without bound.
MIN_MOMENT = 0.02

#: Sources measured per vectorised batch (bounds the memory of the stamps).
BATCH = 256


@dataclass
class Moments:
    """Adaptive moments of a set of sources; NaN where ``failed``.

    Attributes
    ----------
    x, y : numpy.ndarray
        Centres (the start position where the centre was held fixed or the
        measurement failed).
    ixx, iyy, ixy : numpy.ndarray
        Second moments (pixels²).
    flux, fluxErr : numpy.ndarray
        Gaussian flux and its error (NaN error without a variance).
    failed : numpy.ndarray
        True where the iteration did not converge: no positive weighted flux,
        moments below :data:`MIN_MOMENT`, not positive definite or too wide for
        the stamp, the centre running off, or no convergence in
        :data:`MAX_ITERATIONS`.
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

    @staticmethod
    def concatenate(parts: list["Moments"]) -> "Moments":
        names = ("x", "y", "ixx", "iyy", "ixy", "flux", "fluxErr", "failed")
        if not parts:
            return Moments(*(np.empty(0) for _ in names[:-1]), np.empty(0, dtype=bool))
        return Moments(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))


def adaptiveMoments(image: np.ndarray, x0: np.ndarray, y0: np.ndarray,
                    sigma0: float | np.ndarray, half: int | None = None,
                    variance: np.ndarray | None = None, usable: np.ndarray | None = None,
                    labels: np.ndarray | None = None, owner: np.ndarray | None = None,
                    sign: np.ndarray | None = None, fixCentre: bool = True,
                    maxMoment: float | None = None) -> Moments:
    """Adaptive moments and Gaussian fluxes of sources in an image.

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image.
    x0, y0 : numpy.ndarray
        Start centres (pixels).
    sigma0 : float or numpy.ndarray
        Start width(s) of the circular weight (pixels).
    half : int, optional
        Half-width of the stamps measured; ``ceil(6 * max(sigma0))`` when omitted.
    variance : numpy.ndarray, optional
        Per-pixel variance, for the flux errors.
    usable : numpy.ndarray, optional
        True where a pixel may be used.
    labels, owner : numpy.ndarray, optional
        Footprint label image and each source's label: pixels of other sources'
        footprints carry no weight.
    sign : numpy.ndarray, optional
        +1 or -1 per source: the sign of the light to measure.
    fixCentre : bool
        Hold the centre at ``(x0, y0)`` (True) or iterate it with the shape.
    maxMoment : float, optional
        Largest Ixx or Iyy (pixels²) before a source counts as too wide for its
        stamp; ``(half / 2)**2`` when omitted.

    Returns
    -------
    Moments
    """
    x0 = np.asarray(x0, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    n = x0.size
    sigma0 = np.broadcast_to(np.asarray(sigma0, dtype=np.float64), (n,))
    finite = np.isfinite(x0) & np.isfinite(y0)
    xs, ys = np.where(finite, x0, 0.0), np.where(finite, y0, 0.0)
    if half is None:
        half = int(np.ceil(6.0 * float(sigma0.max()))) if n else 1
    ix, iy = nearestPixel(xs, ys)
    parts = []
    for start in range(0, n, BATCH):
        sl = slice(start, min(start + BATCH, n))
        stamps = extractStamps(image, ix[sl], iy[sl], half, 0.0).astype(np.float64)
        valid = stampPixelMask(image.shape, ix[sl], iy[sl], half, usable, labels,
                               None if owner is None else np.asarray(owner)[sl])
        if sign is not None:
            stamps *= np.asarray(sign, dtype=np.float64)[sl, None, None]
        variances = (None if variance is None else
                     extractStamps(variance, ix[sl], iy[sl], half, 0.0).astype(np.float64))
        part = stampMoments(stamps, valid, xs[sl] - ix[sl], ys[sl] - iy[sl], sigma0[sl],
                            variances=variances, fixCentre=fixCentre, maxMoment=maxMoment)
        part.x += ix[sl]
        part.y += iy[sl]
        parts.append(part)
    result = Moments.concatenate(parts)
    result.failed |= ~finite
    for values in (result.ixx, result.iyy, result.ixy, result.flux, result.fluxErr):
        values[~finite] = np.nan
    result.x = np.where(result.failed, x0, result.x)
    result.y = np.where(result.failed, y0, result.y)
    return result


def stampMoments(stamps: np.ndarray, valid: np.ndarray, x0: np.ndarray, y0: np.ndarray,
                 sigma0: np.ndarray, variances: np.ndarray | None = None,
                 fixCentre: bool = True, maxMoment: float | None = None) -> Moments:
    """Adaptive moments and Gaussian flux of one source per stamp.

    Parameters
    ----------
    stamps : numpy.ndarray
        ``(n, s, s)`` background-subtracted pixels, ``s`` odd.
    valid : numpy.ndarray
        ``(n, s, s)`` True for pixels that may be used (others get zero weight).
    x0, y0 : numpy.ndarray
        Start centres, relative to the middle pixel.
    sigma0 : numpy.ndarray
        Start widths (pixels) of the circular weight.
    variances : numpy.ndarray, optional
        ``(n, s, s)`` pixel variances, for the flux errors.
    fixCentre : bool
        Hold the centre fixed.
    maxMoment : float, optional
        Largest Ixx or Iyy before a source counts as too wide: ``(half / 2)**2``
        (``half`` the stamp half-width) when omitted.

    Returns
    -------
    Moments
        Centres relative to the middle pixel.
    """
    n, size = stamps.shape[0], stamps.shape[1]
    half = size // 2
    offsets = np.arange(size, dtype=np.float64) - half
    gx, gy = offsets[None, None, :], offsets[None, :, None]
    data = np.where(valid, stamps, 0.0).astype(np.float64)
    x0, y0 = np.asarray(x0, dtype=np.float64), np.asarray(y0, dtype=np.float64)
    x, y = x0.copy(), y0.copy()
    moments = np.column_stack([np.asarray(sigma0, np.float64) ** 2] * 2 + [np.zeros(n)])
    failed = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    limit = (half / 2.0) ** 2 if maxMoment is None else maxMoment
    for _ in range(MAX_ITERATIONS):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        dx, dy = gx - x[idx, None, None], gy - y[idx, None, None]
        iw = data[idx] * _weights(dx, dy, moments[idx])
        s0 = iw.sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            mx = (iw * dx).sum(axis=(1, 2)) / s0
            my = (iw * dy).sum(axis=(1, 2)) / s0
            weighted = np.column_stack([(iw * dx * dx).sum(axis=(1, 2)) / s0 - mx * mx,
                                        (iw * dy * dy).sum(axis=(1, 2)) / s0 - my * my,
                                        (iw * dx * dy).sum(axis=(1, 2)) / s0 - mx * my])
        new = 2.0 * weighted
        stepX, stepY = 2.0 * mx, 2.0 * my
        if fixCentre:
            stepX, stepY = np.zeros(len(idx)), np.zeros(len(idx))
        stepX, stepY = np.clip(stepX, -1.0, 1.0), np.clip(stepY, -1.0, 1.0)
        nx, ny = x[idx] + stepX, y[idx] + stepY
        det = new[:, 0] * new[:, 1] - new[:, 2] ** 2
        bad = ~(s0 > 0) | ~np.isfinite(new.sum(axis=1) + nx + ny)
        bad |= (new[:, 0] < MIN_MOMENT) | (new[:, 1] < MIN_MOMENT) | (det < MIN_MOMENT ** 2)
        bad |= (new[:, 0] > limit) | (new[:, 1] > limit)
        bad |= (np.abs(nx - x0[idx]) > 0.5 * half) | (np.abs(ny - y0[idx]) > 0.5 * half)
        scale = 0.5 * (moments[idx, 0] + moments[idx, 1])
        done = ((np.abs(new - moments[idx]).max(axis=1) < SHAPE_TOLERANCE * scale)
                & (np.abs(stepX) < CENTRE_TOLERANCE) & (np.abs(stepY) < CENTRE_TOLERANCE))
        good = ~bad
        keep = idx[good]
        x[keep], y[keep] = nx[good], ny[good]
        moments[keep] = new[good]
        failed[idx[bad]] = True
        active[idx[bad | done]] = False
    failed |= active
    flux, fluxErr = _gaussianFlux(data, variances, valid, gx, gy, x, y, moments, failed)
    moments[failed] = np.nan
    x, y = np.where(failed, x0, x), np.where(failed, y0, y)
    return Moments(x, y, moments[:, 0], moments[:, 1], moments[:, 2], flux, fluxErr, failed)


def _weights(dx: np.ndarray, dy: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """``exp(-d^T M^-1 d / 2)`` for each stamp's moments ``M`` (rows ``xx, yy, xy``)."""
    ixx, iyy, ixy = (moments[:, k, None, None] for k in range(3))
    q = (iyy * dx * dx - 2.0 * ixy * dx * dy + ixx * dy * dy) / (ixx * iyy - ixy * ixy)
    return np.exp(-0.5 * q)


def _gaussianFlux(data: np.ndarray, variances: np.ndarray | None, valid: np.ndarray,
                  gx: np.ndarray, gy: np.ndarray, x: np.ndarray, y: np.ndarray,
                  moments: np.ndarray, failed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``2 sum(I W)`` and ``2 sqrt(sum(W² V))`` under the converged weight; NaN where failed."""
    flux = np.full(len(x), np.nan)
    fluxErr = np.full(len(x), np.nan)
    idx = np.flatnonzero(~failed)
    if len(idx):
        w = valid[idx] * _weights(gx - x[idx, None, None], gy - y[idx, None, None], moments[idx])
        flux[idx] = 2.0 * (data[idx] * w).sum(axis=(1, 2))
        if variances is not None:
            fluxErr[idx] = 2.0 * np.sqrt((w * w * variances[idx]).sum(axis=(1, 2)))
    return flux, fluxErr
