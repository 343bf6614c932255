"""A DS9 region file of the diaSources, written with the ``regions`` package.

Each diaSource becomes a circle coloured by its kind (:func:`diffim.quicklook.sourceKinds`,
the quick-look colours), labelled with its id; sky sources are boxes. With a
celestial WCS the regions are in sky coordinates (the WCS's frame), so they
overlay any image of the field; otherwise they are in image pixels.

diffim's ``x``, ``y`` are 0-based pixel centres, as are the ``regions`` package's
:class:`~regions.PixCoord`; the package writes DS9's 1-based image coordinates itself.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .quicklook import KIND_COLOURS, sourceKinds

#: Radius of each circle (half the side of a sky-source box), in pixels; with a WCS
#: the same length in angle at the source (local pixel scale).
REGION_RADIUS_PIXELS = 5.0


def _localPixelScale(wcs, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pixel scale (arcsec, geometric mean of the two axes) of ``wcs`` at each ``(x, y)``."""
    centre = wcs.pixel_to_world(x, y)
    dx = centre.separation(wcs.pixel_to_world(x + 1, y)).arcsec
    dy = centre.separation(wcs.pixel_to_world(x, y + 1)).arcsec
    return np.sqrt(dx * dy)


def makeRegions(diaSources, wcs=None, radius: float = REGION_RADIUS_PIXELS):
    """A :class:`regions.Regions` with one region per diaSource (see :func:`writeRegions`)."""
    import astropy.units as u
    from regions import (CirclePixelRegion, CircleSkyRegion, PixCoord, RectanglePixelRegion,
                         RectangleSkyRegion, RegionMeta, RegionVisual, Regions)

    n = len(diaSources)
    out = []
    if n == 0:
        return Regions(out)
    x = np.asarray(diaSources["x"], dtype=float)
    y = np.asarray(diaSources["y"], dtype=float)
    ids = np.asarray(diaSources["id"]) if "id" in diaSources.colnames else np.arange(1, n + 1)
    kinds = sourceKinds(diaSources)
    sky = wcs is not None and wcs.has_celestial
    if sky:
        wcs = wcs.celestial
        coords = wcs.pixel_to_world(x, y)
        scale = _localPixelScale(wcs, x, y) * radius * u.arcsec
    for i in range(n):
        kind = kinds[i]
        visual = RegionVisual(color=KIND_COLOURS[kind][0])
        meta = RegionMeta(text=str(ids[i]), tag=[kind])
        if sky:
            if not np.all(np.isfinite([coords[i].spherical.lon.deg, coords[i].spherical.lat.deg])):
                continue
            if kind == "sky":
                region = RectangleSkyRegion(coords[i], width=2 * scale[i], height=2 * scale[i],
                                            angle=0 * u.deg, meta=meta, visual=visual)
            else:
                region = CircleSkyRegion(coords[i], radius=scale[i], meta=meta, visual=visual)
        else:
            if not (np.isfinite(x[i]) and np.isfinite(y[i])):
                continue
            centre = PixCoord(x[i], y[i])
            if kind == "sky":
                region = RectanglePixelRegion(centre, width=2 * radius, height=2 * radius,
                                              meta=meta, visual=visual)
            else:
                region = CirclePixelRegion(centre, radius=radius, meta=meta, visual=visual)
        out.append(region)
    return Regions(out)


def writeRegions(path: str | os.PathLike, diaSources, wcs=None,
                 radius: float = REGION_RADIUS_PIXELS, overwrite: bool = True) -> Path:
    """Write a DS9 region file with one region per diaSource, atomically.

    Circles of ``radius`` pixels (with a celestial ``wcs``: that length in
    angle at the source, in the WCS's sky frame; without one: image
    coordinates) at each source's ``(x, y)``, coloured by kind (positive green,
    negative red, dipole magenta, flagged yellow; :data:`diffim.quicklook.KIND_COLOURS`)
    and labelled with the source id; sky sources are blue boxes of side
    ``2 * radius``. Each region's kind is also its DS9 ``tag``. Sources
    without a finite position are left out.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.reg`` file.
    diaSources : astropy.table.Table
        The sources, with ``x``, ``y`` (0-based pixel centres) and ``id``.
    wcs : astropy.wcs.WCS, optional
        WCS of the exposure the positions refer to.
    radius : float
        Circle radius in pixels.
    overwrite : bool
        Replace an existing file.
    """
    regions = makeRegions(diaSources, wcs, radius)
    with atomic_write(path, overwrite=overwrite) as tmp:
        if len(regions):
            regions.write(str(tmp), format="ds9")
        else:
            # regions refuses to serialize nothing; an empty DS9 file is a header only.
            Path(tmp).write_text("# Region file format: DS9 astropy/regions\nimage\n")
    return Path(path)
