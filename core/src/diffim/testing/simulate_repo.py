"""A small simulated data repository: coadd patches, science visits and their truth.

:func:`simulateRepo` draws one star field on the sky and observes it twice over:

* as ``deepCoadd`` patches of one tract (2×2 overlapping patches of a TAN sky
  map): deep, sharp and on the tract's pixel grid. The field is rendered and
  given its noise once on the whole tract grid and each patch is its outer box
  of it, so neighbouring patches agree pixel for pixel where they overlap, as
  coadd patches built from the same warps do;
* as ``calexp`` science visits, each on its own TAN WCS (a small rotation and
  sub-pixel offset from the tract grid), with a broader PSF that differs from
  visit to visit, a sky gradient, a transparency, and 10 to 20 transients
  found in that visit only (listed with the visit's stars in its ``truth``).

The visits lie across patch boundaries (their templates need 1, 2 or 4
patches) except :data:`POOR_VISIT`, which the patches cover only a few percent
of: below ``requiredTemplateFraction`` (0.1), so its subtraction fails the
coverage check while a patch is still found for it.

Fluxes are in each image's ADU: a star of catalog flux ``f`` gives
``f * transparency`` in a visit (zero point ``ZERO_POINT + 2.5 log10(transparency)``)
and ``f * COADD_FLUX_SCALE`` in the coadd. Noise follows
:func:`diffim.testing.simulate.simulatePair` (Poisson plus read noise).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from ..exposure import Exposure
from ..psf import GaussianPsf
from ..repo import Repository, RepositoryError, SkyMap, TractInfo
from .simulate import (MAX_RENDER_HALF, STAR_COUNT_SLOPE, STAR_DENSITY, TEMPLATE_DATE,
                       _flux_error, _flux_for_snr, _place_transients, _power_law, _Profile,
                       _Seeing, _sky, _truth_table, noisyExposure, renderSkyCatalog)

#: Band of every dataset, and the coadd name (``deepCoadd``).
BAND = "r"
COADD_NAME = "deep"

#: Tract 0: tangent point (deg), pixel scale (arcsec), patch inner side and border (px).
TRACT_CENTRE = (150.0, 2.0)
PIXEL_SCALE = 0.2
PATCH_INNER = 450
PATCH_BORDER = 40
NUM_PATCHES = (2, 2)

#: Side of a science visit (px).
VISIT_SIZE = 384

#: Centres of the visits on the tract grid (px, before their sub-pixel offsets): visits 1
#: and 7 need 4 patches, 2, 3, 4 and 8 need 2, 6 one; 5 sticks out of the tract's right
#: edge by all but about 20 px (about 5% of its area).
VISIT_CENTRES = {1: (450.0, 450.0), 2: (450.0, 205.0), 3: (205.0, 450.0),
                 4: (695.0, 450.0), 5: (1072.0, 450.0), 6: (205.0, 205.0),
                 7: (640.0, 660.0), 8: (450.0, 695.0)}

#: The visit the patches hardly cover.
POOR_VISIT = 5

#: The default ``requiredTemplateFraction`` of the task, which the poorly covered visit's
#: coverage falls below.
REQUIRED_TEMPLATE_FRACTION = 0.1

#: Detector of every visit.
DETECTOR = 0

#: Coadd: PSF sigma (px), sky (ADU), counts per visit count of a star at transparency 1.
COADD_SIGMA = 1.5
COADD_SKY = 3000.0
COADD_FLUX_SCALE = 3.6

#: Visits: seeing (sigma over the coadd's), sky (ADU), transparency, rotation (deg),
#: number of transients and their S/N, each drawn uniformly per visit (log-uniform S/N).
SEEING_RATIO_RANGE = (1.2, 1.5)
SKY_RANGE = (800.0, 1300.0)
SKY_GRADIENT = 0.05
TRANSPARENCY_RANGE = (0.85, 1.0)
ROTATION_RANGE = (-1.0, 1.0)
TRANSIENT_COUNT_RANGE = (10, 20)
TRANSIENT_SNR_RANGE = (8.0, 100.0)

#: Detector model shared by every image.
GAIN = 2.0
READ_NOISE = 5.0
SATURATION = 60000.0
ZERO_POINT = 28.0

#: Science S/N of the faintest catalog star (at a seeing ratio of 1.3 and the lowest sky).
FAINTEST_SNR = 5.0

#: Pixels of sky drawn beyond every image, so wings of stars just outside reach in.
SCENE_MARGIN = 60

#: Date of visit 1; visit ``v`` is ``v - 1`` days later.
FIRST_VISIT_DATE = datetime(2024, 3, 10, 5, 12)


@dataclass(frozen=True)
class SimulatedRepository:
    """What :func:`simulateRepo` made.

    Attributes
    ----------
    repository : Repository
        The repository, open.
    tract : int
        The tract id.
    patches : list of int
        Patch ids of the ``deepCoadd`` patches (band :data:`BAND`).
    visits : list of dict
        Data IDs (visit, detector, band) of the ``calexp`` and ``truth`` datasets.
    poorlyCovered : dict
        Data ID of the visit the patches cover too little of.
    coverage : dict
        Visit number to the fraction of its pixels inside the patches' outer boxes.
    visitPatches : dict
        Visit number to the patch ids whose outer boxes overlap it.
    """

    repository: Repository
    tract: int
    patches: list[int]
    visits: list[dict]
    poorlyCovered: dict
    coverage: dict[int, float]
    visitPatches: dict[int, list[int]]

    @property
    def root(self) -> Path:
        """The repository directory."""
        return self.repository.root


@dataclass(frozen=True)
class _Scene:
    """The sky catalog: star positions (deg) and catalog fluxes (visit ADU at transparency 1)."""

    ra: np.ndarray
    dec: np.ndarray
    flux: np.ndarray


def simulateRepo(root: str | os.PathLike, seed: int = 1,
                 registry: str | None = None) -> SimulatedRepository:
    """Build a simulated repository in ``root``: a sky map, 4 coadd patches and 8 visits.

    Parameters
    ----------
    root : str or os.PathLike
        Directory of the new repository (see :meth:`Repository.create`).
    seed : int
        Seed of the ``numpy.random.default_rng`` that draws everything; the same
        seed gives the same datasets.
    registry : str, optional
        SQLAlchemy URL of the registry; a SQLite file in ``root`` when omitted.

    Returns
    -------
    SimulatedRepository
        The repository and the data IDs written: ``deepCoadd`` (tract, patch, band)
        for the 4 patches, ``calexp`` and ``truth`` (visit, detector, band) for
        visits 1 to 8.

    Raises
    ------
    diffim.repo.RepositoryError
        If ``root`` cannot hold a new repository.
    """
    root = Path(root).expanduser().absolute()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        # Repository.create says the same, but only after the simulation.
        raise RepositoryError(f"{root}: exists and is not an empty directory (expected a new "
                              "location for the repository)")
    rng = np.random.default_rng(seed)
    tract = TractInfo(0, TRACT_CENTRE[0], TRACT_CENTRE[1], PIXEL_SCALE,
                      NUM_PATCHES[0] * PATCH_INNER, NUM_PATCHES[1] * PATCH_INNER,
                      PATCH_INNER, PATCH_BORDER)
    skyMap = SkyMap([tract])
    visitWcs = {visit: _visitWcs(rng, tract, centre) for visit, centre in VISIT_CENTRES.items()}
    scene = _scene(rng, tract, list(visitWcs.values()))

    items: list[tuple[object, str, dict]] = []
    for patch, exposure in _coaddPatches(rng, tract, scene, seed):
        items.append((exposure, f"{COADD_NAME}Coadd",
                      {"tract": tract.id, "patch": patch, "band": BAND}))
    coaddUnit = _Profile("gaussian", 3.0).stamp(COADD_SIGMA, 0.0, 0.0,
                                                int(np.ceil(6 * COADD_SIGMA)))
    visits, coverage, visitPatches = [], {}, {}
    for visit, wcs in visitWcs.items():
        dataId = {"visit": visit, "detector": DETECTOR, "band": BAND}
        exposure, truth = _visit(rng, visit, wcs, scene, coaddUnit, seed)
        items.append((exposure, "calexp", dataId))
        items.append((truth, "truth", dataId))
        visits.append(dataId)
        coverage[visit] = _coverage(tract, wcs)
        outline = wcs.pixel_to_world_values(*_outline(VISIT_SIZE, VISIT_SIZE))
        visitPatches[visit] = [patch for _, patch in skyMap.findPatches(*outline)]

    repository = Repository.create(root, skyMap=skyMap, registry=registry)
    repository.putMany(items)
    return SimulatedRepository(repository, tract.id, list(tract.patchIds), visits,
                               dict(visits[list(VISIT_CENTRES).index(POOR_VISIT)]), coverage,
                               visitPatches)


def _visitWcs(rng: np.random.Generator, tract: TractInfo, centre: tuple[float, float]) -> WCS:
    """TAN WCS of a visit centred near tract pixel ``centre``, rotated and offset a little."""
    offset = rng.uniform(-0.5, 0.5, 2)
    rotation = np.radians(rng.uniform(*ROTATION_RANGE))
    ra, dec = tract.wcs.pixel_to_world_values(centre[0] + offset[0], centre[1] + offset[1])
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [float(ra), float(dec)]
    wcs.wcs.crpix = [(VISIT_SIZE + 1) / 2.0, (VISIT_SIZE + 1) / 2.0]
    scale = tract.pixelScale / 3600.0
    cos, sin = np.cos(rotation), np.sin(rotation)
    wcs.wcs.cd = [[-scale * cos, scale * sin], [scale * sin, scale * cos]]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    return wcs


def _outline(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel corners of a ``width`` × ``height`` image (outer pixel edges)."""
    return (np.array([-0.5, width - 0.5, width - 0.5, -0.5]),
            np.array([-0.5, -0.5, height - 0.5, height - 0.5]))


def _scene(rng: np.random.Generator, tract: TractInfo, visitWcs: list[WCS]) -> _Scene:
    """Stars at :data:`STAR_DENSITY` over the tract and every visit, plus a margin.

    Positions are drawn uniformly on the tract grid's box around all images and
    kept as (ra, dec); fluxes follow :data:`STAR_COUNT_SLOPE` from a science S/N
    of :data:`FAINTEST_SNR` to 3 times saturation at the peak.
    """
    corners = [np.array(_outline(tract.width, tract.height))]
    for wcs in visitWcs:
        sky = wcs.pixel_to_world_values(*_outline(VISIT_SIZE, VISIT_SIZE))
        corners.append(np.array(tract.wcs.world_to_pixel_values(*sky)))
    allCorners = np.hstack(corners)
    low = allCorners.min(axis=1) - SCENE_MARGIN
    high = allCorners.max(axis=1) + SCENE_MARGIN
    n = int(round(STAR_DENSITY * np.prod(high - low)))
    x, y = rng.uniform(low, high, (n, 2)).T
    profile = _Profile("gaussian", 3.0)
    sigma = COADD_SIGMA * 1.3
    skyVar = SKY_RANGE[0] / GAIN + (READ_NOISE / GAIN) ** 2
    fmin = _flux_for_snr(FAINTEST_SNR, profile.stamp(sigma, 0, 0, 30), skyVar, GAIN)
    fmax = 3.0 * SATURATION / profile.stamp(sigma, 0, 0, 1)[1, 1]
    flux = _power_law(rng, n, fmin, fmax, STAR_COUNT_SLOPE)
    ra, dec = tract.wcs.pixel_to_world_values(x, y)
    return _Scene(np.asarray(ra), np.asarray(dec), flux)


def _coaddPatches(rng: np.random.Generator, tract: TractInfo, scene: _Scene,
                  seed: int) -> list[tuple[int, Exposure]]:
    """The coadd patches: the whole tract rendered and observed once, cut at each outer box."""
    shape = (tract.height, tract.width)
    rendered = renderSkyCatalog(tract.wcs, shape, scene.ra, scene.dec,
                                COADD_FLUX_SCALE * scene.flux, COADD_SIGMA, COADD_SKY,
                                gain=GAIN, readNoise=READ_NOISE, saturation=SATURATION)
    psf = GaussianPsf(COADD_SIGMA)
    zeroPoint = ZERO_POINT + 2.5 * np.log10(COADD_FLUX_SCALE)
    whole = noisyExposure(rendered.model, rng, psf, tract.wcs, zeroPoint, BAND, TEMPLATE_DATE,
                          {}, gain=GAIN, readNoise=READ_NOISE, saturation=SATURATION)
    patches = []
    for patch in tract.patchIds:
        x0, y0, width, height = tract.patchOuterBox(patch)
        box = (slice(y0, y0 + height), slice(x0, x0 + width))
        metadata = {"GAIN": GAIN, "RDNOISE": READ_NOISE, "SATURATE": SATURATION,
                    "SIMSEED": seed, "TRACT": tract.id, "PATCH": patch}
        patches.append((patch, Exposure(
            image=whole.image[box].copy(), mask=whole.mask[box].copy(),
            variance=whole.variance[box].copy(),
            psf=GaussianPsf(COADD_SIGMA, averagePosition=((width - 1) / 2.0, (height - 1) / 2.0)),
            wcs=tract.patchWcs(patch), photoCalib=whole.photoCalib, filter=BAND,
            obsDate=TEMPLATE_DATE, metadata=metadata, maskPlanes=whole.maskPlanes.copy())))
    return patches


def _visit(rng: np.random.Generator, visit: int, wcs: WCS, scene: _Scene,
           coaddUnit: np.ndarray, seed: int) -> tuple[Exposure, Table]:
    """One science visit: stars of the scene through ``wcs``, transients, noise; and its truth."""
    shape = (VISIT_SIZE, VISIT_SIZE)
    sigma = COADD_SIGMA * rng.uniform(*SEEING_RATIO_RANGE)
    skyLevel = rng.uniform(*SKY_RANGE)
    transparency = rng.uniform(*TRANSPARENCY_RANGE)
    nTransients = int(rng.integers(TRANSIENT_COUNT_RANGE[0], TRANSIENT_COUNT_RANGE[1] + 1))
    sky = _sky(shape, skyLevel, SKY_GRADIENT)
    readVar = (READ_NOISE / GAIN) ** 2
    profile = _Profile("gaussian", 3.0)

    # Stars whose light may reach the image, in its pixels, and the transients away from them.
    starX, starY = (np.asarray(v) for v in wcs.world_to_pixel_values(scene.ra, scene.dec))
    reach = MAX_RENDER_HALF + 1.0
    near = np.flatnonzero((starX > -reach) & (starX < VISIT_SIZE - 1 + reach)
                          & (starY > -reach) & (starY < VISIT_SIZE - 1 + reach))
    starFlux = transparency * scene.flux[near]
    tx, ty, tflux = _place_transients(rng, nTransients, starX[near], starY[near], starFlux,
                                      profile, _Seeing(sigma, 0.0, shape), sky, GAIN, readVar,
                                      float(np.sqrt(skyLevel / GAIN + readVar)),
                                      TRANSIENT_SNR_RANGE)
    tra, tdec = wcs.pixel_to_world_values(tx, ty)
    ra = np.concatenate([scene.ra[near], np.asarray(tra)])
    dec = np.concatenate([scene.dec[near], np.asarray(tdec)])
    flux = np.concatenate([starFlux, tflux])
    rendered = renderSkyCatalog(wcs, shape, ra, dec, flux, sigma, sky, gain=GAIN,
                                readNoise=READ_NOISE, saturation=SATURATION)

    centre = ((VISIT_SIZE - 1) / 2.0, (VISIT_SIZE - 1) / 2.0)
    date = (FIRST_VISIT_DATE + timedelta(days=visit - 1)).strftime("%Y-%m-%dT%H:%M:%S.000")
    metadata = {"GAIN": GAIN, "RDNOISE": READ_NOISE, "SATURATE": SATURATION, "SIMSEED": seed,
                "VISIT": visit, "DETECTOR": DETECTOR}
    exposure = noisyExposure(rendered.model, rng, GaussianPsf(sigma, averagePosition=centre),
                             wcs, ZERO_POINT + 2.5 * np.log10(transparency), BAND, date,
                             metadata, gain=GAIN, readNoise=READ_NOISE, saturation=SATURATION)

    # Truth: the stars whose centres are on the image, then the transients.
    nStars = len(near)
    keep = np.concatenate([rendered.inside()[:nStars], np.ones(len(tx), dtype=bool)])
    isStar = np.arange(len(flux)) < nStars
    staticFlux = np.where(isStar, flux, 0.0)
    coaddFlux = COADD_FLUX_SCALE / transparency * staticFlux
    coaddBackground = COADD_SKY / GAIN + readVar
    coaddErr = np.array([_flux_error(f, coaddUnit, coaddBackground, GAIN) for f in coaddFlux])
    coaddSaturated = coaddFlux * coaddUnit.max() + COADD_SKY >= SATURATION
    differenceErr = np.hypot(rendered.fluxErr, coaddErr * transparency / COADD_FLUX_SCALE)
    kind = np.where(isStar, "star", "transient").astype("<U9")
    truth = _truth_table(kind[keep], rendered.x[keep], rendered.y[keep], ra[keep], dec[keep],
                         flux[keep], coaddFlux[keep], (flux - staticFlux)[keep],
                         differenceErr[keep], (rendered.saturated | coaddSaturated)[keep])
    truth["templateFlux"].description = "total flux in the deepCoadd patches"
    truth.meta.update({"VISIT": visit, "DETECTOR": DETECTOR, "FILTER": BAND})
    return exposure, truth


def _coverage(tract: TractInfo, wcs: WCS) -> float:
    """Fraction of a visit's area inside the tract (the union of its patches' outer boxes).

    The visit's outline, mapped onto the tract grid (where it is a quadrilateral to
    well under a pixel), is clipped to the tract's box.
    """
    corners = tract.wcs.world_to_pixel_values(
        *wcs.pixel_to_world_values(*_outline(VISIT_SIZE, VISIT_SIZE)))
    polygon = np.column_stack(corners)
    whole = _area(polygon)
    for axis, limit, keepBelow in ((0, -0.5, False), (0, tract.width - 0.5, True),
                                   (1, -0.5, False), (1, tract.height - 0.5, True)):
        polygon = _clip(polygon, axis, limit, keepBelow)
        if len(polygon) == 0:
            return 0.0
    return float(_area(polygon) / whole)


def _clip(polygon: np.ndarray, axis: int, limit: float, keepBelow: bool) -> np.ndarray:
    """The part of a convex ``polygon`` (rows of x, y) on one side of ``coord[axis] = limit``."""
    inside = polygon[:, axis] <= limit if keepBelow else polygon[:, axis] >= limit
    points = []
    for i in range(len(polygon)):
        a, b = polygon[i - 1], polygon[i]
        if inside[i] != inside[i - 1]:
            t = (limit - a[axis]) / (b[axis] - a[axis])
            points.append(a + t * (b - a))
        if inside[i]:
            points.append(b)
    return np.array(points).reshape(-1, 2)


def _area(polygon: np.ndarray) -> float:
    """Area of a polygon (rows of x, y) by the shoelace formula."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
