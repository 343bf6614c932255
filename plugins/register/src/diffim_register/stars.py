"""Find the stars of an exposure that can anchor a registration.

Stars are detected (:func:`diffim.sourcefinding.extractObjects`) on a copy
with the background (:func:`diffim.background.backgroundModel`) subtracted,
centred with Gaussian-windowed centroids (:func:`diffim.centroids.windowedCentroids`,
SExtractor's ``XWIN``) and ranked by
``sep``'s aperture flux. Each star is flagged ``usable`` for the fit when it is
point-like, unsaturated and bright enough; pattern matching also uses the
brightest saturated stars, whose centroids are good enough to find the match
but not to fit it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep

from diffim.background import backgroundModel
from diffim.centroids import windowedCentroids
from diffim.config import Config
from diffim.exposure import Exposure
from diffim.sourcefinding import extractObjects, footprintsTouching

#: Objects whose isophotal size sqrt(a*b) is below this fraction of the PSF sigma are
#: cosmic rays or hot pixels, not stars.
MIN_SIZE_RATIO = 0.4
#: Objects larger than this many PSF sigmas are blends or galaxies: kept out of the fit.
MAX_SIZE_RATIO = 2.5
#: Aperture radius for the flux and signal-to-noise ratio, in PSF FWHM.
APERTURE_FWHM = 1.0
#: Gaussian window sigma of the windowed centroid, in PSF sigmas. The PSF sigma itself
#: is optimal for an isolated star; a narrower window lets neighbours in crowded fields
#: pull the centroid less (on the SAAO bulge pair it halves the match residuals).
CENTROID_WINDOW = 0.7
#: Mesh size (pixels) of the background subtracted before detection.
BACKGROUND_MESH = 64


@dataclass(frozen=True)
class Stars:
    """Star positions (0-based pixels) and properties, brightest first.

    Attributes
    ----------
    x, y : numpy.ndarray
        Windowed centroids.
    flux : numpy.ndarray
        Background-subtracted aperture flux.
    snr : numpy.ndarray
        Aperture signal-to-noise ratio.
    usable : numpy.ndarray
        True for stars the fit may use (point-like, unsaturated, ``snr >= minSnr``).
    """

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    snr: np.ndarray
    usable: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: np.ndarray) -> "Stars":
        """The stars selected by an index or boolean array, in the same order."""
        return Stars(self.x[index], self.y[index], self.flux[index], self.snr[index],
                     self.usable[index])

    def forFit(self, maxStars: int) -> "Stars":
        """The ``maxStars`` brightest usable stars."""
        return self.take(np.flatnonzero(self.usable)[:maxStars])

    def brightest(self, n: int) -> "Stars":
        """The ``n`` brightest stars, saturated or not."""
        return self.take(np.arange(min(n, len(self))))


def _badPixels(exposure: Exposure, planes: tuple[str, ...]) -> np.ndarray:
    return exposure.maskedPixels(*planes, context="register.badMaskPlanes") \
        | ~np.isfinite(exposure.image) \
        | ~(exposure.variance > 0)


def detectStars(exposure: Exposure, config: Config) -> Stars:
    """Detect, centroid and rank the stars of ``exposure`` (which is not modified).

    Parameters
    ----------
    exposure : Exposure
        A sanitised exposure with variance and PSF.
    config : SipRegisterConfig
        ``detectionThreshold``, ``minSnr`` and ``badMaskPlanes``.

    Returns
    -------
    Stars
        Every detection that is not a cosmic ray, brightest first.
    """
    bad = _badPixels(exposure, tuple(config.badMaskPlanes))
    data = np.where(bad, 0.0, exposure.image).astype(np.float32)
    data -= backgroundModel(data, bad, BACKGROUND_MESH)
    variance = np.where(bad, np.median(exposure.variance[~bad]), exposure.variance)
    noise = np.sqrt(variance).astype(np.float32)
    found = extractObjects(data, config.detectionThreshold, noise=noise, exclude=bad,
                           segmentation=True)
    objects, segmentation = found.catalog, found.segmentation
    psfSigma = exposure.psf.sigma()
    size = np.sqrt(objects["a"] * objects["b"])
    keep = size >= MIN_SIZE_RATIO * psfSigma
    saturated = footprintsTouching(segmentation, exposure.maskedPixels("SAT"), len(objects))
    centroids = windowedCentroids(data, objects["x"], objects["y"], CENTROID_WINDOW * psfSigma,
                                  usable=~bad)
    x, y = centroids.x, centroids.y
    keep &= ~centroids.failed
    radius = APERTURE_FWHM * exposure.psf.fwhm()
    flux, fluxErr, _ = sep.sum_circle(data, x, y, radius, err=noise, mask=bad)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(fluxErr > 0, flux / fluxErr, 0.0)
    usable = (~saturated & (size <= MAX_SIZE_RATIO * psfSigma) & (snr >= config.minSnr))
    order = np.flatnonzero(keep)[np.argsort(-flux[keep], kind="stable")]
    return Stars(x[order], y[order], flux[order], snr[order], usable[order])
