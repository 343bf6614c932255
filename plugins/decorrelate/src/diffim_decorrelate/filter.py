"""The decorrelation filter of an Alard–Lupton difference (Reiss & Lupton, DMTN-021).

A difference ``D = N - K conv R`` of an image ``N`` that was not convolved and
an image ``R`` that was convolved with the matching kernel ``K`` has noise
power ``s_n + s_r |K(k)|**2`` at wavenumber ``k`` (``s_n``, ``s_r``: the white
noise variances of ``N`` and ``R``). The post-filter

    phi(k) = sqrt((s_n + kappa**2 s_r) / (s_n + s_r |K(k)|**2)),  kappa = K(0) = sum K,

makes it white, of variance ``s_n + kappa**2 s_r``, and keeps the flux scale:
``phi(0) = 1``. It is real and even, so it is held on the half plane of a real
FFT grid.
"""
from __future__ import annotations

import numpy as np
from scipy import fft

from .fourier import FFT_WORKERS, cropCentred, fftShape, gridMean, inverse, spectrum, \
    stampSpectrum


def _filterOnGrid(kernel: np.ndarray, unconvolvedVariance: float, convolvedVariance: float,
                  shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``phi`` and ``|K|**2`` on the half plane of the grid of ``shape``."""
    kernelSpectrum = stampSpectrum(kernel, shape)
    kernelPower = kernelSpectrum.real ** 2
    kernelPower += kernelSpectrum.imag ** 2
    del kernelSpectrum
    white = unconvolvedVariance + kernel.sum() ** 2 * convolvedVariance
    denominator = convolvedVariance * kernelPower
    denominator += unconvolvedVariance
    return np.sqrt(white / denominator), kernelPower


class DecorrelationFilter:
    """The filter ``phi`` on the FFT grid of one image (or region).

    Parameters
    ----------
    kernel : numpy.ndarray
        Matching-kernel image (odd, not normalised) at the position the filter is for.
    unconvolvedVariance : float
        Mean variance ``s_n`` of the image that was not convolved (> 0).
    convolvedVariance : float
        Mean variance ``s_r`` of the image that was convolved, before convolution (>= 0).
    shape : tuple of int
        FFT grid shape; see :func:`diffim_decorrelate.fourier.fftShape`.

    Attributes
    ----------
    phi : numpy.ndarray
        The filter on the half plane of the grid.
    whiteVariance : float
        Noise variance of the filtered difference, ``s_n + kappa**2 s_r``.
    """

    def __init__(self, kernel: np.ndarray, unconvolvedVariance: float,
                 convolvedVariance: float, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.kernel = np.asarray(kernel, dtype=np.float64)
        self.unconvolvedVariance = unconvolvedVariance
        self.convolvedVariance = convolvedVariance
        self.whiteVariance = unconvolvedVariance + self.kernel.sum() ** 2 * convolvedVariance
        self.phi, kernelPower = _filterOnGrid(self.kernel, unconvolvedVariance,
                                              convolvedVariance, shape)
        power = self.phi ** 2
        unconvolvedWeight = gridMean(power, shape[1])
        power *= kernelPower
        self._noiseWeights = (unconvolvedWeight, gridMean(power, shape[1]))

    def apply(self, image: np.ndarray, fill: float) -> np.ndarray:
        """Filter ``image``: a zero-padded linear convolution with ``phi``.

        Non-finite pixels take the value ``fill`` in the convolution (so they do not
        smear) and keep their own value in the output.

        Returns a float32 array of the image's shape.
        """
        h, w = image.shape
        grid = np.zeros(self.shape)
        grid[:h, :w] = image
        missing = ~np.isfinite(grid[:h, :w])
        grid[:h, :w][missing] = fill
        transformed = fft.rfft2(grid, overwrite_x=True, workers=FFT_WORKERS)
        del grid
        transformed *= self.phi
        filtered = inverse(transformed, self.shape)
        del transformed
        output = filtered[:h, :w].astype(np.float32)
        output[missing] = image[missing]
        return output

    def applyToStamp(self, stamp: np.ndarray) -> np.ndarray:
        """Filter a centred stamp (e.g. a PSF image); returns the stamp-shaped centre.

        The filter is sampled on a small grid (see :meth:`_stampGrid`) rather than on the
        image grid: ``phi`` falls off within a few kernel widths, so the stamp comes out
        the same to ~1e-8, far more cheaply.
        """
        stamp = np.asarray(stamp, dtype=np.float64)
        shape = self._stampGrid(stamp.shape)
        phi, _ = _filterOnGrid(self.kernel, self.unconvolvedVariance, self.convolvedVariance,
                               shape)
        return cropCentred(inverse(stampSpectrum(stamp, shape) * phi, shape), stamp.shape)

    def realSpaceFilters(self) -> tuple[np.ndarray, np.ndarray]:
        """``phi`` and ``K conv phi`` in real space, as odd stamps centred on their middle pixel.

        They are sampled on the small grid of :meth:`_stampGrid` for a kernel-sized stamp
        and cut to the largest odd size that fits in it.
        """
        shape = self._stampGrid(self.kernel.shape)
        phi, _ = _filterOnGrid(self.kernel, self.unconvolvedVariance, self.convolvedVariance,
                               shape)
        stampShape = tuple(n - 1 + n % 2 for n in shape)
        unconvolved = cropCentred(inverse(phi, shape), stampShape)
        convolved = cropCentred(inverse(stampSpectrum(self.kernel, shape) * phi, shape),
                                stampShape)
        return unconvolved, convolved

    def _stampGrid(self, stampShape: tuple[int, int]) -> tuple[int, int]:
        """Grid for filtering a stamp: twice what its linear convolution with the kernel needs."""
        return tuple(2 * n for n in fftShape(stampShape, self.kernel.shape))

    def noiseWeights(self) -> tuple[float, float]:
        """Factors by which the filtered difference's variance grows with each input's variance.

        Returns
        -------
        tuple of float
            ``(w_n, w_r)``: the total power of ``phi`` (the unconvolved image's noise
            goes through it) and of ``K phi`` (the convolved image's noise goes through
            it), over the image grid. By Parseval these are the sums of the squared
            real-space filters.
        """
        return self._noiseWeights

    def propagateVariance(self, unconvolvedVariance: np.ndarray,
                          convolvedVariance: np.ndarray) -> np.ndarray:
        """Variance of the filtered difference from two finite variance planes.

        Each plane is convolved (zero-padded, on the image grid) with the square of the
        real-space filter its noise goes through (``phi``, ``K phi``; see
        :meth:`realSpaceFilters`) and the two are summed. The FFTs are single precision,
        ample for a variance, to halve their memory.

        Returns a float32 array of the planes' shape.
        """
        h, w = unconvolvedVariance.shape
        unconvolvedFilter, convolvedFilter = self.realSpaceFilters()
        total = spectrum(np.asarray(unconvolvedVariance, dtype=np.float32), self.shape)
        total *= stampSpectrum(unconvolvedFilter ** 2, self.shape, np.float32)
        part = spectrum(np.asarray(convolvedVariance, dtype=np.float32), self.shape)
        part *= stampSpectrum(convolvedFilter ** 2, self.shape, np.float32)
        total += part
        del part
        return inverse(total, self.shape)[:h, :w].copy()
