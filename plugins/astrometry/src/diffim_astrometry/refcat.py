"""Read the reference catalog and place it at the epoch of an exposure."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from diffim.errors import InputError

from .config import ReferenceMatcherConfig
from .motion import julianYear, propagate

log = logging.getLogger("diffim.astrometer.matcher")


@dataclass
class ReferenceStars:
    """Reference stars ready to match.

    Attributes
    ----------
    refId : numpy.ndarray
        Each star's id (catalog ``idColumn`` or row number).
    ra, dec : numpy.ndarray
        Positions (degrees) at the exposure's epoch.
    extra : astropy.table.Table
        The columns copied into the matches, one row per star.
    """

    refId: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    extra: Table


def readCatalog(path: str) -> Table:
    """Read the table at ``path``, with a one-line InputError naming it on failure."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"reference catalog {str(file)!r} does not exist; set "
                         f"astrometer.refCatalog to a FITS or ECSV table with ra, dec in degrees")
    try:
        return Table.read(file)
    except Exception as exc:  # astropy raises many types for unreadable files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read reference catalog {str(file)!r} ({reason}); expected a "
                         f"table astropy reads, such as FITS or ECSV") from None


def _values(table: Table, name: str, path: str, what: str) -> np.ndarray:
    """Column ``name`` as floats (masked -> NaN), or an InputError naming the catalog."""
    if name not in table.colnames:
        raise InputError(f"reference catalog {path!r} has no column {name!r} ({what}); its "
                         f"columns are: {', '.join(table.colnames)}")
    column = table[name]
    if hasattr(column, "filled"):
        column = column.filled(np.nan)
    return np.asarray(column, dtype=np.float64)


def _magnitudeCut(table: Table, config: ReferenceMatcherConfig) -> np.ndarray:
    """Rows inside [magMin, magMax] (all rows when no limit is set)."""
    keep = np.ones(len(table), dtype=bool)
    if config.magMin is None and config.magMax is None:
        return keep
    mag = _values(table, config.magColumn, config.refCatalog, "astrometer.magColumn")
    keep &= np.isfinite(mag)
    if config.magMin is not None:
        keep &= mag >= config.magMin
    if config.magMax is not None:
        keep &= mag <= config.magMax
    return keep


def _copied(table: Table, config: ReferenceMatcherConfig) -> list[str]:
    """Names of the columns copied into the matches."""
    if config.copyColumns:
        missing = [name for name in config.copyColumns if name not in table.colnames]
        if missing:
            raise InputError(f"reference catalog {config.refCatalog!r} has no column(s) "
                             f"{', '.join(missing)} (astrometer.copyColumns); its columns are: "
                             f"{', '.join(table.colnames)}")
        return list(config.copyColumns)
    used = {config.idColumn, config.raColumn, config.decColumn, config.pmRaColumn,
            config.pmDecColumn, config.epochColumn}
    return [name for name in table.colnames if name not in used]


def _epochPositions(table: Table, ra: np.ndarray, dec: np.ndarray, obsDate: str | None,
                    config: ReferenceMatcherConfig) -> tuple[np.ndarray, np.ndarray]:
    """Positions moved by proper motion to ``obsDate`` when the catalog has proper motions."""
    if config.pmRaColumn is None or not {config.pmRaColumn, config.pmDecColumn} <= set(
            table.colnames):
        return ra, dec
    if obsDate is None:
        raise InputError(f"reference catalog {config.refCatalog!r} has proper motions but the "
                         f"exposure has no obsDate to move them to; give the exposure its "
                         f"date, or set astrometer.pmRaColumn and pmDecColumn to None")
    path = config.refCatalog
    epoch = (_values(table, config.epochColumn, path, "astrometer.epochColumn")
             if config.epochColumn is not None else config.epoch)
    years = julianYear(obsDate) - np.asarray(epoch, dtype=np.float64)
    log.info("matcher: moving %d reference stars by proper motion to %s", len(table), obsDate)
    return propagate(ra, dec, _values(table, config.pmRaColumn, path, "astrometer.pmRaColumn"),
                     _values(table, config.pmDecColumn, path, "astrometer.pmDecColumn"),
                     np.broadcast_to(years, ra.shape))


def loadReferences(config: ReferenceMatcherConfig, obsDate: str | None) -> ReferenceStars:
    """Read the catalog, apply the magnitude limits and move the stars to ``obsDate``.

    Raises
    ------
    InputError
        If the catalog is missing, unreadable or lacks a configured column, or
        has proper motions while ``obsDate`` is None.
    """
    path = config.refCatalog
    catalog = readCatalog(path)
    kept = _magnitudeCut(catalog, config)
    table = catalog[kept]
    ra = _values(table, config.raColumn, path, "astrometer.raColumn")
    dec = _values(table, config.decColumn, path, "astrometer.decColumn")
    if config.idColumn is None:
        refId = np.flatnonzero(kept).astype(np.int64)
    elif config.idColumn not in table.colnames:
        raise InputError(f"reference catalog {path!r} has no column {config.idColumn!r} "
                         f"(astrometer.idColumn; None numbers the rows instead); its columns "
                         f"are: {', '.join(table.colnames)}")
    else:
        refId = np.asarray(table[config.idColumn])
    ra, dec = _epochPositions(table, ra, dec, obsDate, config)
    extra = Table([table[name] for name in _copied(table, config)])
    return ReferenceStars(refId, ra, dec, extra)
