"""Fourier-space convolution of padded image cutouts with small centred kernels.

Real FFTs (``scipy.fft.rfft2``/``irfft2``, all cores) in single precision: images
are float32, their transforms complex64. A kernel is an odd, centred stamp; it is
placed on the padded grid with its centre at index ``[0, 0]`` (the quadrants
wrapped), so multiplying transforms convolves without shifting the image.
"""
from __future__ import annotations

import numpy as np
import scipy.fft



def wrapped(kernel: np.ndarray, shape: tuple[int, int], dtype=np.float32) -> np.ndarray:
    """``kernel`` on a zero array of ``shape`` with its centre pixel at index ``[0, 0]``.

    Parameters
    ----------
    kernel : numpy.ndarray
        Odd-sized 2-D stamp centred on its middle pixel; not larger than ``shape``.
    shape : tuple of int
        Grid shape.
    dtype : numpy dtype
        Output type.
    """
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    if kernel.shape[0] > shape[0] or kernel.shape[1] > shape[1]:
        raise ValueError(f"kernel {kernel.shape} does not fit on a {shape} grid")
    out = np.zeros(shape, dtype=dtype)
    rows = np.arange(-ry, ry + 1) % shape[0]
    cols = np.arange(-rx, rx + 1) % shape[1]
    out[np.ix_(rows, cols)] = kernel
    return out


def fastShape(shape: tuple[int, int]) -> tuple[int, int]:
    """The smallest shape at least ``shape`` whose real FFTs are fast (5-smooth sizes)."""
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)


class FourierGrid:
    """Transforms on one padded grid.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the padded arrays.
    """

    def __init__(self, shape: tuple[int, int]):
        self.shape = (int(shape[0]), int(shape[1]))

    def transform(self, image: np.ndarray) -> np.ndarray:
        """Forward real FFT of a float32 array of the grid's shape (complex64)."""
        return scipy.fft.rfft2(image)

    def kernelTransform(self, kernel: np.ndarray) -> np.ndarray:
        """Forward transform of a small centred kernel placed on the grid.

        As :meth:`transform` of :func:`wrapped` (real transforms along x, then complex
        ones along y), but only the kernel's rows are transformed along x: the others
        are zero.
        """
        ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
        if kernel.shape[0] > self.shape[0] or kernel.shape[1] > self.shape[1]:
            raise ValueError(f"kernel {kernel.shape} does not fit on a {self.shape} grid")
        rows = np.arange(-ry, ry + 1) % self.shape[0]
        padded = np.zeros((kernel.shape[0], self.shape[1]), dtype=np.float32)
        padded[:, np.arange(-rx, rx + 1) % self.shape[1]] = kernel
        alongX = scipy.fft.rfft(padded, axis=1)
        grid = np.zeros((self.shape[0], alongX.shape[1]), dtype=alongX.dtype)
        grid[rows] = alongX
        return scipy.fft.fft(grid, axis=0, overwrite_x=True)

    def inverse(self, spectrum: np.ndarray) -> np.ndarray:
        """Inverse real FFT back to a float32 array of the grid's shape."""
        return scipy.fft.irfft2(spectrum, s=self.shape)

    def convolvePair(self, first: np.ndarray, firstKernel: np.ndarray, second: np.ndarray,
                     secondKernel: np.ndarray) -> np.ndarray:
        """``firstKernel ⊗ first + secondKernel ⊗ second``, from the images' transforms.

        Parameters
        ----------
        first, second : numpy.ndarray
            Transforms (from :meth:`transform`) of the two images.
        firstKernel, secondKernel : numpy.ndarray
            Small centred kernels.

        Returns
        -------
        numpy.ndarray
            The transform of the sum (complex64).
        """
        spectrum = self.kernelTransform(firstKernel)
        spectrum *= first
        other = self.kernelTransform(secondKernel)
        other *= second
        spectrum += other
        return spectrum
