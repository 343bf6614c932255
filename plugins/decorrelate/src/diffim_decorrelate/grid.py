"""Spatially varying decorrelation: filters on a grid of nodes, blended with tent weights.

Nodes are spread evenly over each axis, the first and last on the image
edges, no more than ``step`` pixels apart. The filter of node ``i`` (kernel,
PSF and mean variances taken at and around it) is applied to the pixels within
one spacing of it, plus a discarded border; its result enters the output with
the weight ``max(0, 1 - |x - x_i| / spacing)`` along each axis. These tent
weights sum to one everywhere, so the output is a linear interpolation between
the nodes' filters and changes smoothly across the image: no cell edges, no seams.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from diffim.errors import ConfigError
from diffim.psf import SpatialPsf

from .config import DecorrelateALKernelConfig
from .inputs import DecorrelationInputs
from .region import decorrelateRegion

log = logging.getLogger("diffim.decorrelate.al")


@dataclass(frozen=True)
class AxisNodes:
    """Node positions along one image axis and the tent weights they give pixels.

    Attributes
    ----------
    length : int
        Number of pixels along the axis.
    positions : numpy.ndarray
        Node coordinates (0-based pixels), evenly spaced from 0 to ``length - 1``.
    """

    length: int
    positions: np.ndarray

    @classmethod
    def spanning(cls, length: int, step: float) -> "AxisNodes":
        """Evenly spaced nodes from edge to edge, at most ``step`` pixels apart."""
        count = math.ceil((length - 1) / step) + 1 if length > 1 else 1
        return cls(length, np.linspace(0.0, length - 1.0, count))

    @property
    def spacing(self) -> float:
        """Distance between neighbouring nodes (the image length for a single node)."""
        if len(self.positions) == 1:
            return float(self.length)
        return float(self.positions[1] - self.positions[0])

    def support(self, index: int) -> slice:
        """Pixels to which node ``index`` gives a non-zero weight."""
        centre, spacing = self.positions[index], self.spacing
        if len(self.positions) == 1:
            return slice(0, self.length)
        start = max(math.floor(centre - spacing) + 1, 0)
        stop = min(math.ceil(centre + spacing), self.length)
        return slice(start, stop)

    def weights(self, index: int) -> np.ndarray:
        """Tent weights of node ``index`` over its :meth:`support`."""
        pixels = np.arange(self.length)[self.support(index)]
        if len(self.positions) == 1:
            return np.ones(len(pixels))
        return 1.0 - np.abs(pixels - self.positions[index]) / self.spacing

    def expanded(self, index: int, border: int) -> slice:
        """The support of node ``index`` grown by ``border`` pixels, within the image."""
        support = self.support(index)
        return slice(max(support.start - border, 0), min(support.stop + border, self.length))


@dataclass
class GridDecorrelation:
    """The blended result of a spatially varying decorrelation.

    Attributes
    ----------
    image, variance : numpy.ndarray
        Decorrelated difference and its variance (float32).
    psf : diffim.psf.SpatialPsf
        Corrected PSF model fitted to the PSFs at the nodes.
    nodeCount : tuple of int
        Number of nodes along x and y.
    """

    image: np.ndarray
    variance: np.ndarray
    psf: SpatialPsf
    nodeCount: tuple[int, int]


def gridSizes(inputs: DecorrelationInputs, config: DecorrelateALKernelConfig) -> tuple[float, int]:
    """Node spacing limit and border, in pixels, from the config.

    Raises
    ------
    diffim.errors.ConfigError
        If the spacing comes out below one pixel.
    """
    scale = 1.0
    if config.scaleByFwhm:
        scale = inputs.difference.psf.fwhm(*inputs.difference.center)
    step = config.gridStep * scale
    if not step >= 1.0:
        unit = f" FWHM (FWHM {scale:.3g} px)" if config.scaleByFwhm else " px"
        raise ConfigError(f"gridStep {config.gridStep:g}{unit} spaces the grid nodes {step:.3g} "
                          f"px apart; it must give at least 1 px, and a few FWHM is sensible")
    return step, int(round(config.borderSize * scale))


def decorrelateOnGrid(inputs: DecorrelationInputs,
                      config: DecorrelateALKernelConfig) -> GridDecorrelation:
    """Decorrelate the difference with filters computed on a grid and blended smoothly.

    Parameters
    ----------
    inputs : DecorrelationInputs
        The difference and its inputs.
    config : DecorrelateALKernelConfig
        Supplies ``gridStep``, ``borderSize``, ``scaleByFwhm`` and ``psfSpatialOrder``.
    """
    step, border = gridSizes(inputs, config)
    height, width = inputs.difference.shape
    xNodes, yNodes = AxisNodes.spanning(width, step), AxisNodes.spanning(height, step)
    image = np.zeros((height, width), dtype=np.float32)
    variance = np.zeros((height, width), dtype=np.float32)
    stamps, nodeX, nodeY, passed = [], [], [], 0
    for j, y in enumerate(yNodes.positions):
        rows, rowWeights = yNodes.support(j), yNodes.weights(j)
        boxRows = yNodes.expanded(j, border)
        inRows = slice(rows.start - boxRows.start, rows.stop - boxRows.start)
        for i, x in enumerate(xNodes.positions):
            cols, colWeights = xNodes.support(i), xNodes.weights(i)
            boxCols = xNodes.expanded(i, border)
            inCols = slice(cols.start - boxCols.start, cols.stop - boxCols.start)
            result = decorrelateRegion(inputs, (boxRows, boxCols), float(x), float(y))
            weight = np.outer(rowWeights, colWeights)
            image[rows, cols] += weight * result.image[inRows, inCols]
            variance[rows, cols] += weight * result.variance[inRows, inCols]
            stamps.append(result.psf)
            nodeX.append(x)
            nodeY.append(y)
            passed += not result.filtered
    if passed:
        log.warning("decorrelation: %d of %d grid nodes had no usable pixels or variance and "
                    "were left unfiltered", passed, len(stamps))
    order = min(config.psfSpatialOrder, len(xNodes.positions) - 1, len(yNodes.positions) - 1)
    psf = SpatialPsf(np.array(stamps), nodeX, nodeY, order, (width, height))
    return GridDecorrelation(image, variance, psf, (len(xNodes.positions), len(yNodes.positions)))
