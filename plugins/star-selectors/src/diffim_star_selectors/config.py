"""Configs of the kernel-star selectors.

Every selector detects and measures the science sources itself when the task
gives none, so all configs share :class:`SourceMeasurementConfig`; the quality
cuts every selector applies (flags, isolation) live in
:class:`StarSelectorConfig`.
"""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField
from diffim.errors import ConfigError

#: Flag columns that disqualify a kernel star by default (LSST's PixelFlags list:
#: edge, interpolated, saturated, cosmic ray, bad).
DEFAULT_BAD_FLAGS = ("flag_edge", "flag_interpolated", "flag_saturated", "flag_cr", "flag_bad")


class SourceMeasurementConfig(Config):
    """How science sources are detected and measured when the task passes none."""

    detectionThreshold = RangeField(
        "Detection threshold in units of the sky noise of the detection image (the "
        "background-subtracted image smoothed by a Gaussian half as wide as the PSF): a "
        "pixel whose smoothed value reaches this many sky sigmas is part of a source.",
        float, default=5.0, min=0.0, inclusiveMin=False)
    minArea = RangeField(
        "Fewest connected pixels above the threshold that make a source.",
        int, default=5, min=1)
    deblendContrast = RangeField(
        "Smallest fraction of a source's flux a sub-peak must hold to be split off as a "
        "separate (deblended, flag_blended) source; 1 turns deblending off.",
        float, default=0.005, min=0.0, max=1.0)
    backgroundBinSize = RangeField(
        "Size (pixels) of the square cells of the background mesh subtracted (from a copy "
        "of the image) before detection and measurement.",
        int, default=64, min=8)


class StarSelectorConfig(SourceMeasurementConfig):
    """Cuts shared by every selector: bad flags and isolation from neighbours."""

    badFlags = ListField(
        "Boolean columns of the source catalog that reject a source when True. The "
        "selectors' own measurement writes flag_edge (footprint touches the image border, "
        "an EDGE or a NO_DATA pixel), flag_saturated (touches a SAT pixel), "
        "flag_interpolated (INTRP), flag_cr (CR), flag_bad (BAD), flag_blended (split from "
        "a neighbour by deblending) and flag_shape (adaptive moments did not converge). A "
        "catalog given to the task must have every column listed here.",
        str, default=DEFAULT_BAD_FLAGS)
    isolationRadius = RangeField(
        "Distance (pixels) within which a source may have no other source of the catalog; "
        "a kernel-fitting stamp must hold one star, not a star and part of its neighbour. "
        "0 turns the isolation cut off.",
        float, default=10.0, min=0.0)
    neighbourThreshold = RangeField(
        "Largest significance (sky sigmas of the PSF-filtered residual) that a local maximum "
        "of the residual of a PSF fit to a star may reach between 1.5 PSF sigmas and "
        "isolationRadius from its centre; a higher one is a neighbour (faint star, cosmic "
        "ray, defect) that detection merged into the star's wing. Needs the exposure PSF; "
        "None skips this check.",
        float, default=5.0, min=0.0, inclusiveMin=False, optional=True)
    psfResidualFraction = RangeField(
        "The neighbour threshold is raised to this fraction of the star's own significance, "
        "so that the PSF-model errors of bright stars are not taken for neighbours.",
        float, default=0.02, min=0.0)


class ObjectSizeStarSelectorConfig(StarSelectorConfig):
    """LSST ``ObjectSizeStarSelectorConfig``: stars are the narrowest cluster of object widths."""

    doFluxLimit = Field(
        "Reject sources whose sourceFluxField is outside [fluxMin, fluxMax].",
        bool, default=True)
    fluxMin = RangeField(
        "Smallest flux (counts, sourceFluxField) of a star, with doFluxLimit.",
        float, default=12500.0, min=0.0)
    fluxMax = RangeField(
        "Largest flux (counts, sourceFluxField) of a star, with doFluxLimit; 0 means no "
        "upper limit.",
        float, default=0.0, min=0.0)
    doSignalToNoiseLimit = Field(
        "Reject sources whose signal to noise (signalToNoiseFluxField over "
        "signalToNoiseErrField) is outside [signalToNoiseMin, signalToNoiseMax].",
        bool, default=False)
    signalToNoiseMin = RangeField(
        "Smallest signal to noise of a star, with doSignalToNoiseLimit.",
        float, default=50.0, min=0.0)
    signalToNoiseMax = RangeField(
        "Largest signal to noise of a star, with doSignalToNoiseLimit; 0 means no upper "
        "limit.",
        float, default=0.0, min=0.0)
    widthMin = RangeField(
        "Smallest width sqrt((Ixx + Iyy) / 2) (pixels) a source may have to enter the "
        "clustering.",
        float, default=0.0, min=0.0)
    widthMax = RangeField(
        "Largest width sqrt((Ixx + Iyy) / 2) (pixels) a source may have to enter the "
        "clustering.",
        float, default=10.0, min=0.0, inclusiveMin=False)
    sourceFluxField = Field(
        "Catalog column holding the flux (counts) compared with fluxMin and fluxMax.",
        str, default="flux")
    signalToNoiseFluxField = Field(
        "Catalog column holding the flux whose signal to noise is compared with "
        "signalToNoiseMin and signalToNoiseMax.",
        str, default="flux")
    signalToNoiseErrField = Field(
        "Catalog column holding the error of signalToNoiseFluxField.",
        str, default="fluxErr")
    widthStdAllowed = RangeField(
        "Expected fractional spread of the star widths: sets the spacing of the initial "
        "cluster centres (2 x this x the smallest centre) and stops the refinement of the "
        "star cluster once its scatter is below this fraction of its median.",
        float, default=0.15, min=0.0, inclusiveMin=False)
    nSigmaClip = RangeField(
        "Clip the star cluster at this many standard deviations (robust) from its median.",
        float, default=2.0, min=0.0, inclusiveMin=False)

    def validate(self) -> None:
        """Check that the flux, signal-to-noise and width ranges are not empty."""
        if self.fluxMax > 0 and self.fluxMax < self.fluxMin:
            raise ConfigError(f"sourceSelector: fluxMax={self.fluxMax} is below "
                              f"fluxMin={self.fluxMin}; use 0 for no upper limit")
        if self.signalToNoiseMax > 0 and self.signalToNoiseMax < self.signalToNoiseMin:
            raise ConfigError(f"sourceSelector: signalToNoiseMax={self.signalToNoiseMax} is "
                              f"below signalToNoiseMin={self.signalToNoiseMin}; use 0 for no "
                              f"upper limit")
        if self.widthMax <= self.widthMin:
            raise ConfigError(f"sourceSelector: widthMax={self.widthMax} must exceed "
                              f"widthMin={self.widthMin}")


class ScienceStarSelectorConfig(StarSelectorConfig):
    """Isolated, unsaturated point sources of high signal to noise, sized like the PSF."""

    signalToNoiseMin = RangeField(
        "Smallest signal to noise (fluxField over fluxErrField) of a kernel star.",
        float, default=50.0, min=0.0)
    fluxField = Field(
        "Catalog column holding the flux whose signal to noise is cut on.",
        str, default="flux")
    fluxErrField = Field(
        "Catalog column holding the error of fluxField.",
        str, default="fluxErr")
    sizeTolerance = RangeField(
        "Largest fractional difference between a source's width sqrt((Ixx + Iyy) / 2) and "
        "the width of the exposure's PSF model at its position (both adaptive moments): "
        "narrower sources are cosmic rays or hot pixels, wider ones galaxies or blends.",
        float, default=0.15, min=0.0, inclusiveMin=False)
    maxCount = RangeField(
        "Most stars returned, the ones of highest signal to noise; 0 returns all.",
        int, default=500, min=0)


class CatalogStarSelectorConfig(StarSelectorConfig):
    """Stars known from the reference catalog, optionally by magnitude, colour and variability.

    The magnitude, colour and variability columns are the reference columns
    that the astrometer copied into its matches.
    """

    magField = Field(
        "Reference column holding the magnitude cut on by magMin and magMax.",
        str, default=None, optional=True)
    magMin = Field(
        "Brightest magnitude kept (needs magField); None: no bright limit.",
        float, default=None, optional=True)
    magMax = Field(
        "Faintest magnitude kept (needs magField); None: no faint limit.",
        float, default=None, optional=True)
    colorField = Field(
        "Reference column holding a colour (e.g. g - r) cut on by colorMin and colorMax, "
        "to keep stars of extreme colour (whose PSF differs through differential chromatic "
        "refraction) out of the kernel fit. With the task's doSelectDcrCatalog and its "
        "dcrColor* fields left at None, the stars outside the range become DCR control "
        "stars.",
        str, default=None, optional=True)
    colorMin = Field(
        "Bluest colour kept (needs colorField); None: no limit.",
        float, default=None, optional=True)
    colorMax = Field(
        "Reddest colour kept (needs colorField); None: no limit.",
        float, default=None, optional=True)
    variableField = Field(
        "Boolean reference column that is True for known variable stars, which are "
        "excluded; None keeps every star. With the task's doSelectVariableCatalog and its "
        "variableField left at None, the excluded variables become control stars.",
        str, default=None, optional=True)
    matchRadius = RangeField(
        "When the task passes no source catalog: the largest distance (arcsec) between a "
        "reference match (refRa, refDec) and a source detected here for them to be the "
        "same star.",
        float, default=1.0, min=0.0, inclusiveMin=False)

    def validate(self) -> None:
        """Check that the magnitude and colour limits name their column and are ordered."""
        for field, low, high in (("magField", "magMin", "magMax"),
                                 ("colorField", "colorMin", "colorMax")):
            lo, hi = getattr(self, low), getattr(self, high)
            if (lo is not None or hi is not None) and getattr(self, field) is None:
                raise ConfigError(f"sourceSelector: {low}/{high} are set but {field} is None; "
                                  f"name the reference column they apply to")
            if lo is not None and hi is not None and hi < lo:
                raise ConfigError(f"sourceSelector: {high}={hi} is below {low}={lo}")
