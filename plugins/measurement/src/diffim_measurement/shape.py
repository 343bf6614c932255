"""Adaptive second moments (LSST's SdssShape), for many sources at once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.stamps import extractStamps, nearestPixel

#: Iteration limit and relative convergence tolerance of the weight's moments.
MAX_ITER = 40
TOLERANCE = 1e-5


@dataclass
class Shapes:
    """Adaptive moments ``xx, yy, xy`` (pixels squared); NaN where ``failed``."""

    xx: np.ndarray
    yy: np.ndarray
    xy: np.ndarray
    failed: np.ndarray


def adaptiveMoments(image: np.ndarray, usable: np.ndarray, labels: np.ndarray,
                    owner: np.ndarray, xc: np.ndarray, yc: np.ndarray, sign: np.ndarray,
                    sigma: float) -> Shapes:
    """Second moments of the elliptical Gaussian weight matched to each source.

    The weight ``w = exp(-r^T W^-1 r / 2)`` around the fixed centre is matched
    to the source: with ``M_w`` the w-weighted second moments of ``sign *
    image``, a Gaussian source of moments ``M`` has ``M_w = (M^-1 + W^-1)^-1``,
    so ``W <- (M_w^-1 - W^-1)^-1`` reaches ``W = M`` in one step (``W <- 2 M_w``,
    which has the same fixed point and always stays positive definite, is
    used when that inverse is not). ``W`` at convergence is reported. Pixels
    that are unusable or in another source's footprint carry no weight. The
    iteration starts from the PSF width.

    Parameters
    ----------
    image : numpy.ndarray
        Difference image.
    usable : numpy.ndarray
        True where a pixel may be used.
    labels : numpy.ndarray
        Footprint label image.
    owner : numpy.ndarray
        Label of each source.
    xc, yc : numpy.ndarray
        Centres (kept fixed).
    sign : numpy.ndarray
        +1 or -1: the sign of the light to measure.
    sigma : float
        PSF sigma (pixels): the starting weight, and the stamp size (6 sigma).

    Returns
    -------
    Shapes
        A source fails when its weighted flux is not positive, its moments are not
        positive definite, the weight outgrows the stamp, or the iteration does not
        converge.
    """
    n = len(xc)
    finite = np.isfinite(xc) & np.isfinite(yc)
    x0 = np.where(finite, xc, 0.0)
    y0 = np.where(finite, yc, 0.0)
    ix, iy = nearestPixel(x0, y0)
    half = int(np.ceil(6.0 * sigma))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    stampLabels = extractStamps(labels, ix, iy, half, -1)
    allowed = ((stampLabels == 0) | (stampLabels == np.asarray(owner)[:, None, None]))
    allowed &= extractStamps(usable, ix, iy, half, False)
    light = np.where(allowed, extractStamps(image, ix, iy, half, 0.0), 0.0).astype(np.float64)
    light *= np.asarray(sign, dtype=np.float64)[:, None, None]
    rx = offsets[None, None, :] - (x0 - ix)[:, None, None]
    ry = offsets[None, :, None] - (y0 - iy)[:, None, None]
    moments = np.tile([sigma ** 2, sigma ** 2, 0.0], (n, 1))
    active = finite.copy()
    failed = ~finite
    limit = (half / 2.0) ** 2
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        wxx, wyy, wxy = moments[idx].T
        det = wxx * wyy - wxy ** 2
        q = (wyy[:, None, None] * rx[idx] ** 2 + wxx[:, None, None] * ry[idx] ** 2
             - 2.0 * wxy[:, None, None] * rx[idx] * ry[idx]) / det[:, None, None]
        weighted = np.exp(-0.5 * q) * light[idx]
        total = weighted.sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            mxx = (weighted * rx[idx] ** 2).sum(axis=(1, 2)) / total
            myy = (weighted * ry[idx] ** 2).sum(axis=(1, 2)) / total
            mxy = (weighted * rx[idx] * ry[idx]).sum(axis=(1, 2)) / total
        new = _update(moments[idx], np.column_stack([mxx, myy, mxy]))
        bad = ~((total > 0) & (mxx > 0) & (myy > 0) & (mxx * myy > mxy ** 2)
                & (new[:, 0] < limit) & (new[:, 1] < limit))
        change = np.abs(new - moments[idx]).max(axis=1) / np.maximum(new[:, 0] + new[:, 1], 1e-12)
        moments[idx[~bad]] = new[~bad]
        failed[idx[bad]] = True
        active[idx[bad | (change < TOLERANCE)]] = False
    failed |= active
    moments[failed] = np.nan
    return Shapes(moments[:, 0], moments[:, 1], moments[:, 2], failed)


def _inverse(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of ``(xx, yy, xy)`` 2x2 symmetric matrices, and their determinants."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = m[:, 0] * m[:, 1] - m[:, 2] ** 2
        return np.column_stack([m[:, 1], m[:, 0], -m[:, 2]]) / det[:, None], det


def _update(weight: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    """Next weight moments: ``(M_w^-1 - W^-1)^-1`` where positive definite, else ``2 M_w``."""
    inverseWeighted, _ = _inverse(weighted)
    inverseWeight, _ = _inverse(weight)
    deweighted, det = _inverse(inverseWeighted - inverseWeight)
    good = (det > 0) & (deweighted[:, 0] > 0) & np.all(np.isfinite(deweighted), axis=1)
    return np.where(good[:, None], deweighted, 2.0 * weighted)
