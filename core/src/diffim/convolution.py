"""Convolution of an image by a kernel through the FFT.

The arithmetic of :func:`scipy.signal.fftconvolve` (zero outside the image; the
``same`` part centred as it centres it) on ``scipy.fft`` transforms of fast
lengths, with the run's FFT worker threads. diffim does not import
``scipy.signal`` for it: that import pulls in ``scipy.stats`` and costs about
half a second of every run's start-up.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft

#: The parts of the full convolution :class:`Convolution` can return.
MODES = ("same", "full")


class Convolution:
    """Convolution by one 2-D kernel of images of one shape; the kernel is transformed once.

    Parameters
    ----------
    kernel : numpy.ndarray
        2-D kernel (not flipped: this is a convolution, not a correlation).
    shape : tuple of int
        Shape of the images it will convolve.
    mode : str
        ``same``: the part of the full convolution the size of the image, centred
        as :func:`scipy.signal.fftconvolve` centres it; ``full``: all of it.
    """

    def __init__(self, kernel: np.ndarray, shape: tuple[int, int], mode: str = "same") -> None:
        if mode not in MODES:
            raise ValueError(f"convolution mode must be one of {', '.join(MODES)}, got {mode!r}")
        kernel = np.asarray(kernel)
        self.shape = tuple(shape)
        self.kernelShape = kernel.shape
        self.mode = mode
        self._fullShape = [n + k - 1 for n, k in zip(self.shape, kernel.shape)]
        self._fastShape = [sp_fft.next_fast_len(n, True) for n in self._fullShape]
        self._spectrum = sp_fft.rfftn(kernel, self._fastShape)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``image`` convolved by the kernel (float32 when both are float32).

        Raises
        ------
        ValueError
            If ``image`` does not have the shape this convolution was made for.
        """
        if image.shape != self.shape:
            raise ValueError(f"this convolution is for images of shape {self.shape}, "
                             f"got {image.shape}")
        spectrum = sp_fft.rfftn(image, self._fastShape)
        spectrum *= self._spectrum
        full = sp_fft.irfftn(spectrum, self._fastShape)
        if self.mode == "full":
            starts, sizes = (0, 0), self._fullShape
        else:
            starts, sizes = [(k - 1) // 2 for k in self.kernelShape], self.shape
        return full[starts[0]:starts[0] + sizes[0], starts[1]:starts[1] + sizes[1]]


def convolve(image: np.ndarray, kernel: np.ndarray, mode: str = "same") -> np.ndarray:
    """``image`` convolved by ``kernel`` (see :class:`Convolution`)."""
    image = np.asarray(image)
    return Convolution(kernel, image.shape, mode)(image)
