"""Helpers for the getTemplate tests: cut an exposure into coadd patches and write a repository.

The name is unique: the suite runs in pytest's importlib mode with every
plugin's tests together, and this directory is put on ``sys.path`` by conftest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.wcs import WCS

from diffim.exposure import Exposure
from diffim.fits_io import writeExposure
from diffim.psf import SpatialPsf


@dataclass(frozen=True)
class Patch:
    """A patch written to a repository: its file and its box in the tiled exposure."""

    path: Path
    x0: int
    y0: int
    width: int
    height: int


def cutout(exposure: Exposure, x0: int, y0: int, width: int, height: int) -> Exposure:
    """The ``width`` × ``height`` sub-exposure at ``(x0, y0)``, its WCS and PSF moved with it."""
    window = (slice(y0, y0 + height), slice(x0, x0 + width))
    wcs = exposure.wcs.deepcopy()
    wcs.wcs.crpix = wcs.wcs.crpix - np.array([x0, y0], dtype=float)
    wcs.wcs.set()
    psf = exposure.psf
    if isinstance(psf, SpatialPsf):
        psf = SpatialPsf(psf.stamps, psf.x - x0, psf.y - y0, psf.order, (width, height))
    elif psf is not None:
        psf = psf.copy()
    return Exposure(image=exposure.image[window].copy(), mask=exposure.mask[window].copy(),
                    variance=exposure.variance[window].copy(), psf=psf, wcs=wcs,
                    photoCalib=exposure.photoCalib, filter=exposure.filter,
                    obsDate=exposure.obsDate, metadata=dict(exposure.metadata),
                    maskPlanes=exposure.maskPlanes.copy())


def tileBoxes(width: int, height: int, nx: int, ny: int,
              overlap: int) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, w, h)`` of ``nx`` × ``ny`` patches: equal inner cells grown by ``overlap``.

    Cells split the image as evenly as integers allow; each patch is its cell
    grown by ``overlap`` pixels on every side, clipped to the image, so
    neighbours share strips ``2 * overlap`` wide.
    """
    xs = np.linspace(0, width, nx + 1).round().astype(int)
    ys = np.linspace(0, height, ny + 1).round().astype(int)
    boxes = []
    for j in range(ny):
        for i in range(nx):
            left, right = max(xs[i] - overlap, 0), min(xs[i + 1] + overlap, width)
            bottom, top = max(ys[j] - overlap, 0), min(ys[j + 1] + overlap, height)
            boxes.append((int(left), int(bottom), int(right - left), int(top - bottom)))
    return boxes


def writePatches(exposure: Exposure, folder: Path, nx: int = 3, ny: int = 3,
                 overlap: int = 10, prefix: str = "patch") -> list[Patch]:
    """Tile ``exposure`` into overlapping patches and write each with ``writeExposure``.

    Files are ``<folder>/<prefix>_<i>_<j>.fits`` (``i`` along x).
    """
    folder.mkdir(parents=True, exist_ok=True)
    patches = []
    for x0, y0, w, h in tileBoxes(exposure.width, exposure.height, nx, ny, overlap):
        i = int(np.searchsorted(np.linspace(0, exposure.width, nx + 1), x0 + w / 2) - 1)
        j = int(np.searchsorted(np.linspace(0, exposure.height, ny + 1), y0 + h / 2) - 1)
        path = folder / f"{prefix}_{i}_{j}.fits"
        writeExposure(cutout(exposure, x0, y0, w, h), path)
        patches.append(Patch(path, x0, y0, w, h))
    return patches


def reprojected(wcs: WCS, ra: float, dec: float, x: float, y: float) -> WCS:
    """A copy of ``wcs`` with tangent point ``(ra, dec)``, shifted so sky ``(x, y)`` stays put.

    The pixel ``(x, y)`` of the result sees the sky position pixel ``(x, y)``
    of ``wcs`` sees: a different projection (another tract) over the same area.
    """
    skyRa, skyDec = wcs.pixel_to_world_values(x, y)
    moved = wcs.deepcopy()
    moved.wcs.crval = [ra, dec]
    moved.wcs.set()
    px, py = moved.world_to_pixel_values(skyRa, skyDec)
    moved.wcs.crpix = moved.wcs.crpix + np.array([x - px, y - py])
    moved.wcs.set()
    return moved
