"""Config of the ``sip`` register plugin (LSST ``RegisterConfig`` plus star-pattern matching)."""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField


class SipRegisterConfig(Config):
    """How stars are detected and matched, and how the transformation is fitted."""

    detectionThreshold = RangeField(
        "Detection threshold of the star finder, in units of the per-pixel noise "
        "(square root of the variance plane) of the PSF-filtered, background-subtracted image.",
        float, default=5.0, min=0.0, inclusiveMin=False)
    minSnr = RangeField(
        "Smallest aperture signal-to-noise ratio of a star used in the fit; fainter stars "
        "have centroids too noisy to constrain a transformation to a few hundredths of a "
        "pixel.", float, default=20.0, min=0.0)
    maxStars = RangeField(
        "Number of stars of each exposure used in the fit: the brightest usable "
        "(unsaturated, point-like, above minSnr) ones.", int, default=500, min=3)
    badMaskPlanes = ListField(
        "Mask planes whose pixels are ignored when detecting and centroiding stars. "
        "Saturated (SAT) stars are detected but kept out of the fit.",
        str, default=["NO_DATA", "BAD"])
    useWcs = Field(
        "Match stars by sky position when both exposures have a celestial WCS, and fit a "
        "TAN-SIP WCS to the template. False ignores the WCSs: stars are matched by pattern "
        "and a polynomial pixel transformation is fitted.", bool, default=True)
    matchRadius = RangeField(
        "Largest separation (arcsec) between a science star and a template star placed on "
        "the science image through the two WCSs for them to be matched (LSST RegisterTask "
        "matchRadius). If fewer than minMatches stars match, or the matches do not agree on "
        "one transformation, the template WCS is taken to be wrong and the stars are matched "
        "by pattern instead.", float, default=1.0, min=0.0, inclusiveMin=False)
    pixelMatchRadius = RangeField(
        "Largest separation (science pixels) between matched stars when matching by pattern "
        "(no WCS, or a wrong one): the tolerance of the pattern search and of the match "
        "that follows it. It must exceed the centroid errors plus the distortion a "
        "similarity transformation leaves across the image.",
        float, default=2.0, min=0.0, inclusiveMin=False)
    patternStars = RangeField(
        "Number of brightest stars of each exposure (saturated ones included) among which "
        "triangle patterns are searched. More stars find a match in a smaller overlap, at a "
        "cost that grows with their number.", int, default=50, min=3)
    sipIter = RangeField(
        "Number of fit-and-reject iterations (LSST RegisterTask sipIter).",
        int, default=3, min=0)
    sipRej = RangeField(
        "Matches whose fit residual exceeds sipRej times the residual rms are rejected "
        "before the next iteration (LSST RegisterTask sipRej); the rms is estimated from the "
        "median residual so that a minority of false matches does not inflate it.",
        float, default=3.0, min=0.0, inclusiveMin=False)
    minMatches = RangeField(
        "Fewest matched stars (after rejection) accepted as a registration; with fewer the "
        "plugin stops with an error. The polynomial order is lowered below sipOrder when "
        "there are too few matches to constrain it (two per coefficient).",
        int, default=10, min=3)
