"""Assemble the template from the patches of one tract: pixels, masks, PSF, calibration.

Patches of a tract share its pixel grid, so assembling is pure pixel placement:
no resampling. Where patches overlap, each pixel comes from the patch in whose
inner region it lies deepest (farthest from that patch's own edge), as LSST
takes the overlap strips from each patch's inner bounding box.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.wcs import WCS, Sip

from diffim.exposure import Exposure
from diffim.fits_io import readExposure
from diffim.mask import MASK_DTYPE, MaskPlanes, remapMask
from diffim.photocalib import PhotoCalib
from diffim.psf import Psf, SpatialPsf

from .errors import TemplateRepositoryError
from .tract import PlacedPatch, TractCoverage

#: Bits that separate the two distances packed into one depth score (patches are
#: narrower than 2**31 pixels).
DEPTH_SHIFT = 31

#: Spatial order of the template PSF fitted to the patches' PSFs when they differ.
PSF_SPATIAL_ORDER = 1

#: Smallest rms spread of the patch centres (fraction of the template box, across its
#: thinnest direction) for which the first-order PSF fit is made.
MIN_PSF_SPREAD = 0.05


@dataclass(frozen=True)
class PatchModels:
    """What a patch carries besides its pixels.

    Parameters
    ----------
    psf : Psf or None
        Its PSF model, in its own pixel coordinates.
    photoCalib : PhotoCalib or None
        Its photometric calibration.
    obsDate : str or None
        Its observation date.
    metadata : dict
        Its header cards.
    """

    psf: Psf | None
    photoCalib: PhotoCalib | None
    obsDate: str | None
    metadata: dict


@dataclass(frozen=True)
class Contribution:
    """One patch's share of the template.

    Parameters
    ----------
    patch : PlacedPatch
        The patch.
    models : PatchModels
        Its PSF, calibration, date and header cards.
    pixels : int
        Template pixels it supplies.
    footprintPixels : int
        Of those, the ones inside the grown science footprint.
    centre : tuple of float
        Mean ``(x, y)`` template position of the pixels it supplies.
    offset : tuple of int
        Template position of the patch's pixel ``(0, 0)``.
    """

    patch: PlacedPatch
    models: PatchModels
    pixels: int
    footprintPixels: int
    centre: tuple[float, float]
    offset: tuple[int, int]

    @property
    def localCentre(self) -> tuple[float, float]:
        """``centre`` in the patch's own pixel coordinates."""
        return self.centre[0] - self.offset[0], self.centre[1] - self.offset[1]


def assembleTemplate(coverage: TractCoverage, band: str, repository: Path) -> Exposure:
    """Build the template exposure on the template box of ``coverage``'s tract.

    Parameters
    ----------
    coverage : TractCoverage
        The chosen tract, its template box and its overlapping patches.
    band : str
        The band the patches must be in (the science filter).
    repository : pathlib.Path
        The repository, for messages and the recorded patch paths.

    Returns
    -------
    Exposure
        NaN image, infinite variance and NO_DATA where no patch has pixels.

    Raises
    ------
    TemplateRepositoryError
        If a patch's file disagrees with its header, is in another band, or the
        patches disagree on their photometric calibration.
    """
    shape = coverage.shape
    planes = MaskPlanes()
    image = np.full(shape, np.nan, dtype=np.float32)
    variance = np.full(shape, np.inf, dtype=np.float32)
    mask = np.full(shape, planes.bitmask("NO_DATA"), dtype=MASK_DTYPE)
    deepest = np.full(shape, -1, dtype=np.int64)
    owner = np.full(shape, -1, dtype=np.int64)
    models = []
    for index, patch in enumerate(coverage.patches):
        exposure = readExposure(patch.header.path)
        _checkPatch(exposure, patch, band, repository)
        boxSlices, patchSlices = patch.overlap(coverage.x0, coverage.y0, shape)
        depth = _depth(patch, coverage.x0, coverage.y0, boxSlices)
        take = depth > deepest[boxSlices]
        patchMask = remapMask(exposure.mask, exposure.maskPlanes, planes)
        image[boxSlices][take] = exposure.image[patchSlices][take]
        variance[boxSlices][take] = exposure.variance[patchSlices][take]
        mask[boxSlices][take] = patchMask[patchSlices][take]
        deepest[boxSlices][take] = depth[take]
        owner[boxSlices][take] = index
        models.append(PatchModels(exposure.psf, exposure.photoCalib, exposure.obsDate,
                                  exposure.metadata))
    contributions = _contributions(coverage, models, owner)
    template = Exposure(image=image, mask=mask, variance=variance, wcs=_boxWcs(coverage),
                        photoCalib=_sharedPhotoCalib(contributions, repository, band),
                        filter=band, maskPlanes=planes)
    template.psf, psfNote = templatePsf(contributions, shape)
    template.obsDate = _shared([c.models.obsDate for c in contributions])
    template.metadata = _metadata(contributions, coverage, repository, psfNote)
    return template


def _checkPatch(exposure: Exposure, patch: PlacedPatch, band: str, repository: Path) -> None:
    """Refuse a patch whose pixels disagree with its header or whose band is another."""
    if exposure.shape != patch.header.shape:
        raise TemplateRepositoryError(
            f"{patch.header.path}: image shape {exposure.shape} differs from the header's "
            f"{patch.header.shape} (expected a consistent patch file)")
    if exposure.filter is not None and exposure.filter != band:
        raise TemplateRepositoryError(
            f"{patch.header.path}: FILTER is {exposure.filter!r} but the patch is in the "
            f"{band!r} folder of {repository} (expected patches of band {band!r} only)")


def _depth(patch: PlacedPatch, x0: int, y0: int,
                  boxSlices: tuple[slice, slice]) -> np.ndarray:
    """How deep inside ``patch`` each box pixel lies, as a comparable int64 score.

    The score orders pixels by their distance (pixels) to the patch's nearest
    edge, and among equals by the distance to the nearest edge along the other
    axis: where the overlap strip of two side-by-side patches meets their
    common outer edge, both are 0 pixels from an edge, and the split still
    follows the strip's middle.
    """
    rows = y0 + np.arange(boxSlices[0].start, boxSlices[0].stop)
    columns = x0 + np.arange(boxSlices[1].start, boxSlices[1].stop)
    fromRows = np.minimum(rows - patch.y0, patch.y1 - 1 - rows).astype(np.int64)
    fromColumns = np.minimum(columns - patch.x0, patch.x1 - 1 - columns).astype(np.int64)
    nearest = np.minimum.outer(fromRows, fromColumns)
    other = np.maximum.outer(fromRows, fromColumns)
    return (nearest << DEPTH_SHIFT) + other


def _contributions(coverage: TractCoverage, models: list[PatchModels],
                   owner: np.ndarray) -> list[Contribution]:
    """The patches that supply at least one template pixel, with what they supply."""
    out = []
    for index, (patch, patchModels) in enumerate(zip(coverage.patches, models)):
        owned = owner == index
        pixels = int(np.count_nonzero(owned))
        if pixels:
            perColumn, perRow = owned.sum(axis=0), owned.sum(axis=1)
            centre = (float(perColumn @ np.arange(owned.shape[1])) / pixels,
                      float(perRow @ np.arange(owned.shape[0])) / pixels)
            out.append(Contribution(patch, patchModels, pixels,
                                    int(np.count_nonzero(owned & coverage.inside)), centre,
                                    (patch.x0 - coverage.x0, patch.y0 - coverage.y0)))
    return out


def _boxWcs(coverage: TractCoverage) -> WCS:
    """The tract WCS with its origin moved to the template box's first pixel."""
    wcs = coverage.tract.wcs.deepcopy()
    shift = np.array([coverage.x0, coverage.y0], dtype=float)
    wcs.wcs.crpix = wcs.wcs.crpix - shift
    if wcs.sip is not None:
        sip = wcs.sip
        wcs.sip = Sip(sip.a, sip.b, sip.ap, sip.bp, np.asarray(sip.crpix) - shift)
    wcs.wcs.set()
    return wcs


def _sharedPhotoCalib(contributions: list[Contribution], repository: Path,
                      band: str) -> PhotoCalib | None:
    """The photometric calibration all contributing patches share.

    Raises
    ------
    TemplateRepositoryError
        If they carry different zero points (or some carry none).
    """
    calibs = {c.patch.header.path: c.models.photoCalib for c in contributions}
    distinct = set(calibs.values())
    if len(distinct) > 1:
        listing = ", ".join(
            f"{path.relative_to(repository)}: "
            f"{'none' if calib is None else f'zero point {calib.zeroPoint:g}'}"
            for path, calib in calibs.items())
        raise TemplateRepositoryError(
            f"{repository}: the band {band!r} patches covering the science exposure have "
            f"different photometric calibrations ({listing}); expected one calibration for "
            "all patches of a coadd")
    return distinct.pop()


def templatePsf(contributions: list[Contribution],
                shape: tuple[int, int]) -> tuple[Psf | None, str]:
    """The template PSF from the contributing patches' PSFs, and how it was made.

    * all PSFs constant and with the same image: that PSF;
    * else, with at least three patches whose centres do not lie on one line
      (:func:`spansPlane`): a :class:`diffim.psf.SpatialPsf` of order
      :data:`PSF_SPATIAL_ORDER` fitted to each patch's PSF evaluated at the
      centre of the pixels it supplies;
    * else: the PSF of the patch supplying most of the science footprint.

    Patches without a PSF are left out; None when no patch has one.
    """
    withPsf = [c for c in contributions if c.models.psf is not None]
    if not withPsf:
        return None, "no patch has a PSF"
    stamps = [c.models.psf.at(*c.localCentre) for c in withPsf]
    constant = not any(c.models.psf.isSpatiallyVarying for c in withPsf)
    if constant and all(s.shape == stamps[0].shape and np.array_equal(s, stamps[0])
                        for s in stamps):
        return _inTemplateFrame(withPsf[0], shape), "identical in every patch"
    x, y = (np.array(values) for values in zip(*(c.centre for c in withPsf)))
    if len(withPsf) >= 3 and spansPlane(x, y, shape):
        size = max(s.shape[0] for s in stamps)
        padded = np.stack([np.pad(s, (size - s.shape[0]) // 2) for s in stamps])
        psf = SpatialPsf(padded, x, y, order=PSF_SPATIAL_ORDER, bbox=(shape[1], shape[0]))
        return psf, f"order-{PSF_SPATIAL_ORDER} fit to the PSFs of {len(withPsf)} patches"
    main = max(withPsf, key=lambda c: (c.footprintPixels, c.pixels))
    return _inTemplateFrame(main, shape), f"from {main.patch.header.path.name}"


def spansPlane(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether positions spread enough in both directions to fit a first-order model.

    True when their rms spread across the thinnest direction, in units of the
    ``shape`` box, is at least :data:`MIN_PSF_SPREAD` (patches in one row or
    column leave a linear fit undetermined across it).
    """
    scaled = np.column_stack([(x - x.mean()) / shape[1], (y - y.mean()) / shape[0]])
    thinnest = np.linalg.svd(scaled, compute_uv=False)[-1]
    return bool(thinnest / np.sqrt(len(x)) >= MIN_PSF_SPREAD)


def _inTemplateFrame(contribution: Contribution, shape: tuple[int, int]) -> Psf:
    """The contribution's PSF expressed in template pixel coordinates.

    A patch file holds a constant PSF (Gaussian or image), kept as it is and
    summarised at the template centre, or a
    :class:`~diffim.psf.SpatialPsf`, refitted to the same stamps at positions
    moved into the template: a polynomial of the same order, so the same model.
    """
    psf = contribution.models.psf
    if isinstance(psf, SpatialPsf):
        dx, dy = contribution.offset
        return SpatialPsf(psf.stamps, psf.x + dx, psf.y + dy, psf.order, (shape[1], shape[0]))
    copy = psf.copy()
    copy.averagePosition = ((shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0)
    return copy


def _shared(values: list):
    """The common value of ``values``, or None if they differ."""
    return values[0] if values and all(v == values[0] for v in values) else None


def _metadata(contributions: list[Contribution], coverage: TractCoverage, repository: Path,
              psfNote: str) -> dict:
    """Cards every contributing patch agrees on, plus where the template came from."""
    first = contributions[0].models.metadata
    metadata = {key: value for key, value in first.items()
                if all(c.models.metadata.get(key) == value for c in contributions[1:])}
    metadata["TEMPLATE_REPO"] = str(repository)
    metadata["TEMPLATE_TRACT"] = coverage.tract.describe()
    metadata["TEMPLATE_PATCHES"] = ",".join(
        str(c.patch.header.path.relative_to(repository)) for c in contributions)
    metadata["TEMPLATE_PSF"] = psfNote
    return metadata
