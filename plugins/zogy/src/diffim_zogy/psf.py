"""The PSF of a difference made on a grid of cells: the cells' PSFs blended with tent weights."""
from __future__ import annotations

import numpy as np

from diffim.psf import Psf

from .grid import tentWeights


class GridPsf(Psf):
    """PSF that is the tent-weighted blend of one stamp per grid cell.

    At ``(x, y)`` the model is ``sum_ij wy_j(y) wx_i(x) stamp_ji``, with the same
    weights that blended the cells' difference images, so it is the exact PSF of
    the blended image (for a PSF that is constant within a cell's support).

    Parameters
    ----------
    stamps : numpy.ndarray
        ``(ny, nx, size, size)`` unit-sum stamps, one per cell (odd size).
    xCenters, yCenters : numpy.ndarray
        Increasing cell centres (pixels).
    averagePosition : tuple of float
        Where single-number summaries (``sigma``) are taken.
    """

    def __init__(self, stamps: np.ndarray, xCenters: np.ndarray, yCenters: np.ndarray,
                 averagePosition: tuple[float, float]):
        stamps = np.asarray(stamps, dtype=np.float64)
        if stamps.ndim != 4 or stamps.shape[:2] != (len(yCenters), len(xCenters)):
            raise ValueError(f"GridPsf needs ({len(yCenters)}, {len(xCenters)}, size, size) "
                             f"stamps, got shape {stamps.shape}")
        if stamps.shape[2] != stamps.shape[3] or stamps.shape[2] % 2 == 0:
            raise ValueError(f"GridPsf stamps must be square with an odd size, got "
                             f"{stamps.shape[2:]}")
        self.stamps = stamps / stamps.sum(axis=(2, 3), keepdims=True)
        self.xCenters = np.asarray(xCenters, dtype=np.float64)
        self.yCenters = np.asarray(yCenters, dtype=np.float64)
        self.averagePosition = (float(averagePosition[0]), float(averagePosition[1]))

    @property
    def isSpatiallyVarying(self) -> bool:
        return self.stamps.shape[0] * self.stamps.shape[1] > 1

    def at(self, x: float, y: float) -> np.ndarray:
        wy = np.array([float(tentWeights(np.array(y), self.yCenters, j))
                       for j in range(len(self.yCenters))])
        wx = np.array([float(tentWeights(np.array(x), self.xCenters, i))
                       for i in range(len(self.xCenters))])
        return np.einsum("j,i,jiab->ab", wy, wx, self.stamps)

    def copy(self) -> "GridPsf":
        return GridPsf(self.stamps, self.xCenters, self.yCenters, self.averagePosition)

    def __repr__(self) -> str:
        ny, nx, size, _ = self.stamps.shape
        return f"GridPsf(cells={nx}x{ny}, stamp={size}x{size})"
