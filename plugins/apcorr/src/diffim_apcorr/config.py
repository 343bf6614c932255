"""Config of the ``apCorr`` applyApCorr plugin (LSST ``ApplyApCorrConfig`` plus the measurement)."""
from __future__ import annotations

from diffim.config import ChoiceField, Config, Field, ListField, RangeField


class ApplyApCorrConfig(Config):
    """Which fluxes to correct, and how the correction is measured on the science stars."""

    fluxFields = ListField(
        "PSF-flux columns of the diaSources to correct; those absent from the table are "
        "skipped. The error column is the flux column's name plus 'Err'; the algorithm name is "
        "the flux column's name without a trailing '_instFlux' (psfFlux -> psfFlux, "
        "base_PsfFlux_instFlux -> base_PsfFlux), and names the added columns <alg>_apCorr, "
        "<alg>_apCorrErr, <alg>_flag_apCorr and the flux flag <alg>_flag. Only PSF-model "
        "fluxes belong here: the one correction measured is that of a PSF flux.",
        str, default=["psfFlux", "base_PsfFlux_instFlux"])
    ignoreList = ListField(
        "Flux columns or algorithm names (as in fluxFields) to leave uncorrected.",
        str, default=[])
    doFlagApCorrFailures = Field(
        "Set the flux flag <alg>_flag (when the table has it) of a source whose correction "
        "could not be evaluated, as well as <alg>_flag_apCorr.",
        bool, default=True)
    apertureRadius = RangeField(
        "Radius of the aperture whose flux the PSF flux is corrected to, in apertureRadiusUnit. "
        "It should hold (nearly) all of a star's light: the corrected fluxes are then total "
        "fluxes. 3 FWHM misses about 0.3% of a Moffat (beta = 3) star.",
        float, default=3.0, min=0.0, inclusiveMin=False)
    apertureRadiusUnit = ChoiceField(
        "Unit of apertureRadius.", str,
        allowed={"fwhm": "the FWHM of the science PSF model at its average position "
                         "(of the Gaussian with the same second moments, so broad wings "
                         "widen it)",
                 "pixel": "pixels"},
        default="fwhm")
    fitOrder = RangeField(
        "Order of the 2-D Chebyshev polynomial (terms T_i(x) T_j(y) with i + j <= fitOrder) "
        "fitted to the star ratios across the image; 0 is one number for the whole image. "
        "With doSelectOrder it is the highest order tried.",
        int, default=2, min=0)
    doSelectOrder = Field(
        "Fit the lowest order from 0 to fitOrder that predicts left-out stars about as well "
        "as the best one (leave-one-out cross-validation, one-standard-error rule) instead "
        "of always fitOrder (LSST). An image with a few dozen stars cannot pin down six "
        "terms: the corners of an order-2 fit then swing by several per cent. The stars "
        "needed (fit terms + minDegreesOfFreedom) are still counted for fitOrder.",
        bool, default=True)
    numIter = RangeField(
        "Clip-and-refit iterations of the spatial fit.", int, default=4, min=1)
    numSigmaClip = RangeField(
        "Stars whose ratio differs from the fit by more than this many times its error "
        "(times the robust spread of all stars' normalised residuals, when that exceeds 1) "
        "are rejected.",
        float, default=3.0, min=0.0, inclusiveMin=False)
    minDegreesOfFreedom = RangeField(
        "Stars needed beyond the number of fit terms; with fewer, a lower order is fitted, "
        "and with too few even for a constant the fluxes are flagged "
        "(doFlagApCorrFailures) or InsufficientApCorrStarsError is raised.",
        int, default=1, min=0)
    minSignalToNoise = RangeField(
        "Smallest aperture-flux S/N of a star used for the correction.",
        float, default=30.0, min=0.0)
    detectionThreshold = RangeField(
        "PSF-matched-filter S/N above which a local maximum is a candidate star or a "
        "neighbour that could spoil a star's aperture.",
        float, default=5.0, min=0.0, inclusiveMin=False)
    maxNeighbourFluxRatio = RangeField(
        "Isolation: a star is rejected when the other peaks within the aperture radius plus "
        "one PSF FWHM together have more than this fraction of its (PSF) flux, or when one "
        "sector of its aperture holds this fraction more light than the others (a neighbour "
        "on its slope that makes no peak of its own).",
        float, default=0.002, min=0.0)
    badMaskPlanes = ListField(
        "A star with a pixel of any of these planes inside its aperture is not used "
        "(saturated, defective, interpolated or missing data).",
        str, default=["SAT", "BAD", "NO_DATA", "CR", "INTRP", "EDGE", "SUSPECT"])
    backgroundBinSize = RangeField(
        "Cell size (pixels) of the sky subtracted (on a copy) from the science image before "
        "the stars are measured.",
        int, default=64, min=8)
