"""The science stars the aperture correction is measured on: selection and photometry."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep

from diffim.background import exposureSky
from diffim.centroids import windowedCentroids
from diffim.exposure import Exposure
from diffim.photometry import measurePsfFlux
from diffim.psf import FWHM_PER_SIGMA
from diffim.sourcefinding import isolated, localMaxima, matchedFilter
from diffim.stamps import extractStamps, stampPixelMask
from diffim.statistics import median

from .config import ApplyApCorrConfig

#: Isolation zone beyond the aperture radius, in PSF FWHM: a neighbour this close has its
#: core in the aperture.
ISOLATION_MARGIN_FWHM = 1.0


@dataclass
class StarFluxes:
    """Aperture and PSF fluxes of the stars used for the aperture correction (counts)."""

    x: np.ndarray
    y: np.ndarray
    apFlux: np.ndarray
    apFluxErr: np.ndarray
    psfFlux: np.ndarray
    psfFluxErr: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @property
    def ratio(self) -> np.ndarray:
        """Aperture flux over PSF flux: the aperture correction each star measures."""
        return self.apFlux / self.psfFlux

    @property
    def ratioErr(self) -> np.ndarray:
        """1-sigma error of :attr:`ratio` (the two flux errors in quadrature)."""
        return np.abs(self.ratio) * np.hypot(self.apFluxErr / self.apFlux,
                                             self.psfFluxErr / self.psfFlux)


def apertureRadiusPixels(exposure: Exposure, config: ApplyApCorrConfig) -> float:
    """``apertureRadius`` in pixels (FWHM of the PSF model at its average position when asked)."""
    if config.apertureRadiusUnit == "fwhm":
        return config.apertureRadius * exposure.psf.fwhm()
    return config.apertureRadius


def sectorExcess(data: np.ndarray, variance: np.ndarray, x: np.ndarray, y: np.ndarray,
                 inner: float, outer: float, nSectors: int = 8
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Light in the brightest sector of each star's annulus beyond the sectors' median.

    The annulus ``inner <= r < outer`` around ``(x, y)`` is cut into ``nSectors``
    equal sectors. A star's own light is the same in every sector; a neighbour,
    even one too faint to make its own peak on the star's slope, adds to one or
    two of them.

    Returns
    -------
    excess : numpy.ndarray
        Largest sector sum minus the median sector sum (counts).
    significance : numpy.ndarray
        That excess over the square root of the sector's summed variance.
    """
    if not len(x):
        return np.zeros(0), np.zeros(0)
    reach = int(np.ceil(outer)) + 1
    ix, iy = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    offsets = np.arange(-reach, reach + 1)
    dx = (ix[:, None, None] + offsets[None, None, :]) - x[:, None, None]
    dy = (iy[:, None, None] + offsets[None, :, None]) - y[:, None, None]
    radius = np.hypot(dx, dy)
    ring = (radius >= inner) & (radius < outer) & stampPixelMask(data.shape, ix, iy, reach)
    angle = np.arctan2(np.broadcast_to(dy, ring.shape)[ring],
                       np.broadcast_to(dx, ring.shape)[ring])
    sector = np.floor((angle + np.pi) / (2.0 * np.pi) * nSectors).astype(int) % nSectors
    star = np.broadcast_to(np.arange(len(x))[:, None, None], ring.shape)[ring]
    bins = star * nSectors + sector
    flux = _binSums(bins, extractStamps(data, ix, iy, reach, 0.0)[ring], len(x), nSectors)
    noise = np.sqrt(_binSums(bins, extractStamps(variance, ix, iy, reach, 0.0)[ring], len(x),
                             nSectors))
    brightest = np.argmax(flux, axis=1)
    rows = np.arange(len(x))
    excess = flux[rows, brightest] - np.median(flux, axis=1)
    significance = excess / noise[rows, brightest]
    return excess, significance


def _binSums(bins: np.ndarray, weights: np.ndarray, n: int, nSectors: int) -> np.ndarray:
    """``(n, nSectors)`` sums of ``weights`` by ``bins`` (``star * nSectors + sector``)."""
    return np.bincount(bins, weights=weights, minlength=n * nSectors).reshape(n, nSectors)


def measureStars(exposure: Exposure, config: ApplyApCorrConfig) -> StarFluxes:
    """Find bright, isolated, unmasked stars and measure their aperture and PSF fluxes.

    1. On a copy, subtract the sky (:func:`diffim.background.exposureSky`: sep's clipped
       mode, the sources grown by one FWHM left out; the forced photometry's too).
    2. Find the peaks of the PSF matched-filter S/N image
       (:func:`diffim.sourcefinding.matchedFilter`, inverse-variance weighted) above
       ``detectionThreshold`` (:func:`diffim.sourcefinding.localMaxima`, 3×3): every star,
       and every neighbour that could enter an aperture.
    3. Keep isolated peaks (:func:`diffim.sourcefinding.isolated`): the other peaks within
       the aperture radius plus one FWHM have at most ``maxNeighbourFluxRatio`` of the
       peak's matched-filter flux together.
    4. Refine the positions with Gaussian-windowed centroids
       (:func:`diffim.centroids.windowedCentroids`, sigma = FWHM / 2.355); a centroid
       that fails or moves more than one FWHM keeps the peak.
    5. Keep stars whose aperture lies inside the image with no masked pixel and whose
       aperture flux (sep, exact pixel overlap) has S/N of at least ``minSignalToNoise``.
    6. Reject stars with a neighbour inside the aperture that made no peak of its own
       (:func:`sectorExcess` over the annulus from one FWHM to the aperture radius: the
       brightest of eight sectors exceeds their median by more than ``detectionThreshold``
       sigma and by more than ``maxNeighbourFluxRatio`` of the aperture flux).
    7. Measure the PSF flux (:func:`diffim.photometry.measurePsfFlux`); keep positive,
       fully-fitted ones.
    """
    image, variance = exposure.image, exposure.variance
    with np.errstate(invalid="ignore"):
        bad = (exposure.maskedPixels(*config.badMaskPlanes,
                                       context="applyApCorr.badMaskPlanes") | ~np.isfinite(image)
               | ~np.isfinite(variance) | ~(variance > 0))
    empty = StarFluxes(*(np.empty(0),) * 6)
    if bad.all():
        return empty
    psf = exposure.psf
    fwhm = psf.fwhm()
    radius = apertureRadiusPixels(exposure, config)
    # float64 planes made in place, one each (a 4096² plane is 128 MB)
    data = np.subtract(image, exposureSky(exposure, config.backgroundBinSize), dtype=np.float64)
    data[bad] = 0.0
    variance = variance.astype(np.float64)
    variance[bad] = median(variance[~bad])
    filtered = matchedFilter(data, variance, bad, psf.at(*psf.averagePosition))
    px, py = localMaxima(filtered.significance, config.detectionThreshold, separation=1,
                         exclude=bad,
                         within=filtered.significance >= config.detectionThreshold)
    peakFlux = filtered.flux[py, px].astype(np.float64)
    keep = (peakFlux > 0) & isolated(px, py, peakFlux, radius + ISOLATION_MARGIN_FWHM * fwhm,
                                     config.maxNeighbourFluxRatio)
    if not keep.any():
        return empty
    centroids = windowedCentroids(data, px[keep], py[keep], fwhm / FWHM_PER_SIGMA,
                                  usable=~bad, maxShift=fwhm)
    x, y = centroids.x, centroids.y
    apFlux, apFluxErr, apFlag = sep.sum_circle(data, x, y, radius, err=np.sqrt(variance),
                                               mask=bad, subpix=0)
    height, width = data.shape
    keep = ((apFlag & (sep.APER_HASMASKED | sep.APER_TRUNC)) == 0)
    keep &= (x - radius >= 0) & (x + radius <= width - 1) & (y - radius >= 0)
    keep &= y + radius <= height - 1
    keep &= apFlux >= config.minSignalToNoise * apFluxErr
    x, y, apFlux, apFluxErr = x[keep], y[keep], apFlux[keep], apFluxErr[keep]
    excess, significance = sectorExcess(data, variance, x, y, fwhm, radius)
    keep = ~((significance > config.detectionThreshold)
             & (excess > config.maxNeighbourFluxRatio * apFlux))
    x, y, apFlux, apFluxErr = x[keep], y[keep], apFlux[keep], apFluxErr[keep]
    fit = measurePsfFlux(data, variance, ~bad, psf, x, y)
    good = ~fit.edge & ~fit.noGoodPixels & (fit.flux > 0) & np.isfinite(fit.fluxErr)
    return StarFluxes(x[good], y[good], apFlux[good], apFluxErr[good], fit.flux[good],
                      fit.fluxErr[good])
