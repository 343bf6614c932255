"""The ``iqr`` implementation of the ``scaleVariance`` slot."""
from __future__ import annotations

import logging

import numpy as np

from diffim.background import backgroundModel
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.results import VarianceScale

from .config import IqrScaleVarianceConfig
from .statistics import imageBasedFactor, pixelBasedFactor, quietPixels

log = logging.getLogger("diffim.scaleVariance")

#: PSF sigma (pixels) that sizes the surroundings of quietPixels when the exposure has no PSF.
DEFAULT_PSF_SIGMA = 2.0


def _pixelSets(exposure: Exposure, config: IqrScaleVarianceConfig
               ) -> tuple[np.ndarray, np.ndarray]:
    """Usable pixels (outside the non-source maskPlanes, finite, variance > 0) and, of
    those, the ones outside the sourcePlanes too."""
    context = "scaleVariance.maskPlanes"
    sources = [p for p in config.maskPlanes if p in config.sourcePlanes]
    others = [p for p in config.maskPlanes if p not in config.sourcePlanes]
    with np.errstate(invalid="ignore"):
        positive = exposure.variance > 0
    usable = (np.isfinite(exposure.image) & np.isfinite(exposure.variance) & positive)
    if others:
        usable &= ~exposure.maskedPixels(*others, context=context)
    free = usable & ~exposure.maskedPixels(*sources, context=context) if sources else usable
    return usable, free


def _quietPixels(exposure: Exposure, background: np.ndarray, usable: np.ndarray,
                 fraction: float) -> np.ndarray:
    """:func:`quietPixels` of the background-subtracted significance of ``exposure``."""
    significance = np.zeros(exposure.shape)
    np.divide(exposure.image - background, np.sqrt(exposure.variance), out=significance,
              where=usable)
    psfSigma = exposure.psf.sigma() if exposure.psf is not None else DEFAULT_PSF_SIGMA
    return quietPixels(significance, usable, psfSigma, fraction)


def varianceScaleFactor(exposure: Exposure, config: IqrScaleVarianceConfig) -> VarianceScale:
    """Factor by which to multiply the variance plane so it matches the pixel noise.

    See :meth:`IqrScaleVariance.diffim_scaleVariance`.
    """
    if exposure.variance is None:
        raise InputError("scaleVariance needs a variance plane, but exposure.variance is None")
    usable, free = _pixelSets(exposure, config)
    nUsable, nFree = int(np.count_nonzero(usable)), int(np.count_nonzero(free))
    if nFree >= config.minPixels:
        good, estimator = free, "sourceFree"
        background = backgroundModel(exposure.image, ~good, config.binSize, filterSize=1)
    elif config.quietFraction * nUsable >= config.minPixels:
        estimator = "sourceRejected"
        background = backgroundModel(exposure.image, ~usable, config.binSize, filterSize=1)
        good = _quietPixels(exposure, background, usable, config.quietFraction)
        log.info("scaleVariance: only %d of %d usable pixels are free of %s; measuring the "
                 "noise on the %d with the quietest surroundings", nFree, nUsable,
                 "/".join(config.sourcePlanes), np.count_nonzero(good))
    else:
        log.warning("scaleVariance: only %d usable pixels (minPixels %d, of which "
                    "quietFraction %g in a crowded frame); the variance plane is left "
                    "unscaled", nUsable, config.minPixels, config.quietFraction)
        return VarianceScale(1.0, nUsable, "none")
    # single precision, as the planes are: the factor moves by ~1e-7 and the quantiles of
    # 16M pixels take half the time
    residual = (exposure.image - background)[good].astype(np.float32, copy=False)
    variance = exposure.variance[good].astype(np.float32, copy=False)
    factor = pixelBasedFactor(residual, variance)
    if factor > config.limit:
        pixelFactor = factor
        factor = imageBasedFactor(residual, variance)
        if factor > config.limit:
            raise InputError(f"variance plane under-states the noise by a factor "
                             f"{pixelFactor:.3g} (pixel-based) / {factor:.3g} (image-based), "
                             f"above scaleVariance.limit {config.limit:g}; check the variance "
                             f"plane of the input")
    if not (np.isfinite(factor) and factor > 0):
        raise InputError(f"cannot scale the variance: the {len(residual)} good pixels "
                         f"give a noise scale factor of {factor}; expected a noisy image")
    return VarianceScale(float(factor), len(residual), estimator)


class IqrScaleVariance:
    """Measure the noise of an image against its variance plane (LSST ``ScaleVarianceTask``)."""

    ConfigClass = IqrScaleVarianceConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure: Exposure,
                             config: IqrScaleVarianceConfig) -> VarianceScale:
        """Measure how much the variance plane under-states the noise of the image.

        1. Usable pixels: none of the maskPlanes other than ``sourcePlanes`` set, finite
           image and variance, variance > 0. Good pixels: the usable ones outside the
           ``sourcePlanes`` too, if at least ``minPixels``; else (a crowded frame) the
           ``quietFraction`` of the usable pixels with the quietest surroundings
           (:func:`~diffim_scale_variance.statistics.quietPixels`); with fewer than
           ``minPixels`` of those the factor is 1, with a WARNING.
        2. Subtract (from a copy) a background in ``binSize`` bins fitted to the good
           (crowded: usable) pixels
           (:func:`diffim.background.backgroundModel`, bins not median filtered, as LSST).
        3. Pixel-based factor: ``iqrSigma(image / sqrt(variance))**2``
           (:func:`diffim.statistics.iqrSigma`: ``IQR / 1.349``).
        4. Above ``limit``: image-based factor ``iqrSigma(image)**2 / median(variance)``;
           still above ``limit``: raise.

        Parameters
        ----------
        exposure : Exposure
            The image to measure; not modified.
        config : IqrScaleVarianceConfig
            Mask planes, crowding thresholds, background bin size and limit.

        Returns
        -------
        VarianceScale
            The factor by which to multiply the variance plane, the pixels it rests
            on and the estimator used.

        Raises
        ------
        InputError
            If the exposure has no variance plane, or the factor exceeds ``limit`` both ways,
            or the good pixels have no scatter.
        """
        return varianceScaleFactor(exposure, config)
