"""Config of the ``stars`` PSF measurement."""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField


class StarPsfConfig(Config):
    """How the PSF of an image is measured from its stars (field docs are the user's docs)."""

    spatialOrder = RangeField("Polynomial order of the PSF variation across the image (0: one "
                              "PSF for the whole image). With fewer than three usable stars per "
                              "polynomial term a constant PSF is measured instead (logged).",
                              int, 0, min=0, max=4)
    stampSize = RangeField("Width of the PSF stamp in pixels (made odd); 0 chooses "
                           "2*ceil(3*FWHM)+1, within [11, 65] and the image size.", int, 0,
                           min=0)
    maxStars = RangeField("Use at most this many stars (the highest S/N ones).", int, 500, min=1)
    minStars = RangeField("Fewer usable stars than this: the PSF is not measured from stars "
                          "(see useSeeingFallback).", int, 5, min=1)
    minSnr = RangeField("Lowest aperture signal-to-noise ratio of a PSF star.", float, 20.0,
                        min=0.0)
    detectionThreshold = RangeField("Detection threshold of the objects considered, in units "
                                    "of the pixel noise.", float, 5.0, min=0.0)
    backgroundBinSize = RangeField("Mesh size (pixels) of the sky subtracted before the stars "
                                   "are found; smaller on small images (a quarter of the "
                                   "image, at least 8).", int, 64, min=8)
    badMaskPlanes = ListField("Mask planes whose pixels never enter a PSF stamp (planes the "
                              "exposure lacks are ignored).", str,
                              ["BAD", "SAT", "CR", "NO_DATA", "SUSPECT", "INTRP", "EDGE"])
    useSeeingFallback = Field("With too few stars, use a Gaussian PSF of the seeing the header "
                              "states (PFWHM or FWHM in pixels; SEEING in arcsec with a WCS), "
                              "or else of the FWHM of the most compact sources, rather than "
                              "fail.", bool, True)
