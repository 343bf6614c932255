"""Combine several exposures of one field (template visits) into one template.

Every input is brought to the first one's photometric calibration and
resampled onto one pixel grid (:func:`diffim.warp.warpToScience`); each
template pixel is then the weighted mean of the inputs that hold valid data
there, with the variance of that mean, the OR of the contributors' mask planes
(merged by name) and a PSF that is the weighted mean of the inputs' PSFs.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.mask import MASK_DTYPE, remapMask
from diffim.photocalib import PhotoCalib
from diffim.psf import ImagePsf, Psf, SpatialPsf
from diffim.warp import warpToScience

__all__ = ["PSF_GRID", "PSF_SPATIAL_ORDER", "calibrationScales", "combineExposures",
           "combinePsfs", "commonFilter", "sharedCards"]

#: Side of the grid of positions at which a spatially varying combined PSF is sampled.
PSF_GRID = 5

#: Polynomial order of a spatially varying combined PSF (fitted on the PSF_GRID² grid).
PSF_SPATIAL_ORDER = 2


def combineExposures(exposures: Sequence[Exposure], names: Sequence[str] | None = None,
                     grid: Exposure | None = None, weighting: str = "pixel",
                     badMaskPlanes: Sequence[str] = ()) -> Exposure:
    """Weighted mean of several exposures of one field, on one pixel grid.

    1. Calibration: input ``i`` is scaled to the first input's calibration,
       image by ``s = c_i / c_0`` and variance by ``s**2`` (``c``: nJy per
       count of each :class:`~diffim.photocalib.PhotoCalib`); the result keeps
       the first input's calibration.
    2. Grid: every input is resampled onto ``grid``'s pixel grid with
       :func:`diffim.warp.warpToScience` (an input already on it is copied;
       a pure shift is a Fourier phase shift, which keeps white noise white).
    3. A pixel of an input is valid when it is finite in image and variance,
       its variance is positive and it is in neither NO_DATA nor
       ``badMaskPlanes``. Each valid pixel gets a weight ``w``: its own inverse
       variance (``weighting="pixel"``) or the inverse of the input's median
       variance over its valid pixels (``"image"``).
    4. Each output pixel is ``sum(w x) / sum(w)`` over the inputs valid there,
       with variance ``sum(w**2 v) / sum(w)**2`` (``1 / sum(1/v)`` for pixel
       weights) and the OR of those inputs' mask planes. A pixel no input
       supplies is NaN with infinite variance, NO_DATA and the planes any input
       has there.
    5. PSF: the inputs' PSFs (seen on the output grid) averaged with their
       relative weights: each input's median pixel weight, normalised to unit
       sum (:func:`combinePsfs`).

    Parameters
    ----------
    exposures : sequence of Exposure
        The inputs, each with a variance plane; not modified. They must agree on
        their filter (where they have one), and all or none must have a
        photometric calibration.
    names : sequence of str, optional
        How messages name each input (e.g. its data ID); ``input 0``... by default.
    grid : Exposure, optional
        The exposure whose pixel grid (shape and WCS) the result is on; the
        first input (not resampled) when omitted.
    weighting : {"pixel", "image"}
        How pixels are weighted (step 3).
    badMaskPlanes : sequence of str
        Planes whose pixels are left out besides NO_DATA (absent planes are empty).

    Returns
    -------
    Exposure
        The combination, with the grid's WCS, the first input's calibration,
        the common filter, the header cards all inputs agree on, and
        ``metadata["TEMPLATE_WEIGHTS"]`` (the inputs' relative weights of step 5,
        comma-separated) and ``["TEMPLATE_PSF"]`` (how the PSF was made). A
        single input is returned as a copy, unchanged.

    Raises
    ------
    InputError
        If there is no input, an input has no variance, the filters differ, only
        some inputs have a calibration, or an input cannot be resampled onto
        the grid (e.g. it has a WCS and the grid has none).
    """
    if not exposures:
        raise InputError("no exposures to combine into a template (expected at least one)")
    if weighting not in ("pixel", "image"):
        raise ValueError(f"weighting must be 'pixel' or 'image', got {weighting!r}")
    names = [f"input {i}" for i in range(len(exposures))] if names is None else list(names)
    if len(names) != len(exposures):
        raise ValueError(f"{len(names)} names for {len(exposures)} exposures")
    band = commonFilter(exposures, names)
    scales = calibrationScales(exposures, names)
    if len(exposures) == 1 and grid is None:
        single = exposures[0].clone()
        single.metadata["TEMPLATE_WEIGHTS"] = "1"
        single.metadata["TEMPLATE_PSF"] = "the input's"
        return single
    grid = exposures[0] if grid is None else grid
    planes = exposures[0].maskPlanes.copy()
    accumulator = _Accumulator(grid.shape)
    psfs: list[Psf | None] = []
    for exposure, name, scale in zip(exposures, names, scales):
        warped = _onGrid(exposure, grid, name)
        bad = warped.bitmask("NO_DATA", *badMaskPlanes, context="badMaskPlanes")
        mask = remapMask(warped.mask, warped.maskPlanes, planes)
        accumulator.add(warped.image, warped.variance, mask, (warped.mask & bad) != 0, scale,
                        weighting)
        psfs.append(warped.psf)
    image, variance, mask = accumulator.result(planes.bitmask("NO_DATA"))
    shares = accumulator.shares()
    combined = Exposure(image=image, mask=mask, variance=variance,
                        wcs=None if grid.wcs is None else grid.wcs.deepcopy(),
                        photoCalib=exposures[0].photoCalib, filter=band,
                        obsDate=_shared([e.obsDate for e in exposures]), maskPlanes=planes)
    combined.psf, psfNote = combinePsfs(psfs, shares, grid.shape, names)
    combined.metadata = sharedCards(exposures)
    combined.metadata["TEMPLATE_WEIGHTS"] = ",".join(f"{share:.4f}" for share in shares)
    combined.metadata["TEMPLATE_PSF"] = psfNote
    return combined


class _Accumulator:
    """Running sums of the weighted mean over the inputs, in float64."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.sumW = np.zeros(shape)
        self.sumWX = np.zeros(shape)
        self.sumW2V = np.zeros(shape)
        self.contributed = np.zeros(shape, dtype=MASK_DTYPE)
        self.anywhere = np.zeros(shape, dtype=MASK_DTYPE)
        self.typical: list[float] = []

    def add(self, image: np.ndarray, variance: np.ndarray, mask: np.ndarray,
            bad: np.ndarray, scale: float, weighting: str) -> None:
        """Add one input (already on the grid) whose counts are multiplied by ``scale``."""
        with np.errstate(invalid="ignore", over="ignore"):
            image = image.astype(np.float64) * scale
            variance = variance.astype(np.float64) * (scale * scale)
            valid = np.isfinite(image) & np.isfinite(variance) & (variance > 0.0) & ~bad
        typical = 1.0 / float(np.median(variance[valid])) if valid.any() else 0.0
        if weighting == "pixel":
            weight = np.zeros(image.shape)
            np.divide(1.0, variance, out=weight, where=valid)
        else:
            weight = np.where(valid, typical, 0.0)
        self.sumW += weight
        self.sumWX += weight * np.where(valid, image, 0.0)
        self.sumW2V += weight * weight * np.where(valid, variance, 0.0)
        self.contributed |= np.where(valid, mask, 0).astype(MASK_DTYPE)
        self.anywhere |= mask
        self.typical.append(typical)

    def result(self, noDataBits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image, variance and mask of the weighted mean (NaN, inf, NO_DATA where uncovered)."""
        covered = self.sumW > 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            image = np.where(covered, self.sumWX / self.sumW, np.nan)
            variance = np.where(covered, self.sumW2V / (self.sumW * self.sumW), np.inf)
        mask = np.where(covered, self.contributed, self.anywhere | noDataBits)
        return image, variance, mask.astype(MASK_DTYPE)

    def shares(self) -> list[float]:
        """Each input's relative weight: its median pixel weight, normalised to unit sum.

        With ``weighting="image"`` these are the inputs' weights in every pixel
        they all cover; with pixel weights, the weights of typical (sky-limited)
        pixels. An input without valid pixels has 0.
        """
        total = sum(self.typical)
        return [t / total if total > 0.0 else 0.0 for t in self.typical]


def _onGrid(exposure: Exposure, grid: Exposure, name: str) -> Exposure:
    """``exposure`` resampled onto ``grid``'s pixels (itself when it is the grid)."""
    if exposure.variance is None:
        raise InputError(f"{name}: the exposure has no variance plane (expected a calexp with "
                         "IMAGE, MASK and VARIANCE)")
    if exposure is grid:
        return exposure
    try:
        return warpToScience(exposure, grid)
    except InputError as exc:
        raise InputError(f"{name}: cannot be resampled onto the template grid: {exc}") from exc


def commonFilter(exposures: Sequence[Exposure], names: Sequence[str]) -> str | None:
    """The filter the inputs share (inputs without one are ignored; None if none has one).

    Raises
    ------
    InputError
        If two inputs name different filters.
    """
    named = [(name, e.filter) for name, e in zip(names, exposures) if e.filter]
    if len({band for _, band in named}) > 1:
        listing = ", ".join(f"{name}: {band!r}" for name, band in named)
        raise InputError(f"the template visits are in different filters ({listing}); expected "
                         "visits of one band")
    return named[0][1] if named else None


def calibrationScales(exposures: Sequence[Exposure], names: Sequence[str]) -> list[float]:
    """Factors bringing each input's counts to the first input's calibration.

    ``c_i / c_0`` with ``c`` the nJy per count of each calibration; all 1 when
    no input has a calibration.

    Raises
    ------
    InputError
        If some inputs have a calibration and others none, or one is not finite.
    """
    calibs: list[PhotoCalib | None] = [e.photoCalib for e in exposures]
    missing = [name for name, calib in zip(names, calibs) if calib is None]
    if len(missing) == len(calibs):
        return [1.0] * len(calibs)
    if missing:
        raise InputError(f"{', '.join(missing)}: no photometric calibration (MAGZERO) while the "
                         "other template visits have one; expected all visits calibrated, so "
                         "they can be brought to one zero point")
    reference = calibs[0].calibration
    scales = [calib.calibration / reference for calib in calibs]
    for name, scale, calib in zip(names, scales, calibs):
        if not (np.isfinite(scale) and scale > 0.0):
            raise InputError(f"{name}: zero point {calib.zeroPoint!r} cannot be compared with "
                             f"the first visit's {calibs[0].zeroPoint!r} (expected finite "
                             "zero points)")
    return scales


def combinePsfs(psfs: Sequence[Psf | None], shares: Sequence[float],
                shape: tuple[int, int], names: Sequence[str]) -> tuple[Psf | None, str]:
    """The PSF of the weighted mean: the inputs' PSFs averaged with their relative weights.

    The inputs' PSFs are evaluated on the output grid (each already seen
    through its resampling) and averaged with weights ``shares`` (each input's
    median pixel weight, normalised), stamps padded to the largest size:

    * all constant: an :class:`~diffim.psf.ImagePsf` of the mean at the grid centre;
    * any spatially varying: a :class:`~diffim.psf.SpatialPsf` of order
      :data:`PSF_SPATIAL_ORDER` fitted to the mean on a
      :data:`PSF_GRID` × :data:`PSF_GRID` grid over the image.

    With constant per-input weights (``weighting="image"``) this is exactly
    the PSF of the combination wherever all inputs have data; with pixel
    weights it is that of sky-limited sources (in a bright star's core the
    sharper input, with more variance per pixel, weighs less). Where only some
    inputs cover, the PSF there is theirs, which this model does not follow. An
    input with no weight is left out; a single remaining input keeps its own PSF
    (when no input has any valid pixel, all are averaged with equal weights).

    Returns
    -------
    tuple
        The PSF (None when an input lacks one: the task then measures the
        template's) and a one-line note of how it was made.
    """
    lacking = [name for name, psf in zip(names, psfs) if psf is None]
    if lacking:
        return None, f"none ({', '.join(lacking)} has no PSF)"
    used = [(psf, share) for psf, share in zip(psfs, shares) if share > 0.0]
    if not used:  # an empty template: its coverage, not its PSF, is what the task reports
        used = [(psf, 1.0) for psf in psfs]
    if len(used) == 1:
        return used[0][0].copy(), "the only contributing input's"
    h, w = shape
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    weights = np.array([share for _, share in used])
    weights /= weights.sum()
    if not any(psf.isSpatiallyVarying for psf, _ in used):
        stamp = _meanStamp([psf for psf, _ in used], weights, *centre)
        note = f"weighted mean of {len(used)} PSFs at the centre (weights " \
               f"{', '.join(f'{v:.3f}' for v in weights)})"
        return ImagePsf(stamp, averagePosition=centre), note
    gx, gy = np.meshgrid(np.linspace(0.0, w - 1.0, PSF_GRID), np.linspace(0.0, h - 1.0, PSF_GRID))
    stamps = [_meanStamp([psf for psf, _ in used], weights, x, y)
              for x, y in zip(gx.ravel(), gy.ravel())]
    size = max(s.shape[0] for s in stamps)
    stack = np.stack([_padded(s, size) for s in stamps])
    psf = SpatialPsf(stack, gx.ravel(), gy.ravel(), order=PSF_SPATIAL_ORDER, bbox=(w, h))
    return psf, (f"order-{PSF_SPATIAL_ORDER} fit to the weighted mean of {len(used)} PSFs on a "
                 f"{PSF_GRID}x{PSF_GRID} grid (weights {', '.join(f'{v:.3f}' for v in weights)})")


def _meanStamp(psfs: Sequence[Psf], weights: np.ndarray, x: float, y: float) -> np.ndarray:
    """Weighted mean of the PSFs' unit-sum stamps at ``(x, y)``, padded to the largest."""
    stamps = [psf.at(x, y) for psf in psfs]
    size = max(s.shape[0] for s in stamps)
    mean = sum(weight * _padded(s, size) for weight, s in zip(weights, stamps))
    return mean / mean.sum()


def _padded(stamp: np.ndarray, size: int) -> np.ndarray:
    """An odd square stamp zero-padded, centred, to ``size``."""
    pad = (size - stamp.shape[0]) // 2
    return np.pad(stamp, pad) if pad else stamp


def sharedCards(exposures: Sequence[Exposure]) -> dict:
    """Header cards every input has with the same value."""
    first = exposures[0].metadata
    return {key: value for key, value in first.items()
            if all(key in e.metadata and _equal(e.metadata[key], value) for e in exposures[1:])}


def _equal(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays and the like
        return False


def _shared(values: list):
    """The common value of ``values``, or None if they differ."""
    return values[0] if values and all(v == values[0] for v in values) else None

