"""The ``catalog`` selector: kernel stars known from the reference catalog."""
from __future__ import annotations

import logging

import numpy as np
from astropy.table import Column, Table

from diffim.errors import ConfigError, InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.matching import matchPixels

from .config import CatalogStarSelectorConfig
from .cuts import column, isolatedSources, positions, requireColumns, unflagged
from .measurement import scienceSources
from .residuals import cleanSurroundings

log = logging.getLogger("diffim.sourceSelector.catalog")


def usableReferences(references: Table, config: CatalogStarSelectorConfig) -> np.ndarray:
    """True for reference matches inside the magnitude and colour ranges and not variable.

    A magnitude or colour that is missing (masked or NaN) fails a range that is set.
    """
    keep = np.ones(len(references), dtype=bool)
    for field, low, high in ((config.magField, config.magMin, config.magMax),
                             (config.colorField, config.colorMin, config.colorMax)):
        if field is None or (low is None and high is None):
            continue
        requireColumns(references, [field], f"sourceSelector ({field} limits)")
        values = column(references, field)
        keep &= np.isfinite(values)
        if low is not None:
            keep &= values >= low
        if high is not None:
            keep &= values <= high
    if config.variableField is not None:
        requireColumns(references, [config.variableField], "sourceSelector.variableField")
        variable = references[config.variableField]
        if hasattr(variable, "filled"):
            variable = variable.filled(False)
        keep &= ~np.asarray(variable, dtype=bool)
    return keep


def _firstPerSource(sourceRow: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions in ``order`` of the first reference for each source row (-1 rows skipped)."""
    ordered = sourceRow[order]
    valid = ordered >= 0
    _, first = np.unique(ordered[valid], return_index=True)
    return order[np.flatnonzero(valid)[first]]


def linkById(sources: Table, references: Table) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``sources`` and of ``references`` that share an ``id``, one reference per source.

    When a source has several matches, the closest (smallest ``distance``) is used.
    """
    requireColumns(references, ("id", "refId"), "the catalog selector (reference matches)")
    sourceIds, refIds = np.asarray(sources["id"]), np.asarray(references["id"])
    sourceRow = np.full(len(refIds), -1, dtype=np.intp)
    if len(sourceIds):
        sorter = np.argsort(sourceIds, kind="stable")
        where = np.clip(np.searchsorted(sourceIds, refIds, sorter=sorter), 0, len(sourceIds) - 1)
        found = sourceIds[sorter[where]] == refIds
        sourceRow[found] = sorter[where[found]]
    if np.any(sourceRow < 0):
        log.warning("catalog: %d reference matches name source ids that are not in the source "
                    "catalog; they are ignored", int(np.sum(sourceRow < 0)))
    order = _distanceOrder(references)
    chosen = _firstPerSource(sourceRow, order)
    return sourceRow[chosen], chosen


def linkByPosition(sources: Table, references: Table, exposure: Exposure,
                   radiusArcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``sources`` and ``references`` within ``radiusArcsec`` (refRa, refDec vs x, y).

    Used when the selector measured the sources itself, so the reference
    matches carry no ids of them. Each source keeps its closest reference.
    """
    requireColumns(references, ("refId", "refRa", "refDec"),
                   "the catalog selector without a source catalog (reference positions)")
    scale = exposure.pixelScale()
    if scale is None:
        raise InputError("the catalog selector without a source catalog places the reference "
                         "stars through the exposure WCS, but the exposure has none")
    px, py = exposure.wcs.world_to_pixel_values(column(references, "refRa"),
                                                column(references, "refDec"))
    x, y = positions(sources)
    sourceRow = np.full(len(references), -1, dtype=np.intp)
    separation = np.full(len(references), np.inf)
    if len(sources) and len(references):    # matchPixels does not take an empty list
        found = matchPixels(px, py, x, y, radiusArcsec / scale, method="nearest")
        sourceRow[found.index1], separation[found.index1] = found.index2, found.distance
    chosen = _firstPerSource(sourceRow, np.argsort(separation, kind="stable"))
    return sourceRow[chosen], chosen


def _distanceOrder(references: Table) -> np.ndarray:
    """Reference rows sorted by ``distance`` when present, else in table order."""
    if "distance" in references.colnames:
        return np.argsort(column(references, "distance"), kind="stable")
    return np.arange(len(references))


def _withReferences(selected: Table, references: Table) -> Table:
    """``selected`` source rows with the reference columns appended (``ref_`` on a clash)."""
    out = Table(selected, copy=True)
    for name in references.colnames:
        if name == "id":
            continue
        target = name if name not in out.colnames else f"ref_{name}"
        source = references[name]
        out[target] = Column(np.asarray(source), name=target, unit=source.unit,
                             description=source.description)
    return out


class CatalogStarSelector:
    """Kernel stars from the reference-catalog matches of the science sources."""

    ConfigClass = CatalogStarSelectorConfig

    @hookimpl
    def diffim_sourceSelector(self, sources: Table | None, exposure: Exposure,
                              config: CatalogStarSelectorConfig,
                              references: Table | None) -> Table:
        """Select the science sources matched to reference stars that pass the cuts.

        1. Keep the reference matches within the magnitude range (``magField``,
           ``magMin``, ``magMax``) and colour range (``colorField``,
           ``colorMin``, ``colorMax``) and, with ``variableField``, not flagged
           as variable.
        2. Link them to the science sources: by ``id`` when the task gives the
           catalog the matches were made from; otherwise detect and measure
           the sources here and link each match's ``refRa``, ``refDec`` to the
           nearest source within ``matchRadius`` arcsec. A source with several
           matches keeps the closest.
        3. Drop sources with a ``badFlags`` flag, another source (or, for a
           catalog measured here, image peak) within ``isolationRadius``
           pixels, or, when the exposure has a PSF, a neighbour in the
           residual of a PSF fit (see ``neighbourThreshold``).

        Parameters
        ----------
        sources : astropy.table.Table or None
            Science sources (``id``, ``x``, ``y`` and the ``badFlags`` columns);
            None to measure them here.
        exposure : Exposure
            The science exposure; not modified.
        config : CatalogStarSelectorConfig
            The selector's config.
        references : astropy.table.Table
            Reference matches of the sources: ``id`` (of the source), ``refId``
            and the reference columns the cuts name (as the ``astrometer``
            slot returns them).

        Returns
        -------
        astropy.table.Table
            The selected source rows with the reference columns appended
            (``refId``, ``distance``, magnitudes, ...; a name the source
            catalog already has gets a ``ref_`` prefix).

        Raises
        ------
        diffim.errors.ConfigError
            If ``references`` is None (the task was not asked for reference
            matches) or a magnitude or colour limit names no column.
        diffim.errors.InputError
            If a table lacks a column the selection needs.
        """
        config.validate()
        if references is None:
            raise ConfigError("the catalog star selector needs reference-catalog matches: set "
                              "kernelSourcesFromRef=True and point astrometer.refCatalog at a "
                              "reference catalog")
        catalog = scienceSources(sources, exposure, config)
        references = references[usableReferences(references, config)]
        if sources is None:
            rows, refRows = linkByPosition(catalog, references, exposure, config.matchRadius)
        else:
            rows, refRows = linkById(catalog, references)
        clean = unflagged(catalog, config.badFlags) & isolatedSources(catalog,
                                                                      config.isolationRadius)
        keep = clean[rows]
        linked = rows[keep]
        keep[keep] = cleanSurroundings(exposure, column(catalog, "x")[linked],
                                       column(catalog, "y")[linked], config)
        log.info("catalog: %d clean, isolated stars of %d linked reference matches",
                 int(keep.sum()), len(refRows))
        return _withReferences(catalog[rows[keep]], references[refRows[keep]])
