"""Two-dimensional polynomial models of position: their terms (design matrices).

Spatial models (PSF and kernel variation, backgrounds, aperture corrections,
distortions) are sums of terms ``X_i(u) Y_j(v)`` with ``i + j <= order``, where
``u``, ``v`` are the positions mapped linearly onto [-1, 1] over a domain (for
an image, pixel 0 to -1 and the last pixel to +1), and ``X_i``, ``Y_j`` are
powers or Chebyshev polynomials of the first kind. Terms are ordered by total
degree, and within a degree by decreasing power of ``x``, so that the first
terms of a model of higher order are the terms of every lower order.
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev

#: The kinds of one-axis functions.
KINDS = ("polynomial", "chebyshev")


def nTerms(order: int) -> int:
    """Number of terms of a 2-D model of total ``order``."""
    return (order + 1) * (order + 2) // 2


def termPowers(order: int) -> list[tuple[int, int]]:
    """``(i, j)`` (x degree, y degree) of each term, lowest total degree first."""
    return [(i, degree - i) for degree in range(order + 1) for i in range(degree, -1, -1)]


class PolynomialBasis:
    """The terms of a 2-D model of total degree ``order`` over a rectangular domain.

    Parameters
    ----------
    order : int
        Highest total degree.
    xRange, yRange : tuple of float
        Positions mapped to -1 and +1 along each axis.
    kind : str
        ``polynomial`` (``u**i v**j``) or ``chebyshev`` (``T_i(u) T_j(v)``).
    """

    def __init__(self, order: int, xRange: tuple[float, float], yRange: tuple[float, float],
                 kind: str = "polynomial") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown polynomial kind {kind!r}; expected one of "
                             f"{', '.join(KINDS)}")
        if order < 0:
            raise ValueError(f"polynomial order must be 0 or more, not {order}")
        self.order = int(order)
        self.kind = kind
        self.xRange = (float(xRange[0]), float(xRange[1]))
        self.yRange = (float(yRange[0]), float(yRange[1]))
        self.powers = termPowers(self.order)

    @classmethod
    def forImage(cls, order: int, width: int, height: int,
                 kind: str = "polynomial") -> "PolynomialBasis":
        """The basis over the pixels of an image (pixel 0 at -1, the last pixel at +1)."""
        return cls(order, (0.0, max(width - 1, 1)), (0.0, max(height - 1, 1)), kind)

    @property
    def nTerms(self) -> int:
        return len(self.powers)

    def _axis(self, coord: np.ndarray, span: tuple[float, float]) -> np.ndarray:
        """``(order+1, n)`` values of the one-axis functions of degree 0..order."""
        low, high = span
        scaled = 2.0 * (np.asarray(coord, dtype=np.float64) - low) / (high - low) - 1.0
        if self.kind == "polynomial":
            return scaled[None, :] ** np.arange(self.order + 1)[:, None]
        return chebyshev.chebvander(scaled, self.order).T

    def xFactors(self, x: np.ndarray) -> np.ndarray:
        """``(order+1, n)`` x factors of degree 0..order at columns ``x``."""
        return self._axis(np.atleast_1d(x), self.xRange)

    def yFactors(self, y: np.ndarray) -> np.ndarray:
        """``(order+1, n)`` y factors of degree 0..order at rows ``y``."""
        return self._axis(np.atleast_1d(y), self.yRange)

    def evaluate(self, x, y) -> np.ndarray:
        """The design matrix: term values at positions.

        Parameters
        ----------
        x, y : array_like
            Positions (same shape, any number).

        Returns
        -------
        numpy.ndarray
            ``(n, nTerms)`` values.
        """
        x = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(y, dtype=np.float64)).ravel()
        fx, fy = self.xFactors(x), self.yFactors(y)
        return np.stack([fx[i] * fy[j] for i, j in self.powers], axis=-1)

    def image(self, coefficients: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The model ``sum_k c_k term_k`` on every pixel of an image of ``shape``.

        Parameters
        ----------
        coefficients : numpy.ndarray
            ``(nTerms,)`` coefficients.
        shape : tuple of int
            ``(height, width)`` of the image (pixel positions 0 .. n-1).

        Returns
        -------
        numpy.ndarray
            float32 image.
        """
        grid = np.zeros((self.order + 1, self.order + 1))
        for c, (i, j) in zip(coefficients, self.powers):
            grid[j, i] = c
        fx = self.xFactors(np.arange(shape[1]))
        fy = self.yFactors(np.arange(shape[0]))
        return (fy.T @ grid @ fx).astype(np.float32)
