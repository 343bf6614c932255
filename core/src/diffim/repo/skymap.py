"""Sky maps: tracts (TAN projections) divided into overlapping patches.

A tract is one tangent-plane pixel grid around a point of the sky; it is cut
into a regular array of square *inner* patch boxes, and each patch image
covers its inner box grown by a border on every side (clipped to the tract),
so neighbouring patches overlap by twice the border. Coadd patches are
images on their patch's *outer* box, all on the tract's pixel grid: the
patch WCS is the tract WCS with its reference pixel moved to the box.
Patch ids run along x first: ``patch = iy * nx + ix``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from astropy.wcs import WCS

from ..errors import InputError

#: Points farther than this from a tract's tangent point (degrees) are never on its grid.
MAX_TRACT_ANGLE = 60.0


@dataclass(frozen=True)
class TractInfo:
    """One tract: a TAN pixel grid and its patches.

    Parameters
    ----------
    id : int
        Tract id.
    ra, dec : float
        Tangent point (degrees), at the centre of the grid.
    pixelScale : float
        Arcseconds per pixel.
    width, height : int
        Size of the tract grid (pixels); its first pixel is ``(0, 0)``.
    patchInnerDimensions : int
        Side of a patch's inner box (pixels).
    patchBorder : int
        Pixels by which a patch image extends its inner box on every side.
    """

    id: int
    ra: float
    dec: float
    pixelScale: float
    width: int
    height: int
    patchInnerDimensions: int
    patchBorder: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.patchInnerDimensions <= 0:
            raise InputError(f"tract {self.id}: width, height and patchInnerDimensions must be "
                             f"positive (got {self.width}, {self.height}, "
                             f"{self.patchInnerDimensions})")
        if self.patchBorder < 0 or self.pixelScale <= 0:
            raise InputError(f"tract {self.id}: expected patchBorder >= 0 and pixelScale > 0 "
                             f"(got {self.patchBorder}, {self.pixelScale})")

    @property
    def wcs(self) -> WCS:
        """The tract grid: TAN, north up, east to the left, tangent point at the centre."""
        return _tanWcs(self.ra, self.dec, self.pixelScale,
                       (self.width - 1) / 2.0, (self.height - 1) / 2.0)

    @property
    def numPatches(self) -> tuple[int, int]:
        """``(nx, ny)``: patches along x and along y."""
        inner = self.patchInnerDimensions
        return math.ceil(self.width / inner), math.ceil(self.height / inner)

    @property
    def patchIds(self) -> list[int]:
        """Every patch id of the tract."""
        nx, ny = self.numPatches
        return list(range(nx * ny))

    def patchIndex(self, patch: int) -> tuple[int, int]:
        """``(ix, iy)`` of patch id ``patch``.

        Raises
        ------
        InputError
            If the tract has no such patch.
        """
        nx, ny = self.numPatches
        if not 0 <= int(patch) < nx * ny:
            raise InputError(f"tract {self.id} has no patch {patch} (expected 0 to "
                             f"{nx * ny - 1}: {nx}x{ny} patches)")
        return int(patch) % nx, int(patch) // nx

    def patchInnerBox(self, patch: int) -> tuple[int, int, int, int]:
        """``(x0, y0, width, height)`` of the patch's inner box on the tract grid."""
        ix, iy = self.patchIndex(patch)
        inner = self.patchInnerDimensions
        x0, y0 = ix * inner, iy * inner
        return x0, y0, min(inner, self.width - x0), min(inner, self.height - y0)

    def patchOuterBox(self, patch: int) -> tuple[int, int, int, int]:
        """``(x0, y0, width, height)`` of the patch image: inner box and border, in the tract."""
        x0, y0, width, height = self.patchInnerBox(patch)
        border = self.patchBorder
        x1, y1 = min(x0 + width + border, self.width), min(y0 + height + border, self.height)
        x0, y0 = max(x0 - border, 0), max(y0 - border, 0)
        return x0, y0, x1 - x0, y1 - y0

    def patchWcs(self, patch: int) -> WCS:
        """WCS of the patch image: the tract's, with pixel ``(0, 0)`` at the outer box's corner."""
        x0, y0, _, _ = self.patchOuterBox(patch)
        return _tanWcs(self.ra, self.dec, self.pixelScale,
                       (self.width - 1) / 2.0 - x0, (self.height - 1) / 2.0 - y0)

    def patchesOverlapping(self, ra: np.ndarray, dec: np.ndarray) -> list[int]:
        """Patches whose outer box meets the bounding box of a sky outline on this tract.

        Parameters
        ----------
        ra, dec : numpy.ndarray
            The outline (degrees).

        Returns
        -------
        list of int
            Patch ids, ascending; empty if the outline is far from the tract.
        """
        if not _nearTangentPoint(self, ra, dec):
            return []
        x, y = self.wcs.world_to_pixel_values(np.asarray(ra, float), np.asarray(dec, float))
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            return []
        lowX, highX, lowY, highY = x.min(), x.max(), y.min(), y.max()
        found = []
        for patch in self.patchIds:
            x0, y0, width, height = self.patchOuterBox(patch)
            if (lowX < x0 + width - 0.5 and highX > x0 - 0.5
                    and lowY < y0 + height - 0.5 and highY > y0 - 0.5):
                found.append(patch)
        return found


def _tanWcs(ra: float, dec: float, pixelScale: float, xRef: float, yRef: float) -> WCS:
    """A TAN WCS with tangent point ``(ra, dec)`` at 0-based pixel ``(xRef, yRef)``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [xRef + 1.0, yRef + 1.0]
    scale = pixelScale / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    return wcs


def _nearTangentPoint(tract: TractInfo, ra: np.ndarray, dec: np.ndarray) -> bool:
    """True when every point is within :data:`MAX_TRACT_ANGLE` of the tract's tangent point."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    ra0, dec0 = math.radians(tract.ra), math.radians(tract.dec)
    cosine = (np.sin(dec) * math.sin(dec0)
              + np.cos(dec) * math.cos(dec0) * np.cos(ra - ra0))
    return bool(np.all(cosine > math.cos(math.radians(MAX_TRACT_ANGLE))))


class SkyMap:
    """Tracts covering parts of the sky, each divided into patches.

    Parameters
    ----------
    tracts : list of TractInfo
        The tracts; their ids must be distinct.
    """

    def __init__(self, tracts: list[TractInfo]) -> None:
        ids = [tract.id for tract in tracts]
        if len(set(ids)) != len(ids):
            raise InputError(f"sky map tract ids must be distinct (got {ids})")
        self.tracts = list(tracts)
        self._byId = {tract.id: tract for tract in tracts}

    def __getitem__(self, tractId: int) -> TractInfo:
        try:
            return self._byId[int(tractId)]
        except KeyError:
            raise InputError(f"the sky map has no tract {tractId} (it has "
                             f"{sorted(self._byId)})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SkyMap) and self.tracts == other.tracts

    def __repr__(self) -> str:
        return f"SkyMap({len(self.tracts)} tracts)"

    @classmethod
    def discrete(cls, centres: list[tuple[float, float]], radius: float,
                 pixelScale: float = 0.2, patchInnerDimensions: int = 4000,
                 patchBorder: int = 100) -> "SkyMap":
        """One tract around each centre, large enough to hold a circle of ``radius``.

        Each tract is a whole number of patches a side (LSST's discrete sky map).

        Parameters
        ----------
        centres : list of (float, float)
            ``(ra, dec)`` of each tract's tangent point (degrees); tract ids follow
            their order.
        radius : float
            Radius (degrees) each tract must cover around its centre.
        pixelScale : float
            Arcseconds per pixel.
        patchInnerDimensions, patchBorder : int
            Patch inner side and border (pixels).
        """
        if radius <= 0:
            raise InputError(f"sky map radius must be positive (got {radius} deg)")
        halfWidth = radius * 3600.0 / pixelScale
        n = max(1, math.ceil(2.0 * halfWidth / patchInnerDimensions))
        side = n * patchInnerDimensions
        return cls([TractInfo(index, float(ra), float(dec), float(pixelScale), side, side,
                              int(patchInnerDimensions), int(patchBorder))
                    for index, (ra, dec) in enumerate(centres)])

    def findPatches(self, ra: np.ndarray, dec: np.ndarray) -> list[tuple[int, int]]:
        """``(tract, patch)`` of every patch whose outer box meets a sky outline.

        The outline's bounding box on each tract's grid is used, so the list may
        hold a patch that only meets that box; callers measure the exact overlap.

        Parameters
        ----------
        ra, dec : numpy.ndarray
            The outline (degrees).
        """
        return [(tract.id, patch) for tract in self.tracts
                for patch in tract.patchesOverlapping(ra, dec)]

    def toDict(self) -> dict[str, Any]:
        """A plain-data form (for YAML)."""
        return {"tracts": [asdict(tract) for tract in self.tracts]}

    @classmethod
    def fromDict(cls, data: dict[str, Any], source: str = "sky map") -> "SkyMap":
        """Rebuild a sky map from :meth:`toDict`'s form.

        Raises
        ------
        InputError
            If ``data`` is not such a form (the message names ``source``).
        """
        try:
            return cls([TractInfo(**tract) for tract in data["tracts"]])
        except (KeyError, TypeError) as exc:
            raise InputError(f"{source}: not a sky map ({exc}); expected 'tracts', a list of "
                             "id, ra, dec, pixelScale, width, height, patchInnerDimensions, "
                             "patchBorder") from None
