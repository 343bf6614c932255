"""Config of the ``threshold`` detection plugin (LSST ``SourceDetectionConfig`` for diffims)."""
from __future__ import annotations

from diffim.config import ChoiceField, Config, Field, ListField, RangeField


class ThresholdDetectionConfig(Config):
    """Thresholding, footprint and growing parameters.

    Defaults are the values LSST's ``ImageDifferenceTask`` runs its
    ``SourceDetectionTask`` with: both polarities, a 5-sigma per-pixel cut on
    the PSF-smoothed difference, no background re-estimation.
    """

    thresholdValue = RangeField(
        "Detection threshold, in the units set by thresholdType: a pixel of the (smoothed) "
        "detection image is above threshold when its value is at least thresholdValue times "
        "the noise level.",
        float, default=5.0, min=0.0, inclusiveMin=False)
    thresholdType = ChoiceField(
        "How thresholdValue is turned into a level on the detection image.",
        str, default="pixel_stdev",
        allowed={
            "pixel_stdev": "per pixel: thresholdValue x sqrt(variance plane) of that pixel "
                           "(after smoothing, the smoothed variance)",
            "stdev": "thresholdValue x the 3-sigma-clipped standard deviation of the detection "
                     "image, pixels in statsMask excluded",
            "variance": "thresholdValue x the square root of the 3-sigma-clipped variance of the "
                        "detection image over every searched pixel (statsMask not applied)",
            "value": "thresholdValue itself, in image units (counts)",
        })
    thresholdPolarity = ChoiceField(
        "Which sign of sources to detect.",
        str, default="both",
        allowed={
            "positive": "sources brighter than the template (positive pixels) only",
            "negative": "sources fainter than the template (negative pixels) only",
            "both": "positive and negative sources",
        })
    includeThresholdMultiplier = RangeField(
        "A footprint (the connected pixels above thresholdValue) is kept only when at least one "
        "of its pixels reaches thresholdValue x includeThresholdMultiplier; 1 keeps every "
        "footprint, larger values demand a brighter peak without shrinking the footprints.",
        float, default=1.0, min=0.0, inclusiveMin=False)
    minPixels = RangeField(
        "Minimum number of above-threshold pixels in a footprint (before growing).",
        int, default=1, min=1)
    nSigmaToGrow = RangeField(
        "Grow every footprint by int(nSigmaToGrow x PSF sigma + 0.5) pixels after detection "
        "(PSF sigma is the determinant radius); 0 keeps the above-threshold pixels only.",
        float, default=2.4, min=0.0)
    isotropicGrow = Field(
        "Grow footprints by a disc (True) instead of the faster Manhattan diamond (False).",
        bool, default=False)
    combinedGrow = Field(
        "Grow the footprint set as a whole, so that footprints which touch after growing become "
        "one source (True); otherwise grow each footprint on its own and give a pixel claimed by "
        "several to the nearest one.",
        bool, default=True)
    doDeblend = Field(
        "Split a footprint that holds several significant peaks into one diaSource per peak "
        "(beyond LSST, whose difference-image detection keeps one source per footprint). "
        "The peaks' amplitudes are fitted jointly with the detection image's response to a "
        "point source (the PSF, filtered as the detection image is), peaks whose own "
        "amplitude stays below thresholdValue are dropped, and the footprint's pixels go to "
        "the child whose fitted profile is brightest there. A source whose peak reaches "
        "twice thresholdValue is then fitted on the unsmoothed image with one and with two "
        "point sources, and split when two fit better by thresholdValue squared in "
        "chi-square and each is significant on its own (two transients closer than two "
        "PSF sigmas make one peak). Near saturated, bad or missing pixels, peaks that look "
        "like a point source on a smooth background are kept, and of the others only the "
        "brightest. Children carry the number of "
        "their blend in 'parent' and the number of children in 'deblend_nChild'. With "
        "doMerge, a positive and a negative child become one dipole when their footprints, "
        "grown by growFootprint, touch and each is the other's nearest.",
        bool, default=True)
    nSigmaForKernel = RangeField(
        "Width of the smoothing kernel in PSF sigmas: the Gaussian stamp is "
        "2 x (int(nSigmaForKernel x sigma + 0.5) // 2) + 1 pixels wide, and a border of half "
        "that width, which cannot be smoothed, is marked EDGE and not searched.",
        float, default=7.0, min=0.0, inclusiveMin=False)
    doScaleToMeasuredNoise = Field(
        "Measure the noise of the detection image itself (the robust width of its "
        "significance over the pixels outside statsMask) and, where it exceeds what the "
        "variance plane predicts by more than 5 % (noise correlated between pixels, as in "
        "resampled or drizzled images), raise the thresholds and the PSF-flux errors by that "
        "ratio; the task scales the variance the measurements use by its square. Never lowers "
        "them. The ratio is recorded as detection.noiseRatio (beyond LSST).",
        bool, default=True)
    maxNoiseCorrection = RangeField(
        "Largest measured noise ratio doScaleToMeasuredNoise takes as correlated noise. "
        "Resampling and drizzling raise the noise at the PSF scale by up to about 2-3 times "
        "what the variance plane says; a larger excess comes from signal left in the "
        "difference (a crowded field's residuals, a background or PSF-matching failure), "
        "which no threshold should hide: the thresholds are then left as they are and the "
        "quality check reports the result suspect (beyond LSST).",
        float, default=3.0, min=1.0)
    statsMask = ListField(
        "Mask planes whose pixels are left out of the clipped image statistics of the 'stdev' "
        "thresholdType and of doScaleToMeasuredNoise.",
        str, default=["BAD", "SAT", "EDGE", "NO_DATA"])
