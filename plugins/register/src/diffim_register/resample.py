"""Warp the template onto the science pixel grid through a fitted transformation.

The same resampling as :func:`diffim.warp.warpToScience` (cubic image,
bilinear variance, nearest-neighbour mask, NO_DATA grown by two pixels), with
the mapping given as a function instead of a WCS pair, and counts conserved
pixel by pixel (the area ratio is the local Jacobian determinant, so a
distortion that changes the pixel area across the image is followed).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from astropy.wcs import WCS
from scipy import interpolate, ndimage

from diffim.exposure import Exposure
from diffim.warp import MAP_GRID_STEP, MAP_TOLERANCE, WarpedPsf, _gridAxis, _resample

#: Pixels by which NO_DATA is grown: the cubic spline rings next to missing pixels.
NO_DATA_GROW = 2

Mapping = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def mapEveryPixel(shape: tuple[int, int], toTemplate: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """Template coordinates of every pixel of a ``shape`` grid, as two ``[y, x]`` arrays.

    ``toTemplate`` is evaluated exactly every ``MAP_GRID_STEP`` pixels and by
    bicubic splines in between; where the splines miss the exact mapping by
    more than ``MAP_TOLERANCE`` pixels at the cell centres, the exact mapping is
    evaluated everywhere.
    """
    h, w = shape
    gy, gx = _gridAxis(h, MAP_GRID_STEP), _gridAxis(w, MAP_GRID_STEP)
    mx, my = np.meshgrid(gx, gy)
    tx, ty = toTemplate(mx, my)
    order = min(3, len(gx) - 1, len(gy) - 1)
    splines = [interpolate.RectBivariateSpline(gy, gx, grid, kx=order, ky=order)
               for grid in (tx, ty)]
    cx, cy = np.meshgrid(0.5 * (gx[1:] + gx[:-1]), 0.5 * (gy[1:] + gy[:-1]))
    ex, ey = toTemplate(cx, cy)
    error = np.hypot(splines[0](cy, cx, grid=False) - ex, splines[1](cy, cx, grid=False) - ey)
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    if error.size == 0 or np.max(error) < MAP_TOLERANCE:
        return splines[0](ys, xs), splines[1](ys, xs)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return toTemplate(xx, yy)


def pixelAreaRatio(tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Template pixels per science pixel: ``|det d(tx, ty)/d(x, y)|`` at every pixel."""
    dtx_dy, dtx_dx = np.gradient(tx)
    dty_dy, dty_dx = np.gradient(ty)
    return np.abs(dtx_dx * dty_dy - dtx_dy * dty_dx)


def jacobianAt(toTemplate: Mapping, x: float, y: float) -> np.ndarray:
    """2×2 d(template pixel)/d(science pixel) at science ``(x, y)``, by central differences."""
    px = np.array([x + 0.5, x - 0.5, x, x])
    py = np.array([y, y, y + 0.5, y - 0.5])
    tx, ty = toTemplate(px, py)
    return np.array([[tx[0] - tx[1], tx[2] - tx[3]], [ty[0] - ty[1], ty[2] - ty[3]]])


def warpTemplate(template: Exposure, science: Exposure, toTemplate: Mapping,
                 wcs: WCS | None) -> Exposure:
    """Resample ``template`` onto the pixel grid of ``science`` (neither is modified).

    Parameters
    ----------
    template, science : Exposure
        The template to warp and the exposure whose grid it goes onto.
    toTemplate : callable
        ``toTemplate(x, y)``: template pixel position of science pixels.
    wcs : astropy.wcs.WCS or None
        WCS of the result (the science WCS).

    Returns
    -------
    Exposure
        Image scaled by the pixel-area ratio (counts conserved), variance by its
        square, mask bits carried over; NaN and NO_DATA where the template has
        no pixels; the template PSF seen through the local Jacobian.
    """
    tx, ty = mapEveryPixel(science.shape, toTemplate)
    area = pixelAreaRatio(tx, ty)
    th, tw = template.shape
    inside = (tx >= -0.5) & (tx <= tw - 0.5) & (ty >= -0.5) & (ty <= th - 0.5)
    tx, ty = np.where(inside, tx, -1.0), np.where(inside, ty, -1.0)
    mask = _resample(template.mask, tx, ty, 0)
    nodata = ~inside | ((mask & template.bitmask("NO_DATA")) != 0)
    if nodata.any():
        nodata = ndimage.binary_dilation(nodata, iterations=NO_DATA_GROW)
    image = _resample(template.image, tx, ty, 3) * area
    variance = _resample(template.variance, tx, ty, 1) * area * area
    warped = Exposure(
        image=np.where(nodata, np.nan, image),
        mask=mask,
        variance=np.where(nodata, np.nan, variance),
        psf=None,
        wcs=None if wcs is None else wcs.deepcopy(),
        photoCalib=template.photoCalib,
        filter=template.filter,
        obsDate=template.obsDate,
        metadata=dict(template.metadata),
        maskPlanes=template.maskPlanes.copy(),
    )
    warped.setMask(nodata, "NO_DATA")
    if template.psf is not None:
        centre = science.center
        warped.psf = WarpedPsf(template.psf, jacobianAt(toTemplate, *centre), toTemplate,
                               centre)
    return warped
