"""PSF photometry: the least-squares amplitude of the PSF model at given positions.

The measurement primitive shared by detection, measurement, forced-photometry
and aperture-correction plugins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from diffim.psf import Psf
from diffim.stamps import extractStamps


@dataclass
class PsfPhotometry:
    """PSF fluxes of a set of positions.

    Attributes
    ----------
    flux, fluxErr : numpy.ndarray
        Amplitude of the unit-sum PSF and its 1-sigma error (counts); NaN where failed.
    noGoodPixels : numpy.ndarray
        True where the PSF stamp covers no usable pixel.
    edge : numpy.ndarray
        True where the PSF stamp runs off the image.
    """

    flux: np.ndarray
    fluxErr: np.ndarray
    noGoodPixels: np.ndarray
    edge: np.ndarray


def shiftedPsf(psf: Psf, x: float, y: float) -> tuple[np.ndarray, int, int]:
    """The unit-sum PSF image at ``(x, y)`` moved to its sub-pixel position.

    Returns
    -------
    stamp : numpy.ndarray
        PSF image whose centre pixel is the image pixel ``(ix, iy)``.
    ix, iy : int
        The image pixel nearest ``(x, y)``.
    """
    ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    stamp = ndimage.shift(psf.at(x, y), (y - iy, x - ix), order=3, mode="constant", cval=0.0)
    return stamp / stamp.sum(), ix, iy


def measurePsfFlux(image: np.ndarray, variance: np.ndarray, valid: np.ndarray, psf: Psf,
                   x: np.ndarray, y: np.ndarray) -> PsfPhotometry:
    """Fit the amplitude of the PSF model at each position, with uniform weights.

    ``flux = sum(P I) / sum(P^2)`` and ``fluxErr = sqrt(sum(P^2 V)) / sum(P^2)``
    over the valid pixels of the PSF stamp (LSST's ``base_PsfFlux``: no inverse
    variance weights, so the flux carries no bias from the source's own noise).

    Parameters
    ----------
    image, variance : numpy.ndarray
        The planes to measure.
    valid : numpy.ndarray
        True where a pixel may be used (not NO_DATA, finite).
    psf : Psf
        PSF model of ``image``.
    x, y : numpy.ndarray
        0-based positions.
    """
    n = len(x)
    flux = np.full(n, np.nan)
    fluxErr = np.full(n, np.nan)
    noGoodPixels = np.zeros(n, dtype=bool)
    edge = np.zeros(n, dtype=bool)
    height, width = image.shape
    for k in range(n):
        stamp, ix, iy = shiftedPsf(psf, float(x[k]), float(y[k]))
        half = stamp.shape[0] // 2
        y0, y1 = max(iy - half, 0), min(iy + half + 1, height)
        x0, x1 = max(ix - half, 0), min(ix + half + 1, width)
        edge[k] = (y1 - y0 < stamp.shape[0]) or (x1 - x0 < stamp.shape[1])
        if y1 <= y0 or x1 <= x0:
            noGoodPixels[k] = True
            continue
        model = stamp[y0 - iy + half:y1 - iy + half, x0 - ix + half:x1 - ix + half]
        good = valid[y0:y1, x0:x1]
        p = model[good]
        norm = float(np.dot(p, p))
        if not norm > 0:
            noGoodPixels[k] = True
            continue
        flux[k] = float(np.dot(p, image[y0:y1, x0:x1][good])) / norm
        fluxErr[k] = float(np.sqrt(np.dot(p * p, variance[y0:y1, x0:x1][good]))) / norm
    return PsfPhotometry(flux, fluxErr, noGoodPixels, edge)


def psfWeightedSignificance(image: np.ndarray, variance: np.ndarray, x: np.ndarray,
                            y: np.ndarray, psfImage: np.ndarray) -> np.ndarray:
    """Signal-to-noise of the PSF-weighted flux at integer pixels, above a local background.

    The flux is ``sum P (I - b)`` over a stamp the PSF's size, ``b`` the median of the
    stamp's border ring; its noise is ``sqrt(sum P^2 V)``. A quick test of whether an
    image shows a star at a position (a transient is absent from the template), with
    no full-frame filtering.

    Parameters
    ----------
    image, variance : numpy.ndarray
        Pixels and their variance; NaN pixels make a position's result NaN.
    x, y : numpy.ndarray
        Integer positions.
    psfImage : numpy.ndarray
        Odd square PSF stamp.

    Returns
    -------
    numpy.ndarray
        One value per position; NaN where the stamp leaves the image or holds a NaN
        pixel or a non-positive total variance.
    """
    half = psfImage.shape[0] // 2
    stamps = extractStamps(image, x, y, half, np.nan).astype(np.float64)
    variances = extractStamps(variance, x, y, half, np.nan).astype(np.float64)
    border = np.ones(psfImage.shape, dtype=bool)
    border[1:-1, 1:-1] = False
    weights = np.asarray(psfImage, dtype=np.float64)
    background = np.median(stamps[:, border], axis=1)
    flux = np.einsum("nij,ij->n", stamps, weights) - background * weights.sum()
    noiseSquared = np.einsum("nij,ij->n", variances, weights ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(noiseSquared > 0, flux / np.sqrt(noiseSquared), np.nan)
