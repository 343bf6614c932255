"""Config of the ZOGY subtraction (LSST's ZogyConfig, plus the fields this implementation adds).

Field names and defaults follow LSST's ``ZogyConfig`` except ``correctBackground``
(True here: diffim's inputs are not guaranteed to be background-subtracted, and the
Fourier-space subtraction needs background-free images). The fields after
``gridInnerSize`` are this implementation's own.
"""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField


class ZogyConfig(Config):
    """Proper image subtraction (Zackay, Ofek & Gal-Yam 2016): flux scaling, grid, masks."""

    # --- photometric scaling ------------------------------------------------
    scaleByCalibration = Field(
        "Take the template-to-science flux ratio (F_r / F_n of the paper) from the two "
        "exposures' photoCalibs. When either exposure has none, the ratio is fitted from "
        "stars (doFitFluxScaling) or taken from templateFluxScaling / scienceFluxScaling.",
        bool, default=True)
    templateFluxScaling = RangeField(
        "Template flux zero point F_r (template counts of a unit source) used when the "
        "ratio does not come from the photoCalibs or a fit; only F_r / F_n matters.",
        float, default=1.0, min=0.0, inclusiveMin=False)
    scienceFluxScaling = RangeField(
        "Science flux zero point F_n (science counts of a unit source) used when the "
        "ratio does not come from the photoCalibs or a fit; only F_r / F_n matters.",
        float, default=1.0, min=0.0, inclusiveMin=False)
    doFitFluxScaling = Field(
        "With scaleByCalibration, when either exposure lacks a photoCalib, measure the "
        "template-to-science flux ratio from bright stars (both images convolved to a "
        "common PSF, then a robust weighted mean of the per-star flux ratios that rejects "
        "variable stars) instead of using templateFluxScaling / scienceFluxScaling.",
        bool, default=True)

    # --- backgrounds and statistics --------------------------------------------
    correctBackground = Field(
        "Remove backgrounds: subtract each image's sigma-clipped mean before the Fourier "
        "transforms (LSST's correction; missing pixels, set to zero, are then at the "
        "background level), then fit a smooth background to the difference and to the "
        "score image, where static sources cancel, and subtract it. LSST's default is "
        "False (its inputs are background-subtracted calexps and coadds).",
        bool, default=True)
    backgroundBinSize = RangeField(
        "Bin size (pixels) of the smooth background fitted to the difference and score "
        "images with correctBackground (diffim's sky estimator: clipped mean per bin, "
        "median filtered, bicubic spline); at least two bins per axis, smaller ones on an "
        "image smaller than two bins, so that a sky gradient across it is followed.",
        int, default=256, min=16)
    ignoreMaskPlanes = ListField(
        "Mask planes whose pixels are left out of every statistic (mean variances, "
        "background levels, flux-ratio stars; the stars keep DETECTED pixels). Planes an "
        "exposure does not define are skipped.",
        str, default=("INTRP", "EDGE", "DETECTED", "SAT", "CR", "BAD", "NO_DATA",
                      "DETECTED_NEGATIVE"))
    growMaskPlanes = ListField(
        "Input mask planes whose pixel values are unusable: in the difference and score "
        "images these planes (after OR-ing both inputs' masks) are grown by the radius of "
        "the kernel that made each image, since every output pixel within it used them. "
        "NO_DATA pixels are also NaN in the image and infinite in the variance.",
        str, default=("NO_DATA", "SAT", "BAD"))

    # --- PSFs and the Fourier filters --------------------------------------------
    maxPsfCentroidDist = RangeField(
        "Largest allowed distance (pixels) between the first-moment centroids of the "
        "science and template PSF images, relative to their stamp centres; ZOGY cannot "
        "absorb a shift, so a larger one is an error.",
        float, default=0.2, min=0.0)
    psfFourierFloor = RangeField(
        "Smallest constant added to both PSFs' Fourier transforms (their value at zero "
        "frequency is 1) before forming the filters. Frequencies where neither PSF carries "
        "signal then get a plain scaled difference instead of the ratio of two noise-level "
        "numbers, which keeps the kernels compact; the difference stays white. A static "
        "source keeps a residual of about this fraction of its flux, so the constant is "
        "raised (by sqrt(10) steps, up to 0.01) only while the kernels do not fit within "
        "three PSF-stamp radii, as with noisy or polynomial-fitted PSF models.",
        float, default=1.0e-5, min=0.0, max=0.01, inclusiveMin=False)

    # --- spatial grid --------------------------------------------------------------
    doSpatialGrid = Field(
        "Follow PSF variations across the image: subtract on a grid of cells, each with "
        "the PSFs and mean variances at its centre, and blend neighbouring cells with "
        "bilinear (tent) weights so that there are no seams. The difference PSF is then "
        "the same blend of the cells' PSFs. The grid is used whenever either PSF model "
        "varies across the image, whatever this field says: one PSF for the whole image "
        "would leave PSF-mismatch residuals and flux errors several times too small at "
        "high S/N (30% width variation: pulls 3.9 at S/N >= 40). True uses it for "
        "constant PSFs too (per-cell noise levels).",
        bool, default=False)
    gridInnerSize = RangeField(
        "Cell spacing of the spatial grid, in units of the border size (the kernel "
        "support, a few PSF widths).",
        float, default=8.0, min=1.0)
