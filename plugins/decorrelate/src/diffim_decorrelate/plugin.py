"""The ``al`` implementation of the ``decorrelate`` slot.

LSST's DecorrelateALKernelSpatialTask: whiten the noise of an Alard–Lupton
difference with the filter of :mod:`diffim_decorrelate.filter`, computed once
for the whole image (kernel and PSF at its centre) or, with
``spatiallyVarying``, on a grid of nodes blended smoothly
(:mod:`diffim_decorrelate.grid`). Given a pre-convolution kernel it turns the
likelihood image of an AL score-mode subtraction into a score image instead
(LSST's ``preConvMode``).
"""
from __future__ import annotations

import copy
import logging

import numpy as np

from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.psf import ImagePsf, Psf
from diffim.results import SubtractionResult

from .config import DecorrelateALKernelConfig
from .grid import decorrelateOnGrid
from .inputs import DecorrelationInputs
from .region import decorrelateRegion

log = logging.getLogger("diffim.decorrelate.al")


class DecorrelateALKernel:
    """Decorrelate the noise of an Alard–Lupton difference image (Reiss & Lupton, DMTN-021)."""

    ConfigClass = DecorrelateALKernelConfig

    @hookimpl
    def diffim_decorrelate(self, science: Exposure, template: Exposure,
                           subtraction: SubtractionResult, config: DecorrelateALKernelConfig,
                           spatiallyVarying: bool,
                           preConvKernel: np.ndarray | None) -> Exposure:
        """Filter the difference so that its noise is white (see :mod:`diffim.hookspecs`).

        With ``preConvKernel`` the subtraction was made from the science image
        pre-convolved with that kernel ``P`` (``useScoreImageDetection``), so the
        "difference" is the likelihood image ``L = P conv S - K conv T``; it is filtered
        into the score image: the matched filter (for ``P`` = the science PSF) of the
        decorrelated difference, whose value over the square root of its variance plane
        is the detection significance of a point source at each pixel.

        Parameters
        ----------
        science : Exposure
            The original science exposure (not pre-convolved); not modified.
        template : Exposure
            The template on the science grid, not convolved; not modified.
        subtraction : SubtractionResult
            The Alard–Lupton result: difference, matching kernel, and whether the
            science image was the one convolved; not modified.
        config : DecorrelateALKernelConfig
            The config.
        spatiallyVarying : bool
            Compute the filter on a grid of nodes (kernel, PSF and variances at each)
            instead of once at the image centre.
        preConvKernel : numpy.ndarray or None
            The unit-sum kernel (odd stamp) the science image was pre-convolved with
            before matching, or None for an ordinary difference.

        Returns
        -------
        Exposure
            A new exposure: the decorrelated image (the score image with
            ``preConvKernel``), its variance, the difference's mask, and the difference
            PSF passed through the same filter (an ImagePsf, or a SpatialPsf with
            ``spatiallyVarying``); WCS, calibration and metadata copied from the difference.

        Raises
        ------
        diffim.errors.InputError
            If the subtraction has no kernel, the difference no PSF, an exposure no
            variance plane, or the shapes differ; if ``preConvKernel`` is not an odd,
            finite, unit-sum image, or comes with a subtraction that convolved the
            science image.
        diffim.errors.ConfigError
            If ``gridStep`` puts the grid nodes less than a pixel apart.
        """
        inputs = DecorrelationInputs.fromSubtraction(science, template, subtraction, config,
                                                     preConvKernel)
        difference = inputs.difference
        if preConvKernel is not None:
            log.info("score-image decorrelation of the likelihood image (pre-convolution "
                     "kernel %d x %d)", *inputs.preConvKernel.shape)
        if spatiallyVarying:
            result = decorrelateOnGrid(inputs, config)
            log.info("decorrelation on a %d x %d grid of nodes", *result.nodeCount)
            return _withPixels(difference, result.image, result.variance, result.psf)
        height, width = difference.shape
        centre = difference.center
        region = decorrelateRegion(inputs, (slice(0, height), slice(0, width)), *centre)
        if not region.filtered:
            log.warning("decorrelation skipped: no usable pixels or mean variance (unconvolved "
                        "%s, convolved %s)", region.unconvolvedVariance, region.convolvedVariance)
            return difference.clone()
        log.info("decorrelation: mean variance %.4g (unconvolved), %.4g (convolved)",
                 region.unconvolvedVariance, region.convolvedVariance)
        return _withPixels(difference, region.image, region.variance,
                           ImagePsf(region.psf, averagePosition=(region.x, region.y)))


def _withPixels(difference: Exposure, image: np.ndarray, variance: np.ndarray,
                psf: Psf) -> Exposure:
    """A new exposure with ``difference``'s mask, WCS, calibration and metadata."""
    return Exposure(image=image, mask=difference.mask.copy(), variance=variance, psf=psf,
                    wcs=None if difference.wcs is None else difference.wcs.deepcopy(),
                    photoCalib=difference.photoCalib, filter=difference.filter,
                    obsDate=difference.obsDate, metadata=copy.deepcopy(difference.metadata),
                    maskPlanes=difference.maskPlanes.copy())
