"""The cells of the spatial grid and the tent weights that blend them without seams.

Cell centres sit on a regular grid. Along each axis the weight of cell ``i`` is a
tent: 1 at its centre, falling linearly to 0 at the neighbouring centres (and held
at 1 beyond the first and last centres). The weights of all cells add up to 1
everywhere (bilinear interpolation between centres), so a quantity computed per
cell and blended with them changes smoothly across the image, and an error that
is linear in the distance from a cell centre cancels between neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cellCenters(length: int, spacing: float) -> np.ndarray:
    """Centres of ``max(1, length // spacing)`` equal cells tiling ``[0, length)``.

    Parameters
    ----------
    length : int
        Image size along the axis (pixels).
    spacing : float
        Wanted cell size; the cells are stretched to tile the axis exactly.

    Returns
    -------
    numpy.ndarray
        Centres as 0-based pixel coordinates.
    """
    n = max(1, int(length // spacing))
    return (np.arange(n) + 0.5) * (length / n) - 0.5


def tentWeights(coords: np.ndarray, centers: np.ndarray, index: int) -> np.ndarray:
    """Weight of cell ``index`` at ``coords`` along one axis.

    Parameters
    ----------
    coords : numpy.ndarray
        Positions along the axis.
    centers : numpy.ndarray
        Increasing cell centres.
    index : int
        The cell.

    Returns
    -------
    numpy.ndarray
        Weights in [0, 1]; summed over all cells they give 1 at every position.
    """
    coords = np.asarray(coords, dtype=np.float64)
    weight = np.ones_like(coords)
    if index > 0:
        left = centers[index - 1]
        rise = (coords - left) / (centers[index] - left)
        weight = np.where(coords < centers[index], np.clip(rise, 0.0, 1.0), weight)
    if index < len(centers) - 1:
        right = centers[index + 1]
        fall = (right - coords) / (right - centers[index])
        weight = np.where(coords > centers[index], np.clip(fall, 0.0, 1.0), weight)
    return weight


def support(centers: np.ndarray, index: int, length: int) -> tuple[int, int]:
    """Pixel range ``[start, stop)`` where cell ``index`` has a non-zero weight."""
    start = 0 if index == 0 else int(np.floor(centers[index - 1])) + 1
    stop = length if index == len(centers) - 1 else int(np.ceil(centers[index + 1]))
    return start, stop


@dataclass(frozen=True)
class Cell:
    """One grid cell.

    Attributes
    ----------
    center : tuple of float
        ``(x, y)`` where its PSFs and kernels are evaluated.
    ySlice, xSlice : slice
        The image pixels it contributes to (its weight is non-zero there).
    yWeights, xWeights : numpy.ndarray
        Its tent weights along those rows and columns.
    """

    center: tuple[float, float]
    ySlice: slice
    xSlice: slice
    yWeights: np.ndarray
    xWeights: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        """The 2-D weight of this cell over its slices (float32)."""
        return np.outer(self.yWeights, self.xWeights).astype(np.float32)


class CellGrid:
    """Regular grid of cells over an image, blended with tent weights.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the image.
    spacing : float, optional
        Cell size in pixels; one cell covering the whole image when omitted.
    """

    def __init__(self, shape: tuple[int, int], spacing: float | None = None):
        height, width = shape
        self.shape = (int(height), int(width))
        self.xCenters = cellCenters(width, spacing or width)
        self.yCenters = cellCenters(height, spacing or height)

    @property
    def nCells(self) -> int:
        return len(self.xCenters) * len(self.yCenters)

    def cells(self) -> list[Cell]:
        """Every cell, row by row."""
        height, width = self.shape
        out = []
        for j, yc in enumerate(self.yCenters):
            y0, y1 = support(self.yCenters, j, height)
            yWeights = tentWeights(np.arange(y0, y1), self.yCenters, j)
            for i, xc in enumerate(self.xCenters):
                x0, x1 = support(self.xCenters, i, width)
                xWeights = tentWeights(np.arange(x0, x1), self.xCenters, i)
                out.append(Cell((float(xc), float(yc)), slice(y0, y1), slice(x0, x1),
                                yWeights, xWeights))
        return out
