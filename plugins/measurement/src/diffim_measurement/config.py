"""Configs of the measurement plugins: base measurements, and the dipole model on top."""
from __future__ import annotations

import math

from diffim.config import ChoiceField, Config, Field, ListField, RangeField


class PsfMeasurementConfig(Config):
    """Base measurements of every diaSource (the ``psf`` plugin; also used by ``dipole``)."""

    badMaskPlanes = ListField(
        "Mask planes whose pixels are left out of the PSF, aperture, centroid and shape "
        "measurements on the difference image. Non-finite pixels and pixels with a variance "
        "that is not positive are always left out. diffim drops NO_DATA because the core "
        "sanitises NaN pixels to 0 with NO_DATA set, and measuring those zeros would bias "
        "fluxes towards 0.",
        str, default=["NO_DATA"])
    apertureRadii = ListField(
        "Radii (pixels) of the circular apertures; each radius r gives the columns "
        "base_CircularApertureFlux_<r>_instFlux (r written with '_' for the decimal point, "
        "e.g. 4_5). LSST's list goes on to 35, 50 and 70 pixels; on a difference image such "
        "apertures mostly sum the residuals of neighbours, and they cost the most time.",
        float, default=[3.0, 4.5, 6.0, 9.0, 12.0, 17.0, 25.0],
        itemCheck=lambda r: r > 0)
    sharpNoiseMargin = RangeField(
        "Sigmas in the PSF's favour for ip_diffim_flag_sharp: the brightest pixel of a "
        "diaSource is lowered, and the mean of each pair of its opposite neighbours raised, "
        "by this many of their noise sigmas before the test (beyond LSST; LSST's cosmic-ray "
        "finder uses 2.5 the same way).",
        float, default=2.5, min=0.0)
    sharpNeighbourFraction = RangeField(
        "ip_diffim_flag_sharp is set when, for some pair of opposite neighbours of the "
        "brightest pixel, their mean is below this fraction of what the PSF predicts from "
        "that pixel: a cosmic ray, a hot pixel or another change sharper than the PSF. Below "
        "1, it leaves room for a PSF model a little broader than the truth (beyond LSST).",
        float, default=0.5, min=0.0, max=1.0, inclusiveMin=False)


class DipoleMeasurementConfig(PsfMeasurementConfig):
    """Base measurements plus the dipole model (LSST ``DipoleFitTask``).

    Defaults are LSST's ``DipoleFitPluginConfig`` values.
    """

    fitAllDiaSources = Field(
        "Fit the dipole model to every diaSource, not only to those whose footprint holds "
        "peaks of both signs (isDipoleCandidate). Sky sources are never fitted.",
        bool, default=False)
    maxSeparation = RangeField(
        "How far (in difference-PSF sigmas) each lobe centre may end from its starting peak "
        "along each axis: a fit that moves a lobe farther has failed (the source is not a "
        "dipole of two nearby PSFs).",
        float, default=5.0, min=0.0, inclusiveMin=False)
    relWeight = RangeField(
        "Weight of the science and PSF-matched template cut-outs relative to the difference "
        "cut-out. With relWeight > 0 the science image constrains the positive lobe and the "
        "matched template the negative lobe, which separates flux from lobe separation for "
        "close pairs; 0 fits the difference image alone (also what happens without a "
        "matched template, e.g. for ZOGY).",
        float, default=0.5, min=0.0)
    tolerance = RangeField(
        "Convergence tolerance of the least-squares fit (ftol, xtol and gtol of "
        "scipy.optimize.least_squares).",
        float, default=1e-7, min=0.0, inclusiveMin=False)
    fitBackground = ChoiceField(
        "Background of the science and matched-template cut-outs, fitted together with the "
        "dipole (the difference image has none). LSST's value 1 pre-fits a plane to the whole "
        "cut-out, source included, which biases it towards the source; here the terms are "
        "always fitted jointly.",
        int, default=1,
        allowed={0: "no background: the cut-outs are used as they are",
                 1: "a constant for each cut-out",
                 2: "a plane (constant and x, y gradients) for each cut-out"})
    fitSeparateNegParams = Field(
        "Fit the negative lobe's flux separately from the positive lobe's (a moving source "
        "that also changed brightness); otherwise both lobes have one flux.",
        bool, default=False)
    minSn = RangeField(
        "Minimum signal-to-noise ratio, sqrt((f+/err+)^2 + (f-/err-)^2) of the fitted lobe "
        "fluxes, for a source to be classified as a dipole.",
        float, default=math.sqrt(2.0) * 5.0, min=0.0)
    maxFluxRatio = RangeField(
        "Maximum share of each lobe in the dipole flux, |f| / (|f+| + |f-|), for a source to "
        "be classified as a dipole; 0.5 for equal lobes. Acts only with fitSeparateNegParams.",
        float, default=0.65, min=0.5, max=1.0)
