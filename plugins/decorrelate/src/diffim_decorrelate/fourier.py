"""FFT grids and the placement of images and stamps on them.

A filter defined in Fourier space is applied to an image as a zero-padded,
linear (not circular) convolution: the image sits in the corner of a larger
grid of zeros, stamps (kernels, PSFs) have their centre pixel moved to the
grid origin, so the filter is centred on its origin too. Real FFTs
(``rfft2``) hold half of each Hermitian-symmetric spectrum.
"""
from __future__ import annotations

import numpy as np
from scipy import fft



def fftShape(*shapes: tuple[int, int]) -> tuple[int, int]:
    """Grid shape for the linear convolution of arrays of the given shapes.

    Per axis, the two largest sizes are summed less one (the length of a full
    linear convolution of the two) and rounded up to a size whose FFT is fast.

    Parameters
    ----------
    *shapes : tuple of int
        ``(height, width)`` of each array involved (image, kernel, PSF).
    """
    out = []
    for axis in range(2):
        sizes = sorted((s[axis] for s in shapes), reverse=True)
        needed = sizes[0] + (sizes[1] - 1 if len(sizes) > 1 else 0)
        out.append(fft.next_fast_len(needed, real=True))
    return out[0], out[1]


def _centredIndices(size: int, gridSize: int) -> np.ndarray:
    """Grid indices of a stamp axis whose centre pixel ``size // 2`` lands on index 0."""
    return (np.arange(size) - size // 2) % gridSize


def padCentred(stamp: np.ndarray, shape: tuple[int, int], dtype=np.float64) -> np.ndarray:
    """Place ``stamp`` on a zero grid of ``shape`` with its centre pixel at the origin.

    The stamp's quadrants wrap to the four corners of the grid (of type ``dtype``).
    """
    grid = np.zeros(shape, dtype=dtype)
    rows = _centredIndices(stamp.shape[0], shape[0])
    cols = _centredIndices(stamp.shape[1], shape[1])
    grid[np.ix_(rows, cols)] = stamp
    return grid


def cropCentred(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`padCentred`: the stamp of ``shape`` centred on the grid origin."""
    rows = _centredIndices(shape[0], grid.shape[0])
    cols = _centredIndices(shape[1], grid.shape[1])
    return grid[np.ix_(rows, cols)]


def spectrum(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Half-plane spectrum of ``array`` zero-padded at its far ends to ``shape``.

    Single precision in, single precision out.
    """
    return fft.rfft2(array, s=shape)


def stampSpectrum(stamp: np.ndarray, shape: tuple[int, int], dtype=np.float64) -> np.ndarray:
    """Half-plane spectrum of a stamp centred on the grid origin, computed in ``dtype``.

    As ``rfft2`` of the padded grid (real transforms along x, then complex ones along
    y), but only the stamp's rows are transformed along x: the others are zero.
    """
    rows = _centredIndices(stamp.shape[0], shape[0])
    padded = np.zeros((stamp.shape[0], shape[1]), dtype=dtype)
    padded[:, _centredIndices(stamp.shape[1], shape[1])] = stamp
    alongX = fft.rfft(padded, axis=1)
    grid = np.zeros((shape[0], alongX.shape[1]), dtype=alongX.dtype)
    grid[rows] = alongX
    return fft.fft(grid, axis=0, overwrite_x=True)


def inverse(halfSpectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real array on the grid of ``shape`` whose half-plane spectrum is ``halfSpectrum``."""
    return fft.irfft2(halfSpectrum, s=shape)


def gridMean(halfPlane: np.ndarray, width: int) -> float:
    """Mean over the full FFT grid of a quantity known on the half plane.

    The quantity must be symmetric under ``k -> -k`` (as ``|X(k)|**2`` of a real
    array is), so each half-plane column other than the zero-frequency one (and
    the Nyquist one, for an even ``width``) stands for two grid columns.

    Parameters
    ----------
    halfPlane : numpy.ndarray
        Values on the ``rfft2`` half plane, shape ``(height, width // 2 + 1)``.
    width : int
        Width of the full grid.
    """
    weights = np.full(halfPlane.shape[1], 2.0)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0
    return float((halfPlane.sum(axis=0) @ weights) / (halfPlane.shape[0] * width))
