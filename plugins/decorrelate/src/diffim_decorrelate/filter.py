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

from .fourier import cropCentred, gridMean, inverse, spectrum, stampSpectrum


class DecorrelationFilter:
    """The filter ``phi`` on one FFT grid.

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
    """

    def __init__(self, kernel: np.ndarray, unconvolvedVariance: float,
                 convolvedVariance: float, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.kernel = np.asarray(kernel, dtype=np.float64)
        kernelSpectrum = stampSpectrum(self.kernel, shape)
        self.kernelPower = kernelSpectrum.real ** 2
        self.kernelPower += kernelSpectrum.imag ** 2
        del kernelSpectrum
        self.whiteVariance = unconvolvedVariance + self.kernel.sum() ** 2 * convolvedVariance
        denominator = convolvedVariance * self.kernelPower
        denominator += unconvolvedVariance
        self.phi = np.sqrt(self.whiteVariance / denominator)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Filter ``image`` (finite values): zero-padded linear convolution with ``phi``.

        Returns a float32 array of the image's shape.
        """
        h, w = image.shape
        transformed = spectrum(np.asarray(image, dtype=np.float64), self.shape)
        transformed *= self.phi
        return inverse(transformed, self.shape)[:h, :w].astype(np.float32)

    def applyToStamp(self, stamp: np.ndarray) -> np.ndarray:
        """Filter a centred stamp (e.g. a PSF image); returns the stamp-shaped centre."""
        transformed = stampSpectrum(np.asarray(stamp, dtype=np.float64), self.shape)
        transformed *= self.phi
        return cropCentred(inverse(transformed, self.shape), stamp.shape)

    def noiseWeights(self) -> tuple[float, float]:
        """Factors by which the filtered difference's variance grows with each input's variance.

        Returns
        -------
        tuple of float
            ``(w_n, w_r)``: the total power of ``phi`` (the unconvolved image's noise
            goes through it) and of ``K phi`` (the convolved image's noise goes through
            it). By Parseval these are the sums of the squared real-space filters.
        """
        width = self.shape[1]
        phiPower = self.phi ** 2
        unconvolvedWeight = gridMean(phiPower, width)
        phiPower *= self.kernelPower
        return unconvolvedWeight, gridMean(phiPower, width)

    def propagateVariance(self, unconvolvedVariance: np.ndarray,
                          convolvedVariance: np.ndarray) -> np.ndarray:
        """Variance of the filtered difference from two finite variance planes.

        Each plane is convolved with the square of the real-space filter its noise
        goes through (``phi``, ``K phi``) and the two are summed.

        Returns a float32 array of the planes' shape.
        """
        h, w = unconvolvedVariance.shape
        total = spectrum(inverse(self.phi, self.shape) ** 2, self.shape)
        total *= spectrum(unconvolvedVariance, self.shape)
        convolvedFilter = stampSpectrum(self.kernel, self.shape)
        convolvedFilter *= self.phi
        convolvedPower = spectrum(inverse(convolvedFilter, self.shape) ** 2, self.shape)
        del convolvedFilter
        convolvedPower *= spectrum(convolvedVariance, self.shape)
        total += convolvedPower
        del convolvedPower
        return inverse(total, self.shape)[:h, :w].astype(np.float32)
