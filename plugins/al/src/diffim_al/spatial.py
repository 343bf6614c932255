"""Functions of image position for the spatial kernel and background models.

Positions are mapped linearly onto [-1, 1] over the image (pixel 0 to -1, the
last pixel to +1). A model of order ``o`` has the ``(o+1)(o+2)/2`` terms
``X_i(x) Y_j(y)`` with ``i + j <= o``, ordered by total degree, so the first
terms of a higher-order set are the terms of every lower-order set.
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev


def nTerms(order: int) -> int:
    """Number of terms of a spatial model of ``order``."""
    return (order + 1) * (order + 2) // 2


def termPowers(order: int) -> list[tuple[int, int]]:
    """``(i, j)`` (x degree, y degree) of each term, lowest total degree first."""
    return [(i, degree - i) for degree in range(order + 1) for i in range(degree, -1, -1)]


class SpatialFunctions:
    """The terms of a 2-D spatial model over an image.

    Parameters
    ----------
    modelType : str
        ``"chebyshev1"`` (``T_i(x) T_j(y)``) or ``"polynomial"`` (``x^i y^j``).
    order : int
        Highest total degree.
    width, height : int
        Image size in pixels.
    """

    def __init__(self, modelType: str, order: int, width: int, height: int) -> None:
        if modelType not in ("chebyshev1", "polynomial"):
            raise ValueError(f"unknown spatial model type {modelType!r}")
        self.modelType = modelType
        self.order = int(order)
        self.width = int(width)
        self.height = int(height)
        self.powers = termPowers(self.order)

    @property
    def nTerms(self) -> int:
        return len(self.powers)

    def _axis(self, coord: np.ndarray, size: int) -> np.ndarray:
        """``(order+1, n)`` values of the one-axis functions of degree 0..order."""
        scaled = 2.0 * np.asarray(coord, dtype=np.float64) / max(size - 1, 1) - 1.0
        degrees = np.arange(self.order + 1)
        if self.modelType == "polynomial":
            return scaled[None, :] ** degrees[:, None]
        return np.stack([chebyshev.chebval(scaled, np.eye(self.order + 1)[d]) for d in degrees])

    def xFactors(self, x: np.ndarray) -> np.ndarray:
        """``(order+1, n)`` x factors of degree 0..order at columns ``x``."""
        return self._axis(x, self.width)

    def yFactors(self, y: np.ndarray) -> np.ndarray:
        """``(order+1, n)`` y factors of degree 0..order at rows ``y``."""
        return self._axis(y, self.height)

    def evaluate(self, x, y) -> np.ndarray:
        """Term values at positions.

        Parameters
        ----------
        x, y : array_like
            Pixel positions (same shape, any number).

        Returns
        -------
        numpy.ndarray
            ``(n, nTerms)`` values.
        """
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        y = np.atleast_1d(np.asarray(y, dtype=np.float64))
        fx, fy = self.xFactors(x), self.yFactors(y)
        return np.stack([fx[i] * fy[j] for i, j in self.powers], axis=-1)

    def image(self, coefficients: np.ndarray) -> np.ndarray:
        """The model ``sum_k c_k term_k`` on every pixel of the image.

        Parameters
        ----------
        coefficients : numpy.ndarray
            ``(nTerms,)`` coefficients.

        Returns
        -------
        numpy.ndarray
            ``(height, width)`` float32 image.
        """
        grid = np.zeros((self.order + 1, self.order + 1))
        for c, (i, j) in zip(coefficients, self.powers):
            grid[j, i] = c
        fx = self.xFactors(np.arange(self.width))
        fy = self.yFactors(np.arange(self.height))
        return (fy.T @ grid @ fx).astype(np.float32)
