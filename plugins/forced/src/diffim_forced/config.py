"""Config of the ``psf`` forcedMeasurement plugin (LSST ``base_PsfFlux`` in forced mode)."""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField


class PsfForcedMeasurementConfig(Config):
    """Which science pixels the forced PSF fit may use."""

    badMaskPlanes = ListField(
        "Mask planes whose pixels are left out of the PSF fit on the science exposure. "
        "Non-finite pixels are always left out. LSST's base_PsfFlux drops none by default; "
        "diffim drops NO_DATA because the core sanitises NaN pixels to 0 with NO_DATA set, and "
        "fitting those zeros would bias the flux low. A source whose PSF stamp covers only "
        "dropped pixels gets flag_noGoodPixels.",
        str, default=["NO_DATA"])
    doSubtractBackground = Field(
        "Subtract a smooth sky from (a copy of) the science image before the fit: the clipped "
        "mode in backgroundBinSize cells, re-estimated with the detected sources (grown by one "
        "PSF FWHM) left out. LSST measures calexps that are already background-subtracted and "
        "does not do this; keep it on unless the science exposure's sky is already removed, "
        "since the PSF flux of a pixel pedestal b is b * area (the effective PSF area).",
        bool, default=True)
    backgroundBinSize = RangeField(
        "Cell size (pixels) of the sky estimate; larger than a few PSF FWHM so sources do not "
        "dominate a cell, smaller than the scale on which the sky changes.",
        int, default=64, min=8)
