"""Put the template on the science pixel grid: WCS-based warping and alignment checks."""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from astropy.wcs import WCS
from scipy import fft, interpolate, ndimage

from .alignment import Offset, measureOffset
from .errors import InputError, NoOverlapError, RegistrationRequiredError
from .exposure import Exposure
from .morphology import growMask
from .psf import Psf
from .threads import parallelMap

log = logging.getLogger(__name__)

#: Largest offset (pixels) between WCS-less frames that PSF matching can absorb.
MAX_UNREGISTERED_OFFSET = 1.0
#: Frames whose cross-correlation at zero shift is at least this fraction of its
#: peak are taken as aligned (a broad peak on a small image is not a real offset).
ALIGNED_ZERO_SHIFT_RATIO = 0.85


def _has_celestial(wcs: WCS | None) -> bool:
    return wcs is not None and wcs.has_celestial


def _pixel_map(science: Exposure, template: Exposure, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Template pixel positions of science pixels ``(x, y)``."""
    world = science.wcs.celestial.pixel_to_world(x, y)
    return template.wcs.celestial.world_to_pixel(world)


def gridsMatch(science: Exposure, template: Exposure, tolerance: float = 1e-3) -> bool:
    """True when both exposures share one pixel grid (same shape, WCS agree to ``tolerance``)."""
    if science.shape != template.shape:
        return False
    h, w = science.shape
    x = np.array([0, w - 1, 0, w - 1, (w - 1) / 2])
    y = np.array([0, 0, h - 1, h - 1, (h - 1) / 2])
    tx, ty = _pixel_map(science, template, x, y)
    return bool(np.all(np.hypot(tx - x, ty - y) < tolerance))


class WarpedPsf(Psf):
    """A template PSF seen through a linear pixel transformation.

    Parameters
    ----------
    psf : Psf
        The PSF in template pixels.
    jacobian : numpy.ndarray
        2×2 d(template pixel)/d(science pixel).
    toTemplate : callable
        Maps science ``(x, y)`` to template ``(x, y)`` to evaluate the original PSF.
    """

    def __init__(self, psf: Psf, jacobian: np.ndarray, toTemplate, averagePosition):
        self.psf = psf
        self.jacobian = np.asarray(jacobian, dtype=float)
        self.toTemplate = toTemplate
        self.averagePosition = averagePosition

    def at(self, x: float, y: float) -> np.ndarray:
        tx, ty = self.toTemplate(x, y)
        stamp = self.psf.at(float(tx), float(ty))
        centre = (np.array(stamp.shape) - 1) / 2.0
        # Output pixel (v, u) samples input at J·(u, v); affine_transform works in [y, x] order.
        matrix = self.jacobian[::-1, ::-1]
        offset = centre - matrix @ centre
        warped = ndimage.affine_transform(stamp, matrix, offset=offset, order=3, mode="constant")
        warped = np.clip(warped, 0.0, None)
        return warped / warped.sum()

    @property
    def isSpatiallyVarying(self) -> bool:
        return self.psf.isSpatiallyVarying

    def copy(self) -> "WarpedPsf":
        return WarpedPsf(self.psf.copy(), self.jacobian, self.toTemplate, self.averagePosition)


#: Spacing (pixels) of the grid on which a mapping is evaluated exactly.
MAP_GRID_STEP = 32
#: Largest error (pixels) allowed when interpolating the mapping between grid points.
MAP_TOLERANCE = 1e-3
#: Pixels by which NO_DATA is grown: the cubic spline rings next to missing pixels.
NO_DATA_GROW = 2

Mapping = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _gridAxis(n: int, step: int) -> np.ndarray:
    return np.unique(np.append(np.arange(0, n, step), n - 1)).astype(np.float64)


def mapEveryPixel(shape: tuple[int, int], toTemplate: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """Template coordinates of every pixel of a ``shape`` grid, as two ``[y, x]`` arrays.

    ``toTemplate(x, y)`` is evaluated exactly every ``MAP_GRID_STEP`` pixels and by
    bicubic splines in between; where the splines miss the exact mapping by more
    than ``MAP_TOLERANCE`` pixels at the cell centres (a strongly distorted
    mapping), the exact mapping is evaluated everywhere.
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
    log.info("mapping not smooth enough to interpolate (error %.2g px): exact mapping",
             np.max(error))
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return toTemplate(xx, yy)


def pixelMapping(science: Exposure, template: Exposure) -> tuple[np.ndarray, np.ndarray]:
    """Template pixel coordinates of every science pixel through the two WCSs."""
    return mapEveryPixel(science.shape, lambda x, y: _pixel_map(science, template, x, y))


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


def _resample(array: np.ndarray, tx: np.ndarray, ty: np.ndarray, order: int) -> np.ndarray:
    return ndimage.map_coordinates(array, [ty, tx], order=order, mode="constant", cval=0.0,
                                   output=np.float64 if order else array.dtype)


def warpWithMapping(template: Exposure, science: Exposure, toTemplate: Mapping,
                    wcs: WCS | None) -> Exposure:
    """Resample ``template`` onto the pixel grid of ``science`` through a pixel mapping.

    Image by cubic-spline interpolation, variance bilinear, mask nearest
    neighbour; counts are conserved pixel by pixel (image times the local
    pixel-area ratio, variance times its square). Science pixels the template
    does not cover, and those within ``NO_DATA_GROW`` pixels of template NO_DATA
    (spline ringing), get NaN and NO_DATA. Neither input is modified.

    Parameters
    ----------
    template, science : Exposure
        The template to warp and the exposure whose grid it goes onto.
    toTemplate : callable
        ``toTemplate(x, y)``: template pixel position of science pixels.
    wcs : astropy.wcs.WCS or None
        WCS of the result (the science WCS).
    """
    tx, ty = mapEveryPixel(science.shape, toTemplate)
    area = pixelAreaRatio(tx, ty)
    th, tw = template.shape
    inside = (tx >= -0.5) & (tx <= tw - 0.5) & (ty >= -0.5) & (ty <= th - 0.5)
    tx, ty = np.where(inside, tx, -1.0), np.where(inside, ty, -1.0)
    mask = _resample(template.mask, tx, ty, 0)
    nodata = ~inside | ((mask & template.bitmask("NO_DATA")) != 0)
    if nodata.any():
        nodata = growMask(nodata, NO_DATA_GROW, metric="taxicab")
    image = _resample(template.image, tx, ty, 3) * area
    variance = _resample(template.variance, tx, ty, 1) * area * area
    centre = science.center
    return _onScienceGrid(template, image, mask, variance, nodata, wcs,
                          jacobianAt(toTemplate, *centre), toTemplate, centre)


def _onScienceGrid(template: Exposure, image: np.ndarray, mask: np.ndarray,
                   variance: np.ndarray, nodata: np.ndarray, wcs: WCS | None,
                   jacobian: np.ndarray, toTemplate: Mapping,
                   centre: tuple[float, float]) -> Exposure:
    """The template's planes resampled onto the science grid, as an Exposure.

    NaN image and variance and NO_DATA where ``nodata``; the template's PSF seen
    through ``jacobian``; calibration, band, date and metadata carried over.
    """
    warped = Exposure(
        image=np.where(nodata, np.nan, image),
        mask=mask,
        variance=np.where(nodata, np.nan, variance),
        psf=None if template.psf is None else
        WarpedPsf(template.psf, jacobian, toTemplate, centre),
        wcs=None if wcs is None else wcs.deepcopy(),
        photoCalib=template.photoCalib,
        filter=template.filter,
        obsDate=template.obsDate,
        metadata=dict(template.metadata),
        maskPlanes=template.maskPlanes.copy(),
    )
    warped.setMask(nodata, "NO_DATA")
    return warped


#: A mapping that departs from a constant shift by less than this (pixels) over the
#: image is treated as a pure translation.
TRANSLATION_TOLERANCE = 0.01
#: Reflected padding (pixels) around an image shifted in Fourier space.
SHIFT_PADDING = 16


def pureTranslation(shape: tuple[int, int], toTemplate: Mapping) -> tuple[float, float] | None:
    """``(dx, dy)`` if ``toTemplate`` is ``(x + dx, y + dy)`` over a ``shape`` grid, else None."""
    h, w = shape
    x = np.array([0, w - 1, 0, w - 1, (w - 1) / 2, 0, w - 1, (w - 1) / 2, (w - 1) / 2])
    y = np.array([0, 0, h - 1, h - 1, (h - 1) / 2, (h - 1) / 2, (h - 1) / 2, 0, h - 1])
    tx, ty = toTemplate(x, y)
    dx, dy = np.asarray(tx) - x, np.asarray(ty) - y
    if np.ptp(dx) < TRANSLATION_TOLERANCE and np.ptp(dy) < TRANSLATION_TOLERANCE:
        return float(np.mean(dx)), float(np.mean(dy))
    return None


def _fourierShift(image: np.ndarray, fx: float, fy: float) -> np.ndarray:
    """``image(x + fx, y + fy)`` (float32) by a phase ramp, reflect-padded against wrap-around.

    Single-precision FFTs (their rounding is some 1e-7 of the image's spread, far
    below its noise) and a separable ramp, one factor per row and one per column of
    the half-plane spectrum.
    """
    pad = SHIFT_PADDING
    h, w = image.shape
    padded = np.pad(image.astype(np.float32), pad, mode="reflect")
    ny, nx = padded.shape
    spectrum = fft.rfft2(padded)
    del padded
    spectrum *= np.exp(2j * np.pi * fy * fft.fftfreq(ny)).astype(np.complex64)[:, None]
    spectrum *= np.exp(2j * np.pi * fx * fft.rfftfreq(nx)).astype(np.complex64)[None, :]
    return fft.irfft2(spectrum, s=(ny, nx))[pad:pad + h, pad:pad + w]


def _placed(plane: np.ndarray, ix: int, iy: int, shape: tuple[int, int], fill) -> np.ndarray:
    """``plane(x + ix, y + iy)`` on a ``shape`` grid, ``fill`` where it has no pixel."""
    out = np.full(shape, fill, dtype=plane.dtype)
    h, w = shape
    th, tw = plane.shape
    y0, y1 = max(0, -iy), min(h, th - iy)
    x0, x1 = max(0, -ix), min(w, tw - ix)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = plane[y0 + iy:y1 + iy, x0 + ix:x1 + ix]
    return out


def shiftToScience(template: Exposure, science: Exposure, dx: float, dy: float,
                   toTemplate: Mapping) -> Exposure:
    """Put ``template`` on the science grid when the mapping is a pure shift ``(dx, dy)``.

    The fractional part of the shift is applied as a Fourier phase ramp, which
    keeps the noise white with the same variance (spline interpolation would
    correlate it and under-state its variance, which later PSF-filtered
    detection turns into false positives); the integer part is a copy.
    Variance and mask move by the nearest whole pixel. Pixels without template
    data, and a ``NO_DATA_GROW`` margin around them, get NaN and NO_DATA.
    """
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = dx - ix, dy - iy
    rx, ry = int(np.round(dx)), int(np.round(dy))
    nodataBit = template.bitmask("NO_DATA")

    def shiftedImage() -> np.ndarray:
        image = _fourierShift(template.image, fx, fy) if (fx or fy) else template.image
        return _placed(image.astype(np.float32), ix, iy, science.shape, np.nan)

    image, (mask, variance) = parallelMap(lambda job: job(), [
        shiftedImage,
        lambda: (_placed(template.mask, rx, ry, science.shape, nodataBit),
                 _placed(template.variance, rx, ry, science.shape, np.nan))])
    nodata = ((mask & nodataBit) != 0) | ~np.isfinite(image) | ~np.isfinite(variance)
    if nodata.any():
        nodata = growMask(nodata, NO_DATA_GROW, metric="taxicab")
    return _onScienceGrid(template, image, mask, variance, nodata, science.wcs, np.eye(2),
                          toTemplate, science.center)


def warpToScience(template: Exposure, science: Exposure) -> Exposure:
    """Resample ``template`` onto the pixel grid of ``science`` through their WCSs.

    A pure translation is applied exactly (see :func:`shiftToScience`); any other
    mapping goes through :func:`warpWithMapping`.

    Raises
    ------
    InputError
        If only one of the two has a celestial WCS.
    RegistrationRequiredError
        If WCS-less frames of one shape are offset by more than
        ``MAX_UNREGISTERED_OFFSET`` pixels, or differ in shape.
    """
    sci_wcs, tmpl_wcs = _has_celestial(science.wcs), _has_celestial(template.wcs)
    if not sci_wcs and not tmpl_wcs:
        return _checkUnregistered(template, science)
    if sci_wcs != tmpl_wcs:
        which = "science" if not sci_wcs else "template"
        raise InputError(f"the {which} exposure has no celestial WCS but the other has: give "
                         "both a WCS, or neither (same pixel grid)")
    if gridsMatch(science, template):
        return template.clone()
    toTemplate = lambda x, y: _pixel_map(science, template, x, y)  # noqa: E731
    shift = pureTranslation(science.shape, toTemplate)
    if shift is not None:
        log.info("template shifted onto the science grid by dx=%+.3f dy=%+.3f px", *shift)
        return shiftToScience(template, science, *shift, toTemplate)
    log.info("template warped onto the science grid")
    return warpWithMapping(template, science, toTemplate, science.wcs)


def _checkUnregistered(template: Exposure, science: Exposure) -> Exposure:
    if template.shape != science.shape:
        raise RegistrationRequiredError(
            f"science {science.shape[1]}x{science.shape[0]} and template "
            f"{template.shape[1]}x{template.shape[0]} have different shapes and no WCS: "
            "pixel-based registration is needed: set doUseRegister=True")
    bad = science.bitmask("NO_DATA", "SAT", "BAD")
    offset = measureOffset(science.image, template.image, (science.mask & bad) != 0,
                           (template.mask & bad) != 0)
    dx, dy = offset.dx, offset.dy
    template = template.clone()
    if not offset.measurable:
        log.info("no WCS: frames taken as aligned (their offset cannot be measured: "
                 "correlation peak %.1f sigma)", offset.significance)
        return template
    template.metadata["measuredOffset"] = [dx, dy]
    if np.hypot(dx, dy) > MAX_UNREGISTERED_OFFSET \
            and offset.zeroShiftRatio < ALIGNED_ZERO_SHIFT_RATIO:
        raise RegistrationRequiredError(
            f"science and template have no WCS and are offset by dx={dx:+.1f}, dy={dy:+.1f} px; "
            "pixel-based registration is needed: set doUseRegister=True")
    log.info("no WCS: frames taken as aligned (measured offset dx=%+.2f dy=%+.2f px, "
             "zero-shift correlation %.2f of peak)", dx, dy, offset.zeroShiftRatio)
    return template


#: Side of the central crop (pixels) on which the residual misalignment is measured.
MISALIGNMENT_CROP = 1024


def measureMisalignment(science: Exposure, warped: Exposure) -> Offset:
    """Residual offset of a warped template from the science image, on a central crop.

    The crop is centred in the bounding box of the pixels the template covers
    and kept inside it, so that a template covering part of the science image
    (a calexp of another pointing, a patch at the tract edge) is compared where
    it has data: a crop mostly off the template would leave its edge, not its
    stars, to set the correlation peak.
    """
    rows, columns = _coveredSpan(warped)
    half = MISALIGNMENT_CROP // 2
    centreY, centreX = (rows.start + rows.stop) // 2, (columns.start + columns.stop) // 2
    ys = slice(max(centreY - half, rows.start), min(centreY + half, rows.stop))
    xs = slice(max(centreX - half, columns.start), min(centreX + half, columns.stop))
    bad = science.bitmask("NO_DATA", "SAT", "BAD")
    offset = measureOffset(science.image[ys, xs], warped.image[ys, xs],
                           (science.mask[ys, xs] & bad) != 0, (warped.mask[ys, xs] & bad) != 0)
    return offset


def _coveredSpan(warped: Exposure) -> tuple[slice, slice]:
    """Rows and columns of the bounding box of the warped template's data (not NO_DATA)."""
    covered = ~warped.maskedPixels("NO_DATA")
    rows, columns = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    if rows.size == 0:
        return slice(0, warped.shape[0]), slice(0, warped.shape[1])
    return slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1)


def templateCoverage(warped: Exposure) -> float:
    """Fraction of pixels of the warped template that hold data (not NO_DATA)."""
    return 1.0 - float(np.count_nonzero(warped.maskedPixels("NO_DATA"))) / warped.image.size


def checkCoverage(warped: Exposure, required: float) -> float:
    """Raise :class:`NoOverlapError` if coverage is below ``required``; return the coverage."""
    fraction = templateCoverage(warped)
    if fraction < required or fraction == 0.0:
        raise NoOverlapError(fraction, required)
    return fraction
