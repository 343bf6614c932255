"""A PSF image as a smooth function of its sub-pixel centre, with derivatives."""
from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline

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
        self._spline = RectBivariateSpline(grid, grid, stamp, kx=3, ky=3, s=0)

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
        sx, sy = dx[box[1]], dy[box[0]]
        outputs[0][box] = self._spline(sy, sx)
        if derivatives:
            outputs[1][box] = -self._spline(sy, sx, dy=1)
            outputs[2][box] = -self._spline(sy, sx, dx=1)
        return tuple(outputs)
