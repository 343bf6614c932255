"""The ``iqr`` implementation of the ``scaleVariance`` slot."""
from __future__ import annotations

import numpy as np

from diffim.background import backgroundModel
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl

from .config import IqrScaleVarianceConfig
from .statistics import imageBasedFactor, pixelBasedFactor


def _goodPixels(exposure: Exposure, config: IqrScaleVarianceConfig) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        positive = exposure.variance > 0
    return (~exposure.maskedPixels(*config.maskPlanes, context="scaleVariance.maskPlanes")
            & np.isfinite(exposure.image)
            & np.isfinite(exposure.variance) & positive)


def varianceScaleFactor(exposure: Exposure, config: IqrScaleVarianceConfig) -> float:
    """Factor by which to multiply the variance plane so it matches the pixel noise.

    See :meth:`IqrScaleVariance.diffim_scaleVariance`.
    """
    if exposure.variance is None:
        raise InputError("scaleVariance needs a variance plane, but exposure.variance is None")
    good = _goodPixels(exposure, config)
    if np.count_nonzero(good) < 2:
        return 1.0
    background = backgroundModel(exposure.image, ~good, config.binSize, filterSize=1)
    residual = (exposure.image - background)[good]
    variance = exposure.variance[good].astype(np.float64)
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
        raise InputError(f"cannot scale the variance: the {np.count_nonzero(good)} good pixels "
                         f"give a noise scale factor of {factor}; expected a noisy image")
    return float(factor)


class IqrScaleVariance:
    """Measure the noise of an image against its variance plane (LSST ``ScaleVarianceTask``)."""

    ConfigClass = IqrScaleVarianceConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure: Exposure, config: IqrScaleVarianceConfig) -> float:
        """Measure how much the variance plane under-states the noise of the image.

        1. Good pixels: none of ``maskPlanes`` set, finite image and variance, variance > 0;
           with fewer than two the factor is 1.
        2. Subtract (from a copy) a background in ``binSize`` bins fitted to the good pixels
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
            Mask planes, background bin size and limit.

        Returns
        -------
        float
            Factor by which to multiply the variance plane.

        Raises
        ------
        InputError
            If the exposure has no variance plane, or the factor exceeds ``limit`` both ways,
            or the good pixels have no scatter.
        """
        return varianceScaleFactor(exposure, config)
