"""Config of the ``iqr`` scaleVariance plugin (LSST ``ScaleVarianceConfig``)."""
from __future__ import annotations

from diffim.config import Config, ListField, RangeField


class IqrScaleVarianceConfig(Config):
    """Which pixels measure the noise, how the background is removed, and the sanity limit."""

    maskPlanes = ListField(
        "Mask planes whose pixels are ignored, both when estimating the background and when "
        "measuring the noise: sources (DETECTED, DETECTED_NEGATIVE) and unreliable pixels.",
        str, default=["DETECTED", "DETECTED_NEGATIVE", "BAD", "SAT", "NO_DATA", "INTRP"])
    sourcePlanes = ListField(
        "Those of maskPlanes that mark sources. In a crowded frame, where fewer than "
        "minPixels usable pixels lie outside them, they are not ignored: the noise is "
        "measured on the quietFraction of the usable pixels whose surroundings are "
        "quietest, and the run metadata says so (scale*VarianceEstimator: sourceRejected).",
        str, default=["DETECTED", "DETECTED_NEGATIVE"])
    quietFraction = RangeField(
        "In a crowded frame, the fraction of the usable pixels the noise is measured on: "
        "those whose surroundings (a square of about two PSF sigmas less the central 5x5 "
        "pixels) have the smallest mean significance squared, i.e. are farthest from "
        "sources and subtraction residuals.", float, default=0.25, min=0.0, max=1.0,
        inclusiveMin=False)
    minPixels = RangeField(
        "Fewest pixels the factor may rest on: first those free of all maskPlanes, then (a "
        "crowded frame) those free of all but sourcePlanes. With fewer of those too, the "
        "factor is 1, a WARNING names the pixel count and the run's quality is suspect.",
        int, default=1000, min=2)
    limit = RangeField(
        "Largest acceptable factor. A pixel-based factor above it is replaced by the image-based "
        "one (interquartile noise of the image over the median variance); if that is above it "
        "too, the variance plane is considered unusable and an error is raised.",
        float, default=10.0, min=0.0, inclusiveMin=False)
    binSize = RangeField(
        "Size (pixels) of the square bins of the background model that is subtracted (on a "
        "copy) before measuring the noise, so that structure larger than a bin does not "
        "widen the pixel distribution.",
        int, default=32, min=2)
