"""A PSF image as a smooth function of its sub-pixel centre, with derivatives."""
from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline, RectBivariateSpline

#: Zero pixels added around the stamp so that the spline falls to zero at its edge.
_PAD = 2


class PsfInterpolant:
    """Bicubic-spline interpolation of a unit-sum PSF stamp.

    The spline through the stamp's pixel values (the stamp's middle pixel is
    the PSF centre, zero beyond the stamp) renders a point source at any
    sub-pixel position: pixel ``(X, Y)`` of a source centred on ``(x, y)`` is
    the spline at ``(X - x, Y - y)``.

    Parameters
    ----------
    stamp : numpy.ndarray
        Odd, square PSF image (unit sum), centred on its middle pixel.
    """

    def __init__(self, stamp: np.ndarray):
        stamp = np.pad(np.asarray(stamp, dtype=np.float64), _PAD)
        self.half = stamp.shape[0] // 2
        grid = np.arange(-self.half, self.half + 1, dtype=np.float64)
        rowKnots, columnKnots, coefficients = RectBivariateSpline(grid, grid, stamp, kx=3,
                                                                  ky=3, s=0).tck
        nRows, nColumns = len(rowKnots) - 4, len(columnKnots) - 4
        self._coefficients = coefficients.reshape(nRows, nColumns)
        self._rowBasis = BSpline(rowKnots, np.eye(nRows), 3)
        self._columnBasis = BSpline(columnKnots, np.eye(nColumns), 3)
        self._rowSlope = self._rowBasis.derivative()
        self._columnSlope = self._columnBasis.derivative()

    def render(self, columns: np.ndarray, rows: np.ndarray, x: float, y: float,
               derivatives: bool) -> tuple[np.ndarray, ...]:
        """The PSF centred on ``(x, y)`` on the pixel grid ``rows x columns``.

        Parameters
        ----------
        columns, rows : numpy.ndarray
            Increasing pixel coordinates of the grid's columns and rows.
        x, y : float
            Centre of the PSF.
        derivatives : bool
            Also return the derivatives with respect to ``x`` and ``y``.

        Returns
        -------
        tuple of numpy.ndarray
            ``(value,)`` or ``(value, d/dx, d/dy)``, each ``[len(rows), len(columns)]``.
        """
        dx, dy = columns - x, rows - y
        cols = np.flatnonzero(np.abs(dx) < self.half)
        rws = np.flatnonzero(np.abs(dy) < self.half)
        shape = (rows.size, columns.size)
        outputs = [np.zeros(shape) for _ in range(3 if derivatives else 1)]
        if cols.size == 0 or rws.size == 0:
            return tuple(outputs)
        box = (slice(rws[0], rws[-1] + 1), slice(cols[0], cols[-1] + 1))
        # the spline is a tensor product: value = B_row(dy) C B_column(dx)^T, and each
        # derivative swaps one basis for its slope
        rowBasis = self._rowBasis(dy[box[0]])
        columnBasis = self._columnBasis(dx[box[1]])
        weighted = rowBasis @ self._coefficients
        outputs[0][box] = weighted @ columnBasis.T
        if derivatives:
            outputs[1][box] = -(weighted @ self._columnSlope(dx[box[1]]).T)
            outputs[2][box] = -(self._rowSlope(dy[box[0]]) @ self._coefficients
                                @ columnBasis.T)
        return tuple(outputs)
