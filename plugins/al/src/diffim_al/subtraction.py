"""The ``al`` implementation of the ``subtract`` slot: Alard–Lupton PSF matching.

With ``convolveTemplate`` the template ``T`` is convolved to the science PSF and
the difference is ``D = S - K conv T - b``; otherwise the science image is
convolved to the template PSF and ``D = (K conv S + b - T) / kappa`` with
``kappa`` the kernel sum, so that ``D`` is on the science flux scale and positive
where the science image is brighter either way.

Pixels that cannot be computed (within the kernel half-width of the border, or
whose kernel footprint touches a NO_DATA pixel of the convolved image, or
NO_DATA in the other image) are NaN in the image, infinite in the variance and
NO_DATA in the mask, as in LSST; the unconvolved border is EDGE as well.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from diffim.errors import ConfigError, DiffimError, InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.mask import MaskPlanes, remapMask
from diffim.morphology import growMaskBits
from diffim.results import SubtractionResult, SubtractionTraits
from diffim.sanitize import checkSubtractionPair
from diffim.threads import startJob

from .basis import BasisShape, KernelBasis, basisShape, makeKernelBasis
from .candidates import detectStars, makeCandidates, shownByTemplate, sourcePositions
from .config import ImagePsfMatchConfig
from .convolve import convolveImage, convolveVariance
from .kernel import SpatialMatchingKernel
from .masks import borderPixels
from .qa import kernelCandidateQa
from .solve import KernelSolution, KernelSolver
from .stampfit import StampFitter

#: Mask planes not grown by the kernel footprint where the image is convolved: an
#: interpolated pixel (a filled defect) is data, and growing thousands of scattered ones
#: would flag the whole difference. Every other plane is grown.
UNGROWN_PLANES = ("INTRP",)


class KernelFitError(DiffimError):
    """The fitted matching kernel cannot be used (e.g. its sum is not positive)."""


@dataclass
class _Plane:
    """One image of the pair as the subtraction sees it.

    Attributes
    ----------
    exposure : Exposure
        The input exposure (never modified).
    mask : numpy.ndarray
        Its mask in the output plane bits.
    missing : numpy.ndarray
        True where the pixel has no usable value: NO_DATA, or non-finite image or
        variance.
    """

    exposure: Exposure
    mask: np.ndarray
    missing: np.ndarray

    @classmethod
    def of(cls, exposure: Exposure, mask: np.ndarray, noDataBit: int) -> "_Plane":
        missing = (((mask & noDataBit) != 0) | ~np.isfinite(exposure.image)
                   | ~np.isfinite(exposure.variance))
        return cls(exposure, mask, missing)

    @property
    def image(self) -> np.ndarray:
        return self.exposure.image

    @property
    def variance(self) -> np.ndarray:
        return self.exposure.variance

    def maskWithMissing(self, noDataBit: int) -> np.ndarray:
        """The mask with NO_DATA also set on non-finite pixels (a new array)."""
        return self.mask | (self.missing.astype(self.mask.dtype) * noDataBit)


def _badBits(config: ImagePsfMatchConfig, planes: MaskPlanes) -> int:
    """Bits of ``badMaskPlanes`` (planes the exposures lack count as empty)."""
    return planes.bitmask(config.badMaskPlanes, "subtract.badMaskPlanes")


class AlardLuptonSubtraction:
    """PSF-match the template and the science exposure with an Alard–Lupton kernel and subtract.

    The kernel is a sum of Gaussians times polynomials whose coefficients vary
    with position (order ``spatialKernelOrder``, the kernel sum constant), fitted
    together with a differential background on stamps around stars, as LSST's
    ImagePsfMatchTask does. Stars are taken from ``kernelSources`` or detected
    on the science image.
    """

    ConfigClass = ImagePsfMatchConfig
    traits = SubtractionTraits(needsDecorrelation=True, makesScoreImage=False,
                               makesMatchedExposure=True, usesKernelSources=True)

    @hookimpl
    def diffim_subtract(self, science: Exposure, template: Exposure,
                        config: ImagePsfMatchConfig, convolveTemplate: bool,
                        kernelSources: Table | None,
                        rng: np.random.Generator) -> SubtractionResult:
        """Fit the matching kernel and return the difference (see :mod:`diffim.hookspecs`).

        Parameters
        ----------
        science : Exposure
            Science exposure with PSF and variance; not modified.
        template : Exposure
            Template on the science pixel grid (NO_DATA, possibly NaN, where it has no
            pixels), with PSF and variance; not modified.
        config : ImagePsfMatchConfig
            The config.
        convolveTemplate : bool
            Convolve the template (True) or the science image (False).
        kernelSources : astropy.table.Table or None
            Stars to fit the kernel on (``x``, ``y`` columns); None detects them on the
            science image.
        rng : numpy.random.Generator
            Unused: the fit is deterministic.

        Returns
        -------
        SubtractionResult
            Difference, the template as given (``warpedExposure``), the convolved image
            (``matchedExposure``), the kernel (its ``background`` attribute holds the
            differential background), the per-candidate residuals in
            ``kernelCandidates`` (:mod:`diffim_al.qa`, made when asked for) and
            diagnostics in ``metadata``.

        Raises
        ------
        diffim.errors.InputError
            If the images differ in shape or lack a PSF or variance.
        diffim.errors.InsufficientKernelSourcesError
            If no candidate star survives the fit.
        KernelFitError
            If the fitted kernel sum is not positive.
        """
        config.validate()
        checkSubtractionPair(science, template, "al")
        planes = science.maskPlanes.copy()
        for name in ("NO_DATA", "EDGE"):
            planes.add(name)
        noDataBit = planes.bitmask("NO_DATA")
        sciencePlane = _Plane.of(science, science.mask, noDataBit)
        templatePlane = _Plane.of(template, remapMask(template.mask, template.maskPlanes, planes),
                                  noDataBit)
        reference, toConvolve = ((sciencePlane, templatePlane) if convolveTemplate
                                 else (templatePlane, sciencePlane))

        shape = basisShape(config, toConvolve.exposure.psf.sigma(), reference.exposure.psf.sigma())
        basis = makeKernelBasis(shape)
        grownMask = startJob(lambda: self._grownMask(toConvolve, basis.kernelSize, planes))
        solver, solution, counts = self._fitKernel(sciencePlane, templatePlane, reference,
                                                   toConvolve, basis, config, planes,
                                                   kernelSources)
        kernel = solution.kernel
        if not kernel.kernelSum > 0:
            raise KernelFitError(f"fitted kernel sum {kernel.kernelSum:.4g} is not positive; "
                                 f"the images do not match (check PSFs, masks, kernelSources)")

        matched = self._convolve(toConvolve, reference, kernel, grownMask(), planes)
        difference = self._difference(science, reference, matched, kernel, convolveTemplate,
                                      planes)
        metadata = self._metadata(shape, solution, counts, convolveTemplate)
        return SubtractionResult(subtractedExposure=difference, warpedExposure=template,
                                 matchedExposure=matched, psfMatchingKernel=kernel,
                                 convolvedScience=not convolveTemplate,
                                 nKernelStars=solution.nUsed,
                                 fluxScaleError=solution.kernelSumError, metadata=metadata,
                                 kernelCandidates=functools.partial(
                                     kernelCandidateQa, solver, kernel, convolveTemplate))

    # --- fitting ----------------------------------------------------------------
    def _fitKernel(self, sciencePlane: _Plane, templatePlane: _Plane, reference: _Plane,
                   toConvolve: _Plane, basis: KernelBasis, config: ImagePsfMatchConfig,
                   planes: MaskPlanes,
                   kernelSources: Table | None
                   ) -> tuple[KernelSolver, KernelSolution, dict[str, object]]:
        """Find the candidates and run the solution loop.

        Returns the solver (for the candidate QA), its solution and the candidate counts.
        """
        science = sciencePlane.exposure
        badBits = _badBits(config, planes)
        scienceBad = ((sciencePlane.mask & badBits) != 0) | sciencePlane.missing
        scienceBad |= ~(science.variance > 0)
        if kernelSources is None:
            x, y = detectStars(science.image, science.variance, scienceBad,
                               science.psf.at(*science.center), config)
            source = "detected"
        else:
            x, y = sourcePositions(kernelSources)
            source = "kernelSources"
        templateBad = ((templatePlane.mask & badBits) != 0) | templatePlane.missing
        templateBad |= ~(templatePlane.variance > 0)
        template = templatePlane.exposure
        shown = shownByTemplate(x, y, template.image, template.variance, templateBad,
                                template.psf.at(*template.center))
        x, y = x[shown], y[shown]
        rejectPixels = scienceBad | templateBad

        stampHalf = (int(config.fpGrowKernelScaling * basis.kernelSize + 0.5)
                     if config.scaleByFwhm else config.fpGrowPix)
        if stampHalf <= basis.halfWidth:
            raise ConfigError(f"candidate stamps of half-size {stampHalf} leave nothing to fit "
                              f"with a {basis.kernelSize}-pixel kernel; raise fpGrowPix")
        height, width = science.shape
        if 2 * stampHalf + 1 > min(height, width):
            raise InputError(f"the {basis.kernelSize}-pixel matching kernel needs "
                             f"{2 * stampHalf + 1}-pixel candidate stamps, more than the "
                             f"{width}x{height} pixel image holds; lower kernelSizeMax (or "
                             f"kernelSize with scaleByFwhm=False) and fpGrowKernelScaling / "
                             f"fpGrowPix, or give a larger image")
        candidates, nMasked = makeCandidates(x, y, stampHalf, rejectPixels, science.image,
                                             science.variance, config)
        fitter = StampFitter(reference.image, reference.variance, toConvolve.image,
                             toConvolve.variance, candidates, basis, config.fitForBackground,
                             config.constantVarianceWeighting,
                             config.candidateCoreRadius if config.useCoreStats else None)
        centroidSigma = float(np.hypot(reference.exposure.psf.sigma(),
                                       toConvolve.exposure.psf.sigma()))
        note = (f"al's own star detection found {len(shown)} stars, {len(x)} shown by the "
                f"template, {len(candidates)} with "
                f"clean stamps (it skips footprints over fpNpixMax={config.fpNpixMax} pixels: "
                f"blends, and most stars when the seeing is broad; lower detThreshold or let "
                f"the sourceSelector choose kernel stars with doSelectSources=True)"
                if source == "detected" else
                f"{len(shown)} kernelSources given, {len(x)} shown by the template, "
                f"{len(candidates)} with clean stamps")
        solver = KernelSolver(fitter, candidates, config, science.shape, centroidSigma, note)
        solution = solver.solve()
        counts = {"ALCandidateSource": source, "ALCandidatesFound": int(len(shown)),
                  "ALCandidatesNotInTemplate": int(np.count_nonzero(~shown)),
                  "ALCandidatesMasked": nMasked}
        return solver, solution, counts

    # --- applying -----------------------------------------------------------------
    @staticmethod
    def _grownMask(toConvolve: _Plane, kernelSize: int, planes: MaskPlanes) -> np.ndarray:
        """The mask of the convolved image: every plane but ``UNGROWN_PLANES`` (and NO_DATA
        on missing pixels) grown by the kernel half-width, the border NO_DATA and EDGE."""
        noDataBit = planes.bitmask("NO_DATA")
        grown = ~planes.bitmask(UNGROWN_PLANES, "subtract")
        mask = growMaskBits(toConvolve.maskWithMissing(noDataBit), grown, kernelSize // 2)
        mask[borderPixels(mask.shape, kernelSize // 2)] |= planes.bitmask(["NO_DATA", "EDGE"])
        return mask

    def _convolve(self, toConvolve: _Plane, reference: _Plane, kernel: SpatialMatchingKernel,
                  mask: np.ndarray, planes: MaskPlanes) -> Exposure:
        """The convolved image as an exposure matched to ``reference``, with ``mask``
        (:meth:`_grownMask`, made while the kernel was fitted)."""
        noDataBit = planes.bitmask("NO_DATA")
        missing = toConvolve.missing
        image = convolveImage(np.where(missing, np.float32(0.0), toConvolve.image), kernel)
        variance = convolveVariance(np.where(missing, np.float32(0.0), toConvolve.variance),
                                    kernel)
        _blank(image, variance, mask, noDataBit)
        source, target = toConvolve.exposure, reference.exposure
        return Exposure(image=image, mask=mask, variance=variance, psf=target.psf.copy(),
                        wcs=None if target.wcs is None else target.wcs.deepcopy(),
                        photoCalib=target.photoCalib, filter=source.filter,
                        obsDate=source.obsDate, metadata={}, maskPlanes=planes.copy())

    def _difference(self, science: Exposure, reference: _Plane, matched: Exposure,
                    kernel: SpatialMatchingKernel, convolveTemplate: bool,
                    planes: MaskPlanes) -> Exposure:
        """The difference on the science flux scale, positive where the science is brighter."""
        noDataBit = planes.bitmask("NO_DATA")
        background = (kernel.background.image() if kernel.background is not None
                      else np.float32(0.0))
        mask = matched.mask | reference.maskWithMissing(noDataBit)
        if convolveTemplate:
            image = science.image - matched.image
            image -= background
            variance = science.variance + matched.variance
            psf = science.psf.copy()
        else:
            scale = np.float32(kernel.kernelSum)
            image = matched.image + background
            image -= reference.image
            image /= scale
            variance = matched.variance + reference.variance
            variance /= scale * scale
            psf = reference.exposure.psf.copy()
        _blank(image, variance, mask, noDataBit)
        return Exposure(image=image, mask=mask, variance=variance, psf=psf,
                        wcs=None if science.wcs is None else science.wcs.deepcopy(),
                        photoCalib=science.photoCalib, filter=science.filter,
                        obsDate=science.obsDate, metadata=copy.deepcopy(science.metadata),
                        maskPlanes=planes.copy())

    @staticmethod
    def _metadata(shape: BasisShape, solution: KernelSolution, counts: dict[str, object],
                  convolveTemplate: bool) -> dict[str, object]:
        return {
            "ALBasisNGauss": len(shape.sigmas),
            "ALBasisDegGauss": list(shape.degrees),
            "ALBasisSigGauss": [float(s) for s in shape.sigmas],
            "ALKernelSize": shape.kernelSize,
            "ALBasisMode": shape.mode,
            "ALConvolveTemplate": bool(convolveTemplate),
            "ALKernelSum": solution.kernel.kernelSum,
            **counts,
            "ALCandidatesUsed": solution.nUsed,
            "ALCandidatesRejected": solution.nRejected,
            "ALKernelSumError": solution.kernelSumError,
            "ALKernelSumOutliers": [[round(x, 1), round(y, 1)]
                                    for x, y in solution.kernelSumOutliers],
            "ALSpatialKernelOrder": solution.spatialKernelOrder,
            "ALSpatialBgOrder": solution.spatialBgOrder,
            "ALSpatialFallback": solution.spatialFallback,
            "ALSpatialIterations": solution.iterations,
            "ALSpatialResidualMean": solution.residualMean,
            "ALSpatialResidualStd": solution.residualStd,
        }


def _blank(image: np.ndarray, variance: np.ndarray, mask: np.ndarray, noDataBit: int) -> None:
    """Set NaN image and infinite variance wherever the mask says NO_DATA (in place)."""
    missing = (mask & noDataBit) != 0
    np.copyto(image, np.float32(np.nan), where=missing)
    np.copyto(variance, np.float32(np.inf), where=missing)
