"""Tracts: patches sharing one projection, placed on its pixel grid, and what they cover.

A tract is the set of patches whose WCS has the same projection type and
tangent point (CRVAL). Its pixel grid is the one of its first patch (by
path); every other patch must lie on that grid at a whole-pixel offset.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area

from .errors import TemplateRepositoryError
from .footprint import angle, fillPolygon, unitVectors
from .repository import PatchHeader

#: Largest departure (pixels) of a patch from whole-pixel placement on its tract's grid.
GRID_TOLERANCE = 0.01

#: Tangent points closer than this (radians, about 1 milliarcsecond) belong to one tract.
TANGENT_POINT_TOLERANCE = np.radians(1e-3 / 3600.0)


@dataclass(frozen=True)
class PlacedPatch:
    """A patch and where its first pixel lies on its tract's grid.

    Parameters
    ----------
    header : PatchHeader
        The patch's file, shape and WCS.
    x0, y0 : int
        Tract pixel of the patch's pixel ``(0, 0)``.
    """

    header: PatchHeader
    x0: int
    y0: int

    @property
    def x1(self) -> int:
        """Tract column just past the patch's last column."""
        return self.x0 + self.header.shape[1]

    @property
    def y1(self) -> int:
        """Tract row just past the patch's last row."""
        return self.y0 + self.header.shape[0]

    def overlap(self, x0: int, y0: int, shape: tuple[int, int]
                ) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
        """Where the patch meets a box of ``shape`` whose first pixel is tract pixel ``(x0, y0)``.

        Returns
        -------
        tuple or None
            ``(boxSlices, patchSlices)``: the ``[y, x]`` slices of the shared
            pixels in the box's arrays and in the patch's; None if they share none.
        """
        lowX, highX = max(self.x0, x0), min(self.x1, x0 + shape[1])
        lowY, highY = max(self.y0, y0), min(self.y1, y0 + shape[0])
        if highX <= lowX or highY <= lowY:
            return None
        return ((slice(lowY - y0, highY - y0), slice(lowX - x0, highX - x0)),
                (slice(lowY - self.y0, highY - self.y0), slice(lowX - self.x0, highX - self.x0)))


@dataclass
class Tract:
    """Patches on one pixel grid.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        The grid: the WCS of the tract's first patch.
    patches : list of PlacedPatch
        Its patches, in path order.
    """

    wcs: WCS
    patches: list[PlacedPatch] = field(default_factory=list)

    @property
    def tangentPoint(self) -> tuple[float, float]:
        """``(ra, dec)`` in degrees of the projection's reference point."""
        ra, dec = self.wcs.wcs.crval
        return float(ra % 360.0), float(dec)

    def describe(self) -> str:
        """``tract at RA=..., Dec=...`` for messages."""
        ra, dec = self.tangentPoint
        return f"tract at RA={ra:.5f} Dec={dec:+.5f}"


@dataclass(frozen=True)
class TractCoverage:
    """What one tract's patches cover of the (grown) science footprint.

    Parameters
    ----------
    tract : Tract
        The tract.
    x0, y0 : int
        Tract pixel of the first pixel of the template box: the bounding box of
        the grown science footprint on the tract grid.
    inside : numpy.ndarray
        Boolean over the template box: pixel centres inside the grown science footprint.
    patches : list of PlacedPatch
        The tract's patches with at least one pixel inside the footprint.
    area : float
        Sky area (square degrees) of the footprint the patches cover.
    """

    tract: Tract
    x0: int
    y0: int
    inside: np.ndarray
    patches: list[PlacedPatch]
    area: float

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the template box."""
        return self.inside.shape


def groupTracts(headers: list[PatchHeader]) -> list[Tract]:
    """Group patches into tracts by projection and tangent point, and place them on its grid.

    Raises
    ------
    TemplateRepositoryError
        If a patch shares a tract's tangent point but is not on its grid.
    """
    tracts: list[Tract] = []
    keys: list[tuple[tuple[str, ...], np.ndarray]] = []
    for header in headers:
        ctype = tuple(header.wcs.wcs.ctype)
        tangent = unitVectors(*header.wcs.wcs.crval)
        for tract, (tractCtype, tractTangent) in zip(tracts, keys):
            if ctype == tractCtype and angle(tangent, tractTangent) < TANGENT_POINT_TOLERANCE:
                break
        else:
            tract = Tract(header.wcs)
            tracts.append(tract)
            keys.append((ctype, tangent))
        tract.patches.append(placeOnGrid(header, tract))
    return tracts


def placeOnGrid(header: PatchHeader, tract: Tract) -> PlacedPatch:
    """The whole-pixel offset of ``header``'s pixels on ``tract``'s grid.

    The corners and centre of the patch are mapped through the sky onto the
    tract grid; each must land a whole number of pixels (the same for all)
    from where it started, to within :data:`GRID_TOLERANCE`.

    Raises
    ------
    TemplateRepositoryError
        If the patch is not on the grid (a fractional, rotated or rescaled offset).
    """
    h, w = header.shape
    x = np.array([(w - 1) / 2.0, 0.0, w - 1.0, 0.0, w - 1.0])
    y = np.array([(h - 1) / 2.0, 0.0, 0.0, h - 1.0, h - 1.0])
    tx, ty = tract.wcs.world_to_pixel_values(*header.wcs.pixel_to_world_values(x, y))
    dx, dy = tx - x, ty - y
    ox, oy = np.round(dx[0]), np.round(dy[0])
    error = float(np.max(np.hypot(dx - ox, dy - oy)))
    if not error <= GRID_TOLERANCE:
        reference = tract.patches[0].header.path if tract.patches else header.path
        raise TemplateRepositoryError(
            f"{header.path}: WCS is not on the pixel grid of its {tract.describe()} (defined by "
            f"{reference}): off by up to {error:.3f} px from a whole-pixel shift (expected "
            f"patches of one tract to differ only by whole-pixel CRPIX, within {GRID_TOLERANCE} "
            "px)")
    return PlacedPatch(header, int(ox), int(oy))


def measureCoverage(tract: Tract, outlineRa: np.ndarray,
                    outlineDec: np.ndarray) -> TractCoverage | None:
    """The template box of ``tract`` around a sky outline and what its patches cover.

    Parameters
    ----------
    tract : Tract
        The tract.
    outlineRa, outlineDec : numpy.ndarray
        The grown science footprint's outline on the sky (degrees), in order.

    Returns
    -------
    TractCoverage or None
        None when the outline cannot be projected on the tract (it lies too far
        from the tangent point).
    """
    px, py = tract.wcs.world_to_pixel_values(outlineRa, outlineDec)
    if not (np.all(np.isfinite(px)) and np.all(np.isfinite(py))):
        return None
    x0, y0 = int(np.floor(px.min() + 0.5)), int(np.floor(py.min() + 0.5))
    width = int(np.ceil(px.max() - 0.5)) + 1 - x0
    height = int(np.ceil(py.max() - 0.5)) + 1 - y0
    inside = fillPolygon(px, py, x0, y0, (height, width))
    covered = np.zeros_like(inside)
    overlapping = []
    for patch in tract.patches:
        shared = patch.overlap(x0, y0, inside.shape)
        if shared is not None and inside[shared[0]].any():
            overlapping.append(patch)
            covered[shared[0]] = True
    area = float(np.count_nonzero(inside & covered)) * proj_plane_pixel_area(tract.wcs)
    return TractCoverage(tract, x0, y0, inside, overlapping, area)
