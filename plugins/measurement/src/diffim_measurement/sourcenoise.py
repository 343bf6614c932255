"""The photon noise of a source itself, carried into its PSF flux on the difference image.

The difference's variance plane holds each pixel's variance, and the measurement
scales the sky part of it by the measured noise correlation of the difference
(:meth:`.noise.NoiseCorrelation.varianceFactor`). A bright source's own photon noise
is different: it lives in one input image (a transient's in the science image, a
vanished star's in the template) and reaches the difference only through the filter
``h`` that image went through (decorrelation ``phi``, the AL kernel and ``phi``, or
ZOGY's science kernel). That filter correlates it, but not like the sky noise of the
difference, which is the sum of both inputs' paths and is white once decorrelated:
a low-pass path (the sharper image convolved) makes the PSF flux of a bright
transient noisier than the per-pixel variance says, a high-pass one quieter.

Here the PSF-flux weights ``w = P_d / sum(P_d**2)`` are carried back onto the input
image, ``u = w ⋆ h`` (the weight each input pixel gets in the flux), with
``h = P_d / P_i`` in Fourier space (``P_i`` the input's PSF, ``P_d`` the difference's,
which every subtraction here makes by passing ``P_i`` through ``h``) times the flux
scale of the input relative to the difference (from their zero points: an input
without one is not followed, its sources' noise stays as the variance plane has it).
A source's photon-noise variance in the input, ``V_i - sky_i`` (the variance plane
above its local sky level), then gives the flux variance
``f_i * sum((V_i - sky_i) u**2)``, where ``f_i`` is the excess the input's own measured
noise correlation gives the weighted sum ``u`` (1 for white noise; larger for a
convolved or resampled input). For Gaussian
profiles this local-constant treatment is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from diffim.exposure import Exposure

from .noise import NoiseCorrelation

#: Floor added to ``|P_i|**2`` when dividing by the input PSF's transform: far below
#: the power of any PSF where ``P_d`` carries weight, so only round-off is suppressed.
PSF_POWER_FLOOR = 1.0e-12


def _centred(stamp: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``stamp`` (odd, centred) zero-padded onto ``shape`` with its centre at pixel (0, 0)."""
    grid = np.zeros(shape)
    half = stamp.shape[0] // 2
    grid[:stamp.shape[0], :stamp.shape[1]] = stamp
    return np.roll(grid, (-half, -half), axis=(0, 1))


def fluxScale(image: Exposure, difference: Exposure) -> float | None:
    """Difference counts per input-image count of the same source; None without both zero points.

    The input may be on another flux scale than the difference (AL convolving the
    science image puts it on the template's); only the calibrations say so.
    """
    if image.photoCalib is None or difference.photoCalib is None:
        return None
    return float(10.0 ** (0.4 * (difference.photoCalib.zeroPoint - image.photoCalib.zeroPoint)))


def pulledBackWeights(differencePsf: np.ndarray, imagePsf: np.ndarray,
                      scale: float) -> np.ndarray:
    """The PSF-flux weights of the difference carried back onto an input image.

    Parameters
    ----------
    differencePsf, imagePsf : numpy.ndarray
        Odd, centred, unit-sum PSF stamps of the difference and of the input.
    scale : float
        Difference counts per input count (:func:`fluxScale`).

    Returns
    -------
    numpy.ndarray
        ``u`` on an odd centred stamp twice the larger PSF stamp: the flux measured on
        the difference is ``sum(u * I)`` for a source present in the input ``I`` only.
    """
    size = max(differencePsf.shape[0], imagePsf.shape[0])
    shape = (4 * size, 4 * size)
    pd = np.fft.rfft2(_centred(np.asarray(differencePsf, np.float64), shape))
    pi = np.fft.rfft2(_centred(np.asarray(imagePsf, np.float64), shape))
    power = pi.real ** 2 + pi.imag ** 2
    # u = w ⋆ h: transform conj(H) W, with H = Pd conj(Pi) / (|Pi|^2 + floor), W = Pd / sum(Pd^2)
    norm = float((np.asarray(differencePsf, np.float64) ** 2).sum())
    spectrum = (pd.real ** 2 + pd.imag ** 2) * pi / ((power + PSF_POWER_FLOOR) * norm)
    u = np.fft.fftshift(np.fft.irfft2(spectrum * scale, s=shape))
    centre, half = shape[0] // 2, size - 1
    return u[centre - half:centre + half + 1, centre - half:centre + half + 1]


@dataclass(frozen=True)
class SourceNoisePath:
    """How the photon noise of sources in one input image reaches their PSF fluxes.

    Attributes
    ----------
    variance : numpy.ndarray
        The input's variance plane, 0 where the input is not usable.
    weights : numpy.ndarray
        :func:`pulledBackWeights` for the PSFs at the image centre.
    correlation : float
        Excess of the input's measured noise correlation for ``weights``.
    """

    variance: np.ndarray
    weights: np.ndarray
    correlation: float

    @classmethod
    def of(cls, image: Exposure, usable: np.ndarray, difference: Exposure,
           noise: NoiseCorrelation, index: int) -> "SourceNoisePath":
        """The path of input ``image`` (image ``index`` of ``noise``) into ``difference``."""
        centre = difference.center
        weights = pulledBackWeights(difference.psf.at(*centre), image.psf.at(*centre),
                                    fluxScale(image, difference))
        variance = np.where(usable, image.variance, 0.0)
        return cls(variance, weights, noise.varianceFactor(index, weights))

    def fluxVariance(self, x: np.ndarray, y: np.ndarray, sky: np.ndarray) -> np.ndarray:
        """Variance the sources' own photon noise in this input gives their PSF fluxes.

        Parameters
        ----------
        x, y : numpy.ndarray
            Source positions (pixels of the difference and the input alike).
        sky : numpy.ndarray
            The input's sky variance at each position (the variance without sources).

        Returns
        -------
        numpy.ndarray
            ``correlation * sum((V - sky) u**2)`` with ``u`` moved to each position; never
            negative.
        """
        height, width = self.variance.shape
        half = self.weights.shape[0] // 2
        out = np.zeros(len(x))
        for k in range(len(x)):
            ix, iy = int(np.floor(x[k] + 0.5)), int(np.floor(y[k] + 0.5))
            u = ndimage.shift(self.weights, (y[k] - iy, x[k] - ix), order=3, mode="constant")
            y0, y1 = max(iy - half, 0), min(iy + half + 1, height)
            x0, x1 = max(ix - half, 0), min(ix + half + 1, width)
            if y1 <= y0 or x1 <= x0:
                continue
            part = u[y0 - iy + half:y1 - iy + half, x0 - ix + half:x1 - ix + half]
            excess = self.variance[y0:y1, x0:x1] - sky[k]
            out[k] = max(float((excess * part ** 2).sum()), 0.0)
        return self.correlation * out


def sourceNoiseInputs(difference: Exposure, science: Exposure | None,
                      matchedTemplate: Exposure | None) -> list[tuple[int, Exposure]]:
    """The inputs whose sources' photon noise is followed into the difference, with signs.

    ``(+1, science)`` and ``(-1, matchedTemplate)`` (the images the task gives the
    measurement for the positive and negative lobes), each only when it has a PSF, a
    variance plane and a zero point (:func:`fluxScale`) on the difference's pixel grid and
    the difference has a PSF. Without them the source part of a PSF-flux error stays as
    the variance plane has it.
    """
    if difference.psf is None:
        return []
    return [(sign, image) for sign, image in ((1, science), (-1, matchedTemplate))
            if image is not None and image.psf is not None and image.variance is not None
            and image.shape == difference.shape and fluxScale(image, difference) is not None]


def ownNoiseVariance(paths: list[tuple[int, "SourceNoisePath"]], skies: list[np.ndarray],
                     x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                     planeVariance: np.ndarray) -> np.ndarray:
    """Variance of the PSF fluxes from the sources' own photon noise.

    With both inputs followed (``paths`` holds signs +1 and -1) it is the sum of the two
    paths' :meth:`SourceNoisePath.fluxVariance`, whatever the sign of the flux. With one,
    the rows whose flux has that path's sign get its variance (the source's light, and so
    its photon noise, is taken to be in that image) and the others keep
    ``planeVariance``, the part of the variance-plane error above the sky, as do all rows
    with none.

    Parameters
    ----------
    paths : list of (int, SourceNoisePath)
        The followed inputs and their signs.
    skies : list of numpy.ndarray
        Each input's sky variance at the positions.
    x, y, flux : numpy.ndarray
        Positions and PSF fluxes.
    planeVariance : numpy.ndarray
        The source part of the variance-plane flux variance (what is replaced).
    """
    if not paths:
        return planeVariance
    parts = {sign: path.fluxVariance(x, y, sky) for (sign, path), sky in zip(paths, skies)}
    if len(parts) == 2:
        return parts[1] + parts[-1]
    (sign, variance), = parts.items()
    return np.where(np.sign(flux) == sign, variance, planeVariance)
