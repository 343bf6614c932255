"""The ``measurePsf`` plugin ``stars``: the PSF of a plain image from its own stars.

The recipe follows what PSF determiners in survey pipelines do, in compact form:

1. subtract the sky with the sources left out and detect the objects
   (:func:`diffim.background.sourceMaskedBackground`,
   :func:`diffim.sourcefinding.extractObjects`);
2. keep bright, compact, unmasked, isolated objects whose half-light radius is on
   the stellar locus (:mod:`.stars`);
3. cut a stamp around each star, recentred to its windowed centroid by a
   sub-pixel spline shift, with masked pixels and other objects blanked
   (:mod:`.stamps`);
4. combine the normalised stamps with a clipped, S/N-weighted mean, rejecting odd
   shapes, and smooth the noise-dominated wings (:mod:`.combine`);
5. with ``spatialOrder > 0``, fit every PSF pixel as a polynomial in position
   (:mod:`.spatial`).

With too few stars, and ``useSeeingFallback``, the PSF is a Gaussian of the seeing
the header states, or of the FWHM of the most compact sources (:mod:`.fallback`).
"""
from __future__ import annotations

import logging

import numpy as np

from diffim.centroids import windowedCentroids
from diffim.characterize import headerSeeing
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.psf import FWHM_PER_SIGMA, GaussianPsf, ImagePsf, Psf
from diffim.results import PsfMeasurement

from .combine import fitMeanPsf
from .config import StarPsfConfig
from .fallback import compactSourceFwhm
from .spatial import spatialPsf
from .stamps import SHIFT_PAD, cutStamps, stampSize
from .stars import PreparedImage, prepareImage, selectStars, usableStars

log = logging.getLogger("diffim.psf")

#: Above this S/N a stamp's error is dominated by systematics (recentring
#: interpolation, flat fielding), not noise, so its weight stops growing.
WEIGHT_SNR_CAP = 1000.0


class StarPsf:
    """``measurePsf`` implementation ``stars``."""

    ConfigClass = StarPsfConfig

    @hookimpl
    def diffim_measurePsf(self, exposure: Exposure, config: StarPsfConfig) -> PsfMeasurement:
        if exposure.variance is None:
            raise InputError("PSF measurement needs the variance plane, but the exposure has "
                             "none")
        image = prepareImage(exposure, config)
        try:
            psf, count = measureFromStars(image, config)
        except InputError as exc:
            if not config.useSeeingFallback:
                raise
            return _seeingFallback(exposure, image, str(exc))
        kind = "spatially varying" if psf.isSpatiallyVarying else "constant"
        return PsfMeasurement(psf, f"measured from {count} stars ({kind}, FWHM "
                                   f"{psf.fwhm():.3f} px)")


def measureFromStars(image: PreparedImage, config: StarPsfConfig) -> tuple[Psf, int]:
    """The PSF from the stars of a prepared image, and the number of stars it rests on.

    Raises
    ------
    InputError
        If fewer than ``minStars`` usable stars are found.
    """
    stars, fwhm = selectStars(image, config.minSnr)
    shape = image.data.shape
    size = stampSize(fwhm, shape) if config.stampSize == 0 else int(config.stampSize) | 1
    stars = usableStars(stars, image, size, SHIFT_PAD, fwhm)
    stars = stars.take(np.argsort(-stars.snr)[:config.maxStars])
    if len(stars) < config.minStars:
        raise InputError(f"could not measure a PSF: found {len(stars)} usable stars, "
                         f"need {config.minStars}")
    centred = windowedCentroids(image.data, stars.x, stars.y, fwhm / FWHM_PER_SIGMA,
                                usable=~image.bad, maxShift=fwhm)
    stars.x, stars.y = centred.x, centred.y
    stamps, variances = cutStamps(image.data, image.noise ** 2, image.bad, image.segmentation,
                                  stars, size, grow=int(np.ceil(fwhm)))
    weights = np.minimum(stars.snr, WEIGHT_SNR_CAP) ** 2
    if config.spatialOrder > 0:
        _, normalised, normVariances, keep = fitMeanPsf(stamps, variances, weights,
                                                        reject=False)
        spatial = spatialPsf(normalised, normVariances, weights[keep], stars.take(keep),
                             config.spatialOrder, shape)
        if spatial is not None:
            return spatial, len(keep)
        log.info("too few stars for a PSF of spatial order %d; using a constant PSF",
                 config.spatialOrder)
    psfImage, _, _, keep = fitMeanPsf(stamps, variances, weights)
    if len(keep) < config.minStars:
        raise InputError(f"could not measure a PSF: found {len(keep)} usable stars, "
                         f"need {config.minStars}")
    average = (float(np.average(stars.x[keep], weights=weights[keep])),
               float(np.average(stars.y[keep], weights=weights[keep])))
    return ImagePsf(psfImage, averagePosition=average), len(keep)


def _seeingFallback(exposure: Exposure, image: PreparedImage, reason: str) -> PsfMeasurement:
    """A Gaussian PSF of the header's seeing, or of the most compact sources' size."""
    fwhm, source = headerSeeing(exposure.metadata, exposure.pixelScale())
    if fwhm is None:
        fwhm, source = compactSourceFwhm(image), "the most compact sources"
    if fwhm is None:
        raise InputError(f"{reason}, and no seeing keyword or compact source to size a "
                         "Gaussian PSF from")
    psf = GaussianPsf(fwhm / FWHM_PER_SIGMA, averagePosition=exposure.center)
    return PsfMeasurement(psf, f"Gaussian, FWHM {fwhm:.3f} px from {source} ({reason})")
