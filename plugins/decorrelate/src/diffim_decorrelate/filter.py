"""The decorrelation filter of an Alard–Lupton difference (Reiss & Lupton, DMTN-021).

A difference ``D = N - K conv R`` of an image ``N`` that was not convolved and
an image ``R`` that was convolved with the matching kernel ``K`` has noise
power ``s_n + s_r |K(k)|**2`` at wavenumber ``k`` (``s_n``, ``s_r``: the white
noise variances of ``N`` and ``R``). The post-filter

    phi(k) = sqrt((s_n + kappa**2 s_r) / (s_n + s_r |K(k)|**2)),  kappa = K(0) = sum K,

makes it white, of variance ``s_n + kappa**2 s_r``, and keeps the flux scale:
``phi(0) = 1``.

Score-image variant: when ``N`` was pre-convolved with a unit-sum kernel ``P``
before ``K`` was fitted, the input is the likelihood image
``L = P conv N - K conv R``, i.e. ``P`` applied to the difference
``N - K' conv R`` of the kernel ``K' = K / P`` that matches ``R`` to ``N``
itself. Decorrelating that difference (``phi'``, with ``K'`` in place of
``K``) and cross-correlating it with its own PSF ``phi' PSF_N`` is, for
``P = PSF_N``, the product ``phi'**2 L``. So the filter becomes

    phi(k) = (s_n + kappa**2 s_r) / (s_n + s_r |K(k)|**2 / |P(k)|**2)   (no square root),

with ``|P|**2`` floored at ``1000 x`` the smallest normal float64; the science
noise reaches the output through ``P phi`` and the template noise through
``K phi``. ``phi(0) = 1`` again, so a point source keeps its flux under the
filtered PSF.

The filter is real and even, so it is held on the half plane of a real FFT grid.
"""
from __future__ import annotations

import numpy as np

from .fourier import cropCentred, fftShape, gridMean, inverse, spectrum, stampSpectrum

#: Floor on ``|P(k)|**2`` in the score filter, so that it never divides by zero.
PRECONV_POWER_FLOOR = 1000.0 * np.finfo(np.float64).tiny


def _power(halfSpectrum: np.ndarray) -> np.ndarray:
    """``|X(k)|**2`` of a spectrum."""
    power = halfSpectrum.real ** 2
    power += halfSpectrum.imag ** 2
    return power


def _filterOnGrid(kernel: np.ndarray, unconvolvedVariance: float, convolvedVariance: float,
                  shape: tuple[int, int], preConvKernel: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``phi``, ``|P|**2`` (None without pre-convolution) and ``|K|**2`` on the half plane.

    The score filter is evaluated as ``white |P|**2 / (s_n |P|**2 + s_r |K|**2)``, equal
    to the form in the module docstring but free of overflow where ``|P|**2`` is tiny;
    the ``|P|**2`` returned is the floored one. Each spectrum is reduced to its power
    before the next is computed, to keep the peak memory down.
    """
    white = unconvolvedVariance + kernel.sum() ** 2 * convolvedVariance
    if preConvKernel is None:
        kernelPower = _power(stampSpectrum(kernel, shape))
        denominator = convolvedVariance * kernelPower
        denominator += unconvolvedVariance
        return np.sqrt(white / denominator), None, kernelPower
    preConvPower = _power(stampSpectrum(preConvKernel, shape))
    np.maximum(preConvPower, PRECONV_POWER_FLOOR, out=preConvPower)
    kernelPower = _power(stampSpectrum(kernel, shape))
    phi = convolvedVariance * kernelPower
    phi += unconvolvedVariance * preConvPower
    np.divide(preConvPower, phi, out=phi)
    phi *= white
    return phi, preConvPower, kernelPower


def filledSpectrum(image: np.ndarray, fill: float, shape: tuple[int, int]) -> np.ndarray:
    """Single-precision half-plane spectrum on ``shape`` of ``image``, non-finite pixels
    taking the value ``fill`` (see :meth:`DecorrelationFilter.apply`)."""
    filled = np.where(np.isfinite(image), image, np.float32(fill)).astype(np.float32)
    return spectrum(filled, shape)


class DecorrelationFilter:
    """The filter ``phi`` on the FFT grid of one image (or region).

    Parameters
    ----------
    kernel : numpy.ndarray
        Matching-kernel image (odd, not normalised) at the position the filter is for.
    unconvolvedVariance : float
        Mean variance ``s_n`` of the image that was not convolved (> 0), before any
        pre-convolution.
    convolvedVariance : float
        Mean variance ``s_r`` of the image that was convolved, before convolution (>= 0).
    shape : tuple of int
        FFT grid shape; see :func:`diffim_decorrelate.fourier.fftShape`.
    preConvKernel : numpy.ndarray, optional
        Unit-sum kernel ``P`` (odd) the unconvolved image was pre-convolved with before
        matching: the filter is then the score-image variant (module docstring).

    Attributes
    ----------
    phi : numpy.ndarray
        The filter on the half plane of the grid.
    whiteVariance : float
        ``s_n + kappa**2 s_r``: the noise variance of the filtered difference (in the
        score variant, of the decorrelated difference the score image is the matched
        filter of).
    """

    def __init__(self, kernel: np.ndarray, unconvolvedVariance: float,
                 convolvedVariance: float, shape: tuple[int, int],
                 preConvKernel: np.ndarray | None = None) -> None:
        self.shape = shape
        self.kernel = np.asarray(kernel, dtype=np.float64)
        self.preConvKernel = (None if preConvKernel is None
                              else np.asarray(preConvKernel, dtype=np.float64))
        self.unconvolvedVariance = unconvolvedVariance
        self.convolvedVariance = convolvedVariance
        self.whiteVariance = unconvolvedVariance + self.kernel.sum() ** 2 * convolvedVariance
        self.phi, preConvPower, kernelPower = self._filterOnGrid(shape)
        power = self.phi ** 2
        if preConvPower is None:
            unconvolvedWeight = gridMean(power, shape[1])
        else:
            preConvPower *= power
            unconvolvedWeight = gridMean(preConvPower, shape[1])
            del preConvPower
        power *= kernelPower
        self._noiseWeights = (unconvolvedWeight, gridMean(power, shape[1]))

    def _filterOnGrid(self, shape: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``phi``, ``|P|**2`` (None without pre-convolution) and ``|K|**2`` on ``shape``."""
        return _filterOnGrid(self.kernel, self.unconvolvedVariance, self.convolvedVariance,
                             shape, self.preConvKernel)

    def apply(self, image: np.ndarray, fill: float) -> np.ndarray:
        """Filter ``image``: a zero-padded linear convolution with ``phi``.

        Non-finite pixels take the value ``fill`` in the convolution (so they do not
        smear) and keep their own value in the output. The FFTs are single precision
        (the output is float32; their rounding is some 1e-7 of the image's spread,
        far below its noise), which halves their time and memory.

        Returns a float32 array of the image's shape.
        """
        return self.applyToSpectrum(filledSpectrum(image, fill, self.shape), image)

    def applyToSpectrum(self, transformed: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Finish :meth:`apply` from ``transformed``, :func:`filledSpectrum` of ``image``.

        The image's transform does not depend on the filter, so it can be computed
        while the filter is; ``transformed`` is overwritten.
        """
        h, w = image.shape
        transformed *= self.phi.astype(np.float32)
        filtered = inverse(transformed, self.shape)
        del transformed
        output = filtered[:h, :w].copy()
        missing = ~np.isfinite(image)
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
        phi = self._filterOnGrid(shape)[0]
        return cropCentred(inverse(stampSpectrum(stamp, shape) * phi, shape), stamp.shape)

    def realSpaceFilters(self) -> tuple[np.ndarray, np.ndarray]:
        """The real-space filters the two inputs' noise goes through, as odd centred stamps.

        ``phi`` (``P conv phi`` in the score variant) for the unconvolved image and
        ``K conv phi`` for the convolved one. They are sampled on the small grid of
        :meth:`_stampGrid` for a kernel-sized stamp and cut to the largest odd size that
        fits in it.
        """
        shape = self._stampGrid(self.kernel.shape)
        phi = self._filterOnGrid(shape)[0]
        stampShape = tuple(n - 1 + n % 2 for n in shape)
        unconvolvedPath = (phi if self.preConvKernel is None
                           else stampSpectrum(self.preConvKernel, shape) * phi)
        unconvolved = cropCentred(inverse(unconvolvedPath, shape), stampShape)
        convolved = cropCentred(inverse(stampSpectrum(self.kernel, shape) * phi, shape),
                                stampShape)
        return unconvolved, convolved

    def _stampGrid(self, stampShape: tuple[int, int]) -> tuple[int, int]:
        """Grid for filtering a stamp: twice what its linear convolution with the kernels needs."""
        shapes = [stampShape, self.kernel.shape]
        if self.preConvKernel is not None:
            shapes.append(self.preConvKernel.shape)
        return tuple(2 * n for n in fftShape(*shapes))

    def noiseWeights(self) -> tuple[float, float]:
        """Factors by which the filtered difference's variance grows with each input's variance.

        Returns
        -------
        tuple of float
            ``(w_n, w_r)``: the total power of ``phi`` (``P phi`` in the score variant;
            the unconvolved image's noise goes through it) and of ``K phi`` (the
            convolved image's noise goes through it), over the image grid. By
            Parseval these are the sums of the squared real-space filters.
        """
        return self._noiseWeights

    def propagateVariance(self, unconvolvedVariance: np.ndarray,
                          convolvedVariance: np.ndarray) -> np.ndarray:
        """Variance of the filtered difference from two finite variance planes.

        Each plane is convolved (zero-padded, on the image grid) with the square of the
        real-space filter its noise goes through (``phi`` or ``P phi``, ``K phi``; see
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
