"""The ``threshold`` implementation of the ``detection`` slot."""
from __future__ import annotations

import logging

import numpy as np

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.results import DetectionResult
from diffim.threads import parallelMap

from .config import ThresholdDetectionConfig
from .deblend import UNTRUSTED_PLANES, Blends, deblend, withUnsmoothedPeaks
from .dipoles import pairDipoles
from .footprints import (FootprintSet, findPeaks, growFootprints, mergePolarities,
                         stackPolarities)
from .measure import measureSources
from .pointsources import pointLike, splitPairs
from .schema import makeTable
from .smoothing import DetectionImage, makeDetectionImage
from .threshold import findFootprints, measuredNoise, noiseLevel, significance

log = logging.getLogger("diffim.detection")

_POLARITY_SIGNS = {"positive": (1,), "negative": (-1,), "both": (1, -1)}

#: doScaleToMeasuredNoise corrects only a measured excess larger than this fraction: the
#: residuals of sources raise the robust width of a white-noise image by up to 1 %.
MIN_NOISE_EXCESS = 0.05


def _checkExposure(exposure: Exposure, config: ThresholdDetectionConfig) -> None:
    if exposure.psf is None:
        raise InputError("detection needs the exposure's PSF (to smooth, grow footprints and "
                         "measure PSF fluxes), but exposure.psf is None")
    if exposure.variance is None:
        raise InputError("detection needs a variance plane, but exposure.variance is None")


def _noiseCorrection(measured: float, config: ThresholdDetectionConfig) -> float:
    """The factor doScaleToMeasuredNoise raises the thresholds by (1: none)."""
    if not config.doScaleToMeasuredNoise or not measured > 1.0 + MIN_NOISE_EXCESS:
        return 1.0
    if measured > config.maxNoiseCorrection:
        log.warning("the detection image's noise is %.2f times what its variance plane says, "
                     "more than detection.maxNoiseCorrection=%.2f allows for correlated noise: "
                     "thresholds left unscaled", measured, config.maxNoiseCorrection)
        return 1.0
    return measured


def _detectPolarity(exposure: Exposure, image: np.ndarray, variance: np.ndarray,
                    valid: np.ndarray, detection: DetectionImage, ratio: np.ndarray, sign: int,
                    config: ThresholdDetectionConfig, nGrow: int, doSmooth: bool,
                    untrusted: np.ndarray) -> tuple[FootprintSet, Blends]:
    """Footprints and peaks of one sign, grown by ``nGrow`` pixels and deblended.

    ``image`` is the unsmoothed image (invalid pixels 0); ``untrusted`` the saturated,
    bad and missing pixels (:data:`diffim_detection.deblend.UNTRUSTED_PLANES`).
    """
    labels, count = findFootprints(sign * ratio, config.thresholdValue,
                                   config.includeThresholdMultiplier, config.minPixels)
    peaks = findPeaks(detection.image, labels, count, sign)
    footprints = growFootprints(FootprintSet(labels, count, peaks), nGrow,
                                config.isotropicGrow, config.combinedGrow)
    if not config.doDeblend:
        return footprints, Blends.unsplit(footprints.count)
    sigma = exposure.psf.sigma()
    if doSmooth:
        footprints = withUnsmoothedPeaks(footprints, image, detection.image, sign, untrusted,
                                         sigma)
    return deblend(footprints, ratio, sign, exposure.psf, sigma if doSmooth else None,
                   detection.kernelWidth, config.thresholdValue, untrusted,
                   lambda x, y: pointLike(image, variance, valid, untrusted, sign,
                                          exposure.psf, x, y, config.thresholdValue))


def _combine(positive: tuple[FootprintSet, Blends], negative: tuple[FootprintSet, Blends],
             image: np.ndarray, config: ThresholdDetectionConfig, doMerge: bool,
             growFootprint: int) -> tuple[FootprintSet, Blends]:
    """The sources of both polarities: dipoles joined (``doMerge``) or kept apart."""
    if doMerge and config.doDeblend:
        return pairDipoles(*positive, *negative, growFootprint, image)
    if doMerge:
        sources = mergePolarities(positive[0], negative[0], growFootprint)
        return sources, Blends.unsplit(sources.count)
    return (stackPolarities(positive[0], negative[0], image),
            Blends.stacked(positive[1], negative[1]))


def detect(exposure: Exposure, config: ThresholdDetectionConfig, doSmooth: bool, doMerge: bool,
           growFootprint: int) -> DetectionResult:
    """Detect positive and negative sources; set DETECTED / DETECTED_NEGATIVE (and EDGE).

    See :meth:`ThresholdDetection.diffim_detection`.
    """
    _checkExposure(exposure, config)
    for plane in ("DETECTED", "DETECTED_NEGATIVE", "EDGE"):
        exposure.maskPlanes.add(plane)
    exposure.clearMask("DETECTED", "DETECTED_NEGATIVE")
    sigma = exposure.psf.sigma()
    valid = (~exposure.maskedPixels("NO_DATA", context="detection") & np.isfinite(exposure.image)
             & np.isfinite(exposure.variance))
    cleanImage = np.where(valid, exposure.image, np.float32(0.0))
    cleanVariance = np.where(valid, exposure.variance, np.float32(0.0))
    detection = makeDetectionImage(cleanImage, cleanVariance, valid, sigma,
                                   config.nSigmaForKernel, doSmooth)
    if doSmooth:
        exposure.setMask(~detection.interior, "EDGE")
    statsExcluded = exposure.maskedPixels(*config.statsMask, context="detection.statsMask")
    ratio = significance(detection, noiseLevel(detection, config.thresholdType, statsExcluded))
    measured = measuredNoise(ratio, detection.usable & ~statsExcluded)
    correction = _noiseCorrection(measured, config)
    if correction > 1.0:
        ratio /= np.float32(correction)
    nGrow = int(config.nSigmaToGrow * sigma + 0.5)
    signs = _POLARITY_SIGNS[config.thresholdPolarity]
    empty = (FootprintSet.empty(exposure.shape), Blends.unsplit(0))
    untrusted = exposure.maskedPixels(*UNTRUSTED_PLANES, context="detection")
    # the two polarities are independent (each writes its own arrays): side by side
    positive, negative = parallelMap(
        lambda sign: (_detectPolarity(exposure, cleanImage, cleanVariance, valid, detection,
                                      ratio, sign, config, nGrow, doSmooth, untrusted)
                      if sign in signs else empty), (1, -1))
    if config.doDeblend:
        own = {1: positive, -1: negative}
        positive, negative = parallelMap(
            lambda sign: splitPairs(*own[sign], own[-sign][0], cleanImage, cleanVariance, valid,
                                    ratio, detection.image, sign, exposure.psf,
                                    config.thresholdValue, untrusted, max(1.0, measured)),
            (1, -1))
    exposure.setMask(positive[0].labels > 0, "DETECTED")
    exposure.setMask(negative[0].labels > 0, "DETECTED_NEGATIVE")
    sources, blends = _combine(positive, negative, detection.image, config, doMerge,
                               growFootprint)
    columns = measureSources(sources, exposure, cleanImage, detection, valid, sigma)
    columns["parent"], columns["deblend_nChild"] = blends.parent, blends.nChild
    columns["psfFluxErr"] *= correction
    columns["snr"] /= correction
    table = makeTable(columns)
    metadata = {
        "nPositive": positive[0].count,
        "nNegative": negative[0].count,
        "nDeblended": int(np.count_nonzero(blends.parent)),
        "nMerged": int(np.count_nonzero(columns["isDipoleCandidate"])) if doMerge else 0,
        "nSources": sources.count,
        "psfSigma": sigma,
        "smoothingKernelWidth": detection.kernelWidth,
        "nGrow": nGrow,
        "noiseRatio": round(measured, 4),
    }
    return DetectionResult(diaSources=table, footprints=sources.labels, metadata=metadata,
                           noiseCorrection=correction)


class ThresholdDetection:
    """Detect sources above a threshold on the PSF-smoothed difference (``SourceDetectionTask``)."""

    ConfigClass = ThresholdDetectionConfig

    @hookimpl
    def diffim_detection(self, exposure: Exposure, config: ThresholdDetectionConfig,
                         doSmooth: bool, doMerge: bool, growFootprint: int) -> DetectionResult:
        """Detect positive and negative sources on a difference (or score) image.

        1. Clear DETECTED and DETECTED_NEGATIVE.
        2. With ``doSmooth``, filter image and variance with a Gaussian of the PSF
           sigma (determinant radius); the border the kernel does not fit is set
           EDGE in ``exposure.mask`` and not searched.
        3. Threshold each polarity (``thresholdType``), skipping NO_DATA pixels;
           8-connected regions with at least ``minPixels`` pixels are footprints,
           their local extrema the peaks.
        4. Grow footprints by ``int(nSigmaToGrow * sigma + 0.5)`` pixels and set
           DETECTED / DETECTED_NEGATIVE on them.
        5. With ``doDeblend``, split each footprint into one source per significant
           peak (:mod:`diffim_detection.deblend`), then each source that two point
           sources fit significantly better than one
           (:mod:`diffim_detection.pointsources`).
        6. With ``doMerge``, join positive and negative sources into dipoles: with
           ``doDeblend`` the mutually nearest pairs whose footprints, grown by
           ``growFootprint``, touch; without it every overlapping footprint, grown by
           ``growFootprint``, into one source holding peaks of both signs. Otherwise
           positive and negative sources stay separate.
        7. Measure each source (peaks, windowed centroid, PSF flux, pixel flags, sky position).

        Parameters
        ----------
        exposure : Exposure
            Difference or score exposure with PSF and variance; its mask is updated in place.
        config : ThresholdDetectionConfig
            Thresholding parameters.
        doSmooth : bool
            Smooth with the PSF before thresholding (False for a score image).
        doMerge : bool
            Merge positive and negative footprints into one source each.
        growFootprint : int
            Pixels to grow footprints by before merging.

        Returns
        -------
        DetectionResult
            ``diaSources`` (schema in :data:`diffim_detection.schema.DIA_SOURCE_SCHEMA`),
            the footprint label image (row ``i`` is label ``i + 1``) and counts in metadata.

        Raises
        ------
        InputError
            If the exposure has no PSF or no variance plane.
        """
        return detect(exposure, config, doSmooth, doMerge, growFootprint)
