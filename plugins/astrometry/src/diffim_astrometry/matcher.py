"""The ``matcher`` astrometer: match sources to a reference catalog, no WCS fit."""
from __future__ import annotations

import logging

import numpy as np
from astropy import units as u
from astropy.table import Column, Table

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.matching import Match, matchSky

from .config import ReferenceMatcherConfig
from .refcat import ReferenceStars, loadReferences

log = logging.getLogger("diffim.astrometer.matcher")

#: Columns every match has; a copied catalog column of the same name gets a ``ref_`` prefix.
MATCH_COLUMNS = ("id", "refId", "distance", "refRa", "refDec")


def _column(sources: Table, name: str) -> np.ndarray:
    values = sources[name]
    if hasattr(values, "filled"):
        values = values.filled(np.nan)
    return np.asarray(values, dtype=np.float64)


def sourcePositions(sources: Table, exposure: Exposure) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions (degrees) of the sources: ``ra``, ``dec``, else ``x``, ``y`` via the WCS.

    Rows whose ``ra`` or ``dec`` is missing or not finite are placed from ``x``,
    ``y`` when the table has them and the exposure has a celestial WCS; rows
    placed neither way stay NaN (never matched).

    Raises
    ------
    InputError
        If the table has neither ``ra``, ``dec`` nor ``x``, ``y`` (with a WCS).
    """
    n = len(sources)
    ra, dec = np.full(n, np.nan), np.full(n, np.nan)
    if {"ra", "dec"} <= set(sources.colnames):
        ra, dec = _column(sources, "ra"), _column(sources, "dec")
    missing = ~(np.isfinite(ra) & np.isfinite(dec))
    if not missing.any():
        return ra, dec
    hasPixels = {"x", "y"} <= set(sources.colnames)
    hasWcs = exposure.wcs is not None and exposure.wcs.has_celestial
    if hasPixels and hasWcs:
        px, py = _column(sources, "x")[missing], _column(sources, "y")[missing]
        ra[missing], dec[missing] = exposure.wcs.pixel_to_world_values(px, py)
    elif not {"ra", "dec"} <= set(sources.colnames):
        need = "a celestial WCS on the exposure" if hasPixels else "columns x, y"
        raise InputError(f"reference matching needs source positions: columns ra, dec "
                         f"(degrees), or x, y with a celestial WCS; the sources lack {need}")
    return ra, dec


def _matchTable(sources: Table, references: ReferenceStars, found: Match) -> Table:
    """The matches: source id, refId, distance, reference position and copied columns."""
    sourceRows, refRows, distance = found.index1, found.index2, found.distance
    out = Table()
    out["id"] = np.asarray(sources["id"])[sourceRows]
    out["refId"] = references.refId[refRows]
    out["distance"] = Column(distance, unit=u.arcsec,
                             description="separation of source and reference star")
    out["refRa"] = Column(references.ra[refRows], unit=u.deg,
                          description="reference right ascension at the exposure's epoch")
    out["refDec"] = Column(references.dec[refRows], unit=u.deg,
                           description="reference declination at the exposure's epoch")
    for name in references.extra.colnames:
        target = f"ref_{name}" if name in MATCH_COLUMNS else name
        out[target] = references.extra[name][refRows]
    return out


class ReferenceMatcher:
    """Match sources to a reference catalog by position (LSST AstrometryTask, matching only)."""

    ConfigClass = ReferenceMatcherConfig

    @hookimpl
    def diffim_astrometer(self, sources: Table, exposure: Exposure,
                          config: ReferenceMatcherConfig) -> Table:
        """Match each source to the nearest reference star within ``matchRadius``.

        1. Read ``refCatalog`` and keep the stars within [``magMin``, ``magMax``]
           of ``magColumn``.
        2. When the catalog has proper motions (``pmRaColumn``, ``pmDecColumn``,
           mas/yr), move each star from ``epoch`` (or its ``epochColumn``) to
           the exposure's ``obsDate``.
        3. Place the sources on the sky (their ``ra``, ``dec``, or ``x``, ``y``
           through ``exposure.wcs``).
        4. Find every source-star pair closer than ``matchRadius`` and keep
           pairs closest first, each source and each star used once
           (:func:`diffim.matching.matchSky`, ``oneToOne``).

        Parameters
        ----------
        sources : astropy.table.Table
            Sources with ``id`` and ``ra``, ``dec`` (degrees) or ``x``, ``y``.
        exposure : Exposure
            The exposure the sources come from (WCS and obsDate); not modified.
        config : ReferenceMatcherConfig
            The catalog and how to match it.

        Returns
        -------
        astropy.table.Table
            One row per match, in source order: ``id`` (of the source),
            ``refId``, ``distance`` (arcsec), ``refRa``, ``refDec`` (degrees, at
            the exposure's epoch) and the ``copyColumns`` of the catalog
            (magnitudes, colours, variability flags; ``ref_`` prefixed when the
            name is one of the above).

        Raises
        ------
        diffim.errors.ConfigError
            If ``refCatalog`` is not set or the magnitude limits are inconsistent.
        diffim.errors.InputError
            If the catalog is missing, unreadable or lacks a configured column,
            if the sources lack positions or ``id``, or if the catalog has
            proper motions and the exposure no obsDate.
        """
        config.validate()
        if "id" not in sources.colnames:
            raise InputError(f"reference matching needs an 'id' column in the sources; they "
                             f"have: {', '.join(sources.colnames)}")
        references = loadReferences(config, exposure.obsDate)
        ra, dec = sourcePositions(sources, exposure)
        found = Match.empty()
        if len(ra) and len(references.ra):          # matchSky does not take an empty list
            found = matchSky(ra, dec, references.ra, references.dec, config.matchRadius,
                             method="oneToOne")
        log.info("matcher: %d of %d sources matched within %.2f arcsec (%d reference stars)",
                 len(found), len(sources), config.matchRadius, len(references.refId))
        return _matchTable(sources, references, found)
