"""Config of the Alard–Lupton subtraction (LSST's ImagePsfMatchConfig with the AL kernel).

Field names and class defaults follow LSST's ``PsfMatchConfigAL``; the three
fields that ``ImageDifferenceTask.setDefaults`` overrides (``fitForBackground``,
``spatialKernelOrder``, ``spatialBgOrder``) are set to the ImageDifference values
in :meth:`ImagePsfMatchConfig.setDefaults`, so those are the effective defaults.
"""
from __future__ import annotations

from diffim.config import ChoiceField, Config, Field, ListField, RangeField
from diffim.errors import ConfigError


def _odd(value: int) -> bool:
    return value % 2 == 1


class ImagePsfMatchConfig(Config):
    """Alard–Lupton PSF matching: basis, candidates, clipping and spatial model."""

    # --- kernel basis -----------------------------------------------------
    kernelBasisSet = ChoiceField(
        "Type of kernel basis. Only the Alard-Lupton basis (Gaussians times polynomials, "
        "Alard & Lupton 1998) is implemented.",
        str, {"alard-lupton": "sum of Gaussians multiplied by polynomials in (u, v)"},
        default="alard-lupton")
    kernelSize = RangeField(
        "Kernel width in pixels (odd) used when the basis is not scaled by the PSF widths: "
        "scaleByFwhm=False or both PSFs equally wide.",
        int, default=21, min=3, check=_odd)
    scaleByFwhm = Field(
        "Derive the basis Gaussian widths and the kernel size from the two PSF widths "
        "(else use alardSigGauss and kernelSize as given).",
        bool, default=True)
    kernelSizeFwhmScaling = RangeField(
        "With scaleByFwhm, kernel size = this times the widest basis Gaussian sigma "
        "(made odd, then clamped to [kernelSizeMin, kernelSizeMax]).",
        float, default=6.0, min=0.0, inclusiveMin=False)
    kernelSizeMin = RangeField(
        "Smallest kernel size (odd) allowed when scaling by FWHM.",
        int, default=21, min=3, check=_odd)
    kernelSizeMax = RangeField(
        "Largest kernel size (odd) allowed when scaling by FWHM.",
        int, default=35, min=3, check=_odd)
    alardNGauss = RangeField(
        "Number of Gaussians in the basis (convolution and config modes).",
        int, default=3, min=1)
    alardDegGauss = ListField(
        "Polynomial degree multiplying each Gaussian, one per Gaussian; degree d gives "
        "(d+1)(d+2)/2 basis functions (4, 2, 2 gives 15 + 6 + 6 = 27).",
        int, default=(4, 2, 2), minLength=1, itemCheck=lambda d: d >= 0)
    alardSigGauss = ListField(
        "Gaussian sigmas (pixels), one per Gaussian, used only when the basis is not "
        "scaled by the PSF widths.",
        float, default=(0.7, 1.5, 3.0), minLength=1, itemCheck=lambda s: s > 0)
    alardGaussBeta = RangeField(
        "Ratio between the sigmas of consecutive basis Gaussians when scaling by FWHM.",
        float, default=2.0, min=1.0, inclusiveMin=False)
    alardMinSig = RangeField(
        "Smallest matching-kernel sigma (pixels) in convolution mode; the sigma derived "
        "from the PSF widths is raised to this, and the narrowest Gaussian is sigma/beta "
        "only if that stays above it.",
        float, default=0.7, min=0.0, inclusiveMin=False)
    alardNGaussDeconv = RangeField(
        "Number of Gaussians in the deconvolution-mode basis (the image to convolve has "
        "the wider PSF): widths taken in order from the sum-of-Gaussians deconvolution "
        "series (Ulmer 2010).",
        int, default=3, min=1)
    alardDegGaussDeconv = RangeField(
        "Polynomial degree of every Gaussian in the deconvolution-mode basis.",
        int, default=3, min=0)
    alardMinSigDeconv = RangeField(
        "Smallest matching-kernel sigma (pixels) in deconvolution mode.",
        float, default=0.4, min=0.0, inclusiveMin=False)

    # --- spatial model ----------------------------------------------------
    spatialModelType = ChoiceField(
        "Functions of image position for the spatial model. Both span the same polynomials "
        "of (x, y) mapped onto [-1, 1] over the image, so the fitted model is the same; "
        "Chebyshev terms give a better-conditioned fit.",
        str, {"chebyshev1": "Chebyshev polynomials of the first kind, T_i(x) T_j(y)",
              "polynomial": "monomials x^i y^j"},
        default="chebyshev1")
    spatialKernelOrder = RangeField(
        "Order of the spatial variation of the kernel coefficients (the kernel sum stays "
        "constant). Class default 2; ImageDifferenceTask sets 1, the default here.",
        int, default=2, min=0)
    fitForBackground = Field(
        "Fit a differential background together with the kernel and subtract it. Class "
        "default False; ImageDifferenceTask sets True, the default here.",
        bool, default=False)
    spatialBgOrder = RangeField(
        "Order of the spatial variation of the differential background (with "
        "fitForBackground). Class default 1; ImageDifferenceTask sets 2, the default here.",
        int, default=1, min=0)

    # --- kernel candidates --------------------------------------------------
    sizeCellX = RangeField(
        "Width (pixels) of the cells the image is divided into; each cell contributes up "
        "to nStarPerCell kernel candidates.",
        int, default=128, min=16)
    sizeCellY = RangeField(
        "Height (pixels) of the kernel-candidate cells.",
        int, default=128, min=16)
    nStarPerCell = RangeField(
        "Kernel candidates used per cell (the best-ranked ones that are not rejected).",
        int, default=3, min=1)
    detThreshold = RangeField(
        "Detection threshold, in units of the noise of the PSF-filtered science image, for "
        "kernel candidates found when no kernelSources are given.",
        float, default=10.0, min=0.0, inclusiveMin=False)
    fpNpixMin = RangeField(
        "Fewest pixels in a detection footprint for it to become a kernel candidate.",
        int, default=5, min=1)
    fpNpixMax = RangeField(
        "Most pixels in a detection footprint for it to become a kernel candidate "
        "(larger ones are extended or saturated objects).",
        int, default=500, min=1)
    fpGrowKernelScaling = RangeField(
        "With scaleByFwhm, candidate stamp half-size = this times the kernel size "
        "(rounded), e.g. 21 for a 21-pixel kernel: 43x43 stamps.",
        float, default=1.0, min=0.5, inclusiveMin=False)
    fpGrowPix = RangeField(
        "Candidate stamp half-size (pixels) when not scaling by FWHM; must exceed half "
        "the kernel size.",
        int, default=30, min=2)
    badMaskPlanes = ListField(
        "Mask planes that disqualify a candidate stamp (in either image) and that are "
        "excluded from candidate detection.",
        str, default=("NO_DATA", "EDGE", "SAT"))

    # --- fitting and clipping ---------------------------------------------
    constantVarianceWeighting = Field(
        "Weight each stamp's fit by one number, the median of the summed variance of the "
        "two images, instead of pixel by pixel (bright stars then do not dominate).",
        bool, default=True)
    checkConditionNumber = Field(
        "Reject candidates whose normal matrix has an eigenvalue ratio above "
        "maxConditionNumber.",
        bool, default=False)
    maxConditionNumber = RangeField(
        "Largest allowed eigenvalue ratio of a candidate's normal matrix "
        "(with checkConditionNumber).",
        float, default=5.0e7, min=1.0)
    singleKernelClipping = Field(
        "Reject candidates whose own kernel leaves residuals outside "
        "candidateResidualMeanMax / candidateResidualStdMax.",
        bool, default=True)
    kernelSumClipping = Field(
        "Reject candidates whose kernel sum (their own flux ratio) departs from the "
        "ensemble's robust weighted mean by more than maxKsumSigma times its error from "
        "the pixel noise (plus 1%), combined with the ensemble's scatter beyond the errors "
        "(variable stars, transients, movers, blends; needs 3 candidates). Their positions "
        "are recorded as ALKernelSumOutliers.",
        bool, default=True)
    maxKsumSigma = RangeField(
        "Kernel-sum clipping threshold in errors (the candidate's own and the ensemble's "
        "scatter in quadrature).",
        float, default=3.0, min=0.0, inclusiveMin=False)
    kernelCentroidClipping = Field(
        "Reject candidates whose own kernel moves the star away from where the other "
        "candidates' kernels put it (a low-order polynomial in position) by more than "
        "maxKernelCentroidSigma times the centroid's error: stars that moved between the "
        "epochs, blends that differ between them. Such a candidate's stamp fits well on "
        "its own and passes the residual and kernel-sum cuts, but pulls the spatial "
        "kernel's centroid towards its own displacement. Not in LSST.",
        bool, default=True)
    maxKernelCentroidSigma = RangeField(
        "Kernel-centroid clipping threshold, in units of each candidate's centroid error "
        "(from its own fit, with 0.02 px added in quadrature).",
        float, default=5.0, min=0.0, inclusiveMin=False)
    spatialKernelClipping = Field(
        "Reject candidates whose residuals under the spatial model fall outside "
        "candidateResidualMeanMax / candidateResidualStdMax, and refit.",
        bool, default=True)
    maxSpatialIterations = RangeField(
        "Rounds of spatial fitting and candidate rejection.",
        int, default=3, min=1, max=5)
    candidateResidualMeanMax = RangeField(
        "Largest allowed |mean| of difference/sqrt(variance) over a candidate stamp.",
        float, default=0.25, min=0.0, inclusiveMin=False)
    candidateResidualStdMax = RangeField(
        "Largest allowed standard deviation of difference/sqrt(variance) over a "
        "candidate stamp.",
        float, default=1.5, min=0.0, inclusiveMin=False)
    useCoreStats = Field(
        "Compute the candidate residual statistics over the central "
        "(2*candidateCoreRadius+1)^2 box only, instead of the whole fitted stamp.",
        bool, default=False)
    candidateCoreRadius = RangeField(
        "Half-size of the candidate core box, used to rank candidates (mean signal to "
        "noise of the science image) and for useCoreStats.",
        int, default=3, min=0)

    def setDefaults(self) -> None:
        """Apply ImageDifferenceTask's overrides of the PsfMatchConfig class defaults."""
        self.fitForBackground = True
        self.spatialKernelOrder = 1
        self.spatialBgOrder = 2

    def validate(self) -> None:
        """Check the relations between fields.

        Raises
        ------
        diffim.errors.ConfigError
            If the Gaussian lists do not match ``alardNGauss``, the kernel size range is
            empty, or the stamps would be too small to fit a kernel.
        """
        if len(self.alardDegGauss) != self.alardNGauss:
            raise ConfigError(f"alardDegGauss has {len(self.alardDegGauss)} degrees; expected "
                              f"one per Gaussian (alardNGauss={self.alardNGauss})")
        if len(self.alardSigGauss) != self.alardNGauss:
            raise ConfigError(f"alardSigGauss has {len(self.alardSigGauss)} sigmas; expected "
                              f"one per Gaussian (alardNGauss={self.alardNGauss})")
        if self.kernelSizeMin > self.kernelSizeMax:
            raise ConfigError(f"kernelSizeMin={self.kernelSizeMin} exceeds "
                              f"kernelSizeMax={self.kernelSizeMax}")
        if not self.scaleByFwhm and self.fpGrowPix <= self.kernelSize // 2:
            raise ConfigError(f"fpGrowPix={self.fpGrowPix} must exceed half the kernel size "
                              f"({self.kernelSize // 2}) to leave pixels to fit")
