"""The ``coadd`` implementation of the ``getTemplate`` slot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.wcs import WCS

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl

from .assemble import assembleTemplate
from .config import GetCoaddAsTemplateConfig
from .errors import NoTemplatePatchError
from .footprint import angle, boundingCone, boxOutline
from .repository import PatchHeader, coaddFolder, patchFiles, readPatchHeader
from .registered import isDataRepository, registeredPatchFiles
from .tract import TractCoverage, groupTracts, measureCoverage


def getCoaddAsTemplate(science: Exposure, config: GetCoaddAsTemplateConfig,
                       source: str) -> Exposure:
    """The template for ``science``; see :meth:`CoaddTemplate.diffim_getTemplate`."""
    repository = Path(source).expanduser()
    band = _band(science, repository)
    wcs = _scienceWcs(science, repository)
    grow = float(config.templateBorderSize)
    outlineRa, outlineDec = wcs.pixel_to_world_values(*boxOutline(science.width, science.height,
                                                                  grow))
    if isDataRepository(repository):
        paths = registeredPatchFiles(repository, config.coaddName, band, outlineRa, outlineDec,
                                     config.templateBorderSize)
    else:
        paths = patchFiles(coaddFolder(repository, config.coaddName, band), repository, band)
    headers = [readPatchHeader(path) for path in paths]
    gaps = _gaps(headers, wcs, science.shape, grow)
    nearby = [header for header, gap in zip(headers, gaps) if gap <= 0.0]
    coverages = [coverage for coverage in (measureCoverage(tract, outlineRa, outlineDec)
                                           for tract in groupTracts(nearby))
                 if coverage is not None]
    best = _largest(coverages)
    if best is None:
        raise NoTemplatePatchError(
            f"{repository}: none of the {len(headers)} {config.coaddName}Coadd patches of band "
            f"{band!r} overlaps the science exposure grown by {config.templateBorderSize} px "
            f"({_nearest(gaps)}; expected patches covering the science footprint)")
    return assembleTemplate(best, band, repository)


def _gaps(headers: list[PatchHeader], wcs: WCS, shape: tuple[int, int],
          grow: float) -> np.ndarray:
    """Angles (radians) between the bounding circles of each patch and of the grown science image.

    A patch whose gap is positive cannot overlap the science image; the others
    are measured exactly on their tract's grid.
    """
    centre, radius = boundingCone(wcs, shape[1], shape[0], grow)
    gaps = []
    for header in headers:
        patchCentre, patchRadius = boundingCone(header.wcs, header.shape[1], header.shape[0])
        gaps.append(angle(centre, patchCentre) - radius - patchRadius)
    return np.array(gaps)


def _nearest(gaps: np.ndarray) -> str:
    """How close the nearest patch comes, from the gaps (radians) between bounding circles."""
    if gaps.min() > 0.0:
        return f"the nearest is {np.degrees(gaps.min()):.3f} deg away"
    return "the nearest patches' bounding circles reach it, but none of their pixels is inside it"


def _band(science: Exposure, repository: Path) -> str:
    if not science.filter:
        raise InputError(f"the science exposure has no filter, so the band of the coadd patches "
                         f"in {repository} is unknown (expected a band such as 'r' in "
                         "science.filter, the FILTER header card)")
    return science.filter


def _scienceWcs(science: Exposure, repository: Path) -> WCS:
    if science.wcs is None or not science.wcs.has_celestial:
        raise InputError(f"the science exposure has no celestial WCS, so the coadd patches in "
                         f"{repository} covering it cannot be found (expected a WCS such as "
                         "RA---TAN/DEC--TAN)")
    return science.wcs.celestial


def _largest(coverages: list[TractCoverage]) -> TractCoverage | None:
    """The coverage of largest area (the first of equals); None if no tract covers anything."""
    best = None
    for coverage in coverages:
        if coverage.area > 0.0 and (best is None or coverage.area > best.area):
            best = coverage
    return best


class CoaddTemplate:
    """Build the template from the coadd patches of one tract (LSST ``GetCoaddAsTemplateTask``)."""

    ConfigClass = GetCoaddAsTemplateConfig

    @hookimpl
    def diffim_getTemplate(self, science: Exposure, config: GetCoaddAsTemplateConfig,
                           source: str) -> Exposure:
        """Assemble the template covering ``science`` from coadd patches in ``source``.

        1. In a data repository (:class:`diffim.repo.Repository`), the patches
           are the registered ``<coaddName>Coadd`` datasets of the science band
           that its sky map places on the science image grown by
           ``templateBorderSize`` pixels on every side (all of the band when the
           repository has no sky map). In a plain directory they are the
           ``*.fits`` files under ``<source>/<coaddName>Coadd/<science.filter>/``.
           Only their headers are read to find the ones overlapping the grown
           science image.
        2. Patches sharing a projection and tangent point form a tract; each
           must sit on its tract's pixel grid at a whole-pixel offset. The tract
           whose patches cover the largest area of the grown science footprint
           is chosen.
        3. The template is that tract's grid cut to the bounding box of the
           grown footprint. Each pixel comes from the overlapping patch in
           which it lies farthest from the edge (no resampling); pixels no
           patch covers are NaN, with infinite variance and NO_DATA. Mask
           planes are merged by name.
        4. PSF: the patches' PSF when they all have the same one, else an
           order-1 :class:`diffim.psf.SpatialPsf` through their PSFs (three or
           more patches) or the PSF of the patch supplying most of the
           footprint. Patches must share their photometric calibration.

        Parameters
        ----------
        science : Exposure
            The science exposure (its WCS places it on the sky, its filter
            names the band); not modified.
        config : GetCoaddAsTemplateConfig
            Coadd name and border.
        source : str
            The data repository, or a directory of patch files.

        Returns
        -------
        Exposure
            The template on its tract's pixel grid, with PSF, WCS, calibration
            and filter; ``metadata["TEMPLATE_PATCHES"]`` lists the patch files
            used (comma-separated, relative to ``source``), ``TEMPLATE_TRACT``
            the tract and ``TEMPLATE_PSF`` how the PSF was made.

        Raises
        ------
        InputError
            If the science exposure has no filter or no celestial WCS, the
            repository or its ``<coaddName>Coadd/<band>`` folder is missing or
            empty, a patch is unreadable, off its tract's grid or in another
            band, or the patches differ in calibration.
        NoOverlapError
            If no patch overlaps the grown science footprint.
        """
        return getCoaddAsTemplate(science, config, source)
