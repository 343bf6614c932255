"""Gaussian-kernel PSF matching: the simplest honest ``subtract`` implementation.

The template is convolved with the Gaussian that widens its PSF to the
science PSF (both taken as Gaussians of their determinant radius); a flux
scale and constant background are fitted by least squares over the image.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from diffim.config import Config, Field
from diffim.errors import InputError
from diffim.hookspecs import hookimpl
from diffim.results import SubtractionResult


class GaussianMatchConfig(Config):
    """Config of the Gaussian-kernel matcher."""

    fitFluxScale = Field("Fit the template-to-science flux scale (else use 1).", bool, True)


class GaussianMatchSubtraction:
    """``subtract`` implementation ``gaussianMatch``."""

    ConfigClass = GaussianMatchConfig

    @hookimpl
    def diffim_subtract(self, science, template, config, convolveTemplate, kernelSources, rng):
        sigmaS, sigmaT = science.psf.sigma(), template.psf.sigma()
        if sigmaS <= sigmaT:
            raise InputError("gaussianMatch needs a science PSF wider than the template's")
        sigmaK = float(np.sqrt(sigmaS**2 - sigmaT**2))
        valid = ~template.maskedPixels("NO_DATA") & ~science.maskedPixels("NO_DATA")
        tmpl = np.where(valid, template.image, 0.0).astype(np.float64)
        matched = ndimage.gaussian_filter(tmpl, sigmaK, mode="nearest")
        # Variance of a Gaussian-filtered image: filter with the squared kernel,
        # i.e. a Gaussian of sigma/sqrt(2) scaled by 1/(4 pi sigma^2).
        var = np.where(valid, template.variance, 0.0).astype(np.float64)
        matchedVar = ndimage.gaussian_filter(var, sigmaK / np.sqrt(2.0), mode="nearest") \
            / (4.0 * np.pi * sigmaK**2)
        scale, background = 1.0, 0.0
        if config.fitFluxScale:
            # Saturated and bad pixels (a star's flat top, a bleed trail) would pull the fit.
            fit = valid & ~science.maskedPixels("SAT", "BAD") & ~template.maskedPixels("SAT", "BAD")
            fit = ndimage.binary_erosion(fit, iterations=int(np.ceil(3 * sigmaS)))
            design = np.column_stack([matched[fit], np.ones(fit.sum())])
            (scale, background), *_ = np.linalg.lstsq(design, science.image[fit].astype(float),
                                                      rcond=None)
        difference = science.clone()
        difference.image = (science.image - scale * matched - background).astype(np.float32)
        difference.variance = (science.variance + scale**2 * matchedVar).astype(np.float32)
        difference.mask = science.mask | template.mask
        difference.setMask(~valid, "NO_DATA")
        return SubtractionResult(subtractedExposure=difference, warpedExposure=template,
                                 metadata={"gaussianMatch.kernelSigma": sigmaK,
                                           "gaussianMatch.fluxScale": float(scale)})
