"""Config of the ``matcher`` astrometer: the reference catalog and how to match it."""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField
from diffim.errors import ConfigError


class ReferenceMatcherConfig(Config):
    """Where the reference catalog is, how its columns are named, and the match radius."""

    refCatalog = Field(
        "Path of the reference catalog: any table astropy can read by its extension (FITS "
        "binary table, ECSV, ...), one row per star, positions in degrees (ICRS).",
        str, default="")
    idColumn = Field(
        "Catalog column holding each star's id (returned as refId); None numbers the rows "
        "from 0 instead.",
        str, default="id", optional=True)
    raColumn = Field("Catalog column holding the right ascension (degrees).", str, default="ra")
    decColumn = Field("Catalog column holding the declination (degrees).", str, default="dec")
    pmRaColumn = Field(
        "Catalog column holding the proper motion in right ascension, mu_alpha * cos(dec), "
        "in mas/yr (as Gaia gives pmra). When the catalog has this column and pmDecColumn, "
        "positions are moved from the catalog epoch to the exposure's obsDate; without "
        "them (or with None) positions are used as they are.",
        str, default="pmra", optional=True)
    pmDecColumn = Field(
        "Catalog column holding the proper motion in declination (mas/yr).",
        str, default="pmdec", optional=True)
    epoch = Field(
        "Julian epoch (years, e.g. 2016.0 for Gaia DR3) of the catalog positions, used with "
        "proper motions unless epochColumn gives one per star.",
        float, default=2016.0)
    epochColumn = Field(
        "Catalog column holding each star's position epoch (Julian years); None uses epoch.",
        str, default=None, optional=True)
    matchRadius = RangeField(
        "Largest distance (arcsec) between a source and a reference star for them to match. "
        "The task matches both kernel-source candidates (kernelSourcesFromRef, "
        "doSelectDcrCatalog, doSelectVariableCatalog; LSST used 1.0) and, with "
        "doMatchSources, diaSources (LSST used diaSourceMatchRadius, 0.5) with this one "
        "value: set it for the use that matters to you.",
        float, default=1.0, min=0.0, inclusiveMin=False)
    magColumn = Field(
        "Catalog column holding the magnitude that magMin and magMax cut on.",
        str, default=None, optional=True)
    magMin = Field(
        "Brightest magnitude kept (needs magColumn); None: no bright limit. Stars outside "
        "the limits are removed before matching.",
        float, default=None, optional=True)
    magMax = Field(
        "Faintest magnitude kept (needs magColumn); None: no faint limit.",
        float, default=None, optional=True)
    copyColumns = ListField(
        "Catalog columns copied into every match (magnitudes, colours, variability "
        "flags, ...); empty copies every column except the id, position, proper-motion "
        "and epoch columns.",
        str, default=())

    def validate(self) -> None:
        """Check that the catalog is named and the magnitude limits have a column and order."""
        if not self.refCatalog:
            raise ConfigError("astrometer.refCatalog is not set: give the path of a reference "
                              "catalog (FITS or ECSV table with ra, dec in degrees)")
        if (self.magMin is not None or self.magMax is not None) and self.magColumn is None:
            raise ConfigError("astrometer: magMin/magMax are set but magColumn is None; name "
                              "the magnitude column they apply to")
        if self.magMin is not None and self.magMax is not None and self.magMax < self.magMin:
            raise ConfigError(f"astrometer: magMax={self.magMax} is below magMin={self.magMin}")
        if (self.pmRaColumn is None) != (self.pmDecColumn is None):
            raise ConfigError("astrometer: set both pmRaColumn and pmDecColumn, or neither")
