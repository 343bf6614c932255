"""Cuts every selector applies: required columns, bad flags, widths and isolation."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from astropy.table import Table

from diffim.errors import InputError
from diffim.matching import nearestDistance


def column(sources: Table, name: str) -> np.ndarray:
    """Column ``name`` as a float64 array, masked entries NaN."""
    values = sources[name]
    if hasattr(values, "filled"):
        values = values.filled(np.nan)
    return np.asarray(values, dtype=np.float64)


def requireColumns(sources: Table, names: Iterable[str], what: str) -> None:
    """Raise InputError naming the columns of ``names`` that ``sources`` lacks.

    Parameters
    ----------
    sources : astropy.table.Table
        The catalog.
    names : iterable of str
        Columns needed.
    what : str
        What needs them (the config field or purpose), for the message.
    """
    missing = [name for name in names if name not in sources.colnames]
    if missing:
        raise InputError(f"the source catalog lacks column(s) {', '.join(missing)} needed by "
                         f"{what}; it has: {', '.join(sources.colnames)}")


def unflagged(sources: Table, badFlags: Iterable[str]) -> np.ndarray:
    """True for rows where none of the ``badFlags`` columns is set (masked counts as set)."""
    badFlags = list(badFlags)
    requireColumns(sources, badFlags, "sourceSelector.badFlags")
    good = np.ones(len(sources), dtype=bool)
    for name in badFlags:
        values = sources[name]
        if hasattr(values, "filled"):
            values = values.filled(True)
        good &= ~np.asarray(values, dtype=bool)
    return good


def widths(sources: Table) -> np.ndarray:
    """``sqrt((Ixx + Iyy) / 2)`` of each source (NaN where a moment is missing)."""
    requireColumns(sources, ("Ixx", "Iyy"), "the width sqrt((Ixx + Iyy) / 2)")
    with np.errstate(invalid="ignore"):
        return np.sqrt(0.5 * (column(sources, "Ixx") + column(sources, "Iyy")))


def isolated(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """True for positions with no other position closer than ``radius`` (pixels).

    ``radius`` 0 keeps every position; a non-finite position is never isolated.
    """
    finite = np.isfinite(x) & np.isfinite(y)
    if radius <= 0 or len(x) == 0:          # nearestDistance does not take an empty list
        return finite
    return finite & (nearestDistance(np.column_stack([x, y])) >= radius)


def isolatedSources(sources: Table, radius: float) -> np.ndarray:
    """True for sources with no other source, and no other image peak, within ``radius``.

    Image peaks count when the catalog has a ``neighbourDistance`` column (as
    :func:`diffim_star_selectors.measureSources` writes): they reveal
    neighbours that detection merged into a source's footprint.
    """
    x, y = positions(sources)
    alone = isolated(x, y, radius)
    if radius > 0 and "neighbourDistance" in sources.colnames:
        alone &= column(sources, "neighbourDistance") >= radius
    return alone


def positions(sources: Table) -> tuple[np.ndarray, np.ndarray]:
    """The ``x``, ``y`` columns (0-based pixels) of a source catalog."""
    requireColumns(sources, ("id", "x", "y"), "star selection (0-based pixel positions)")
    return column(sources, "x"), column(sources, "y")


def signalToNoise(sources: Table, fluxField: str, errField: str) -> np.ndarray:
    """``flux / error`` from the named columns (NaN where the error is not positive)."""
    requireColumns(sources, (fluxField, errField), "the signal-to-noise cut")
    flux, err = column(sources, fluxField), column(sources, errField)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(err > 0, flux / err, np.nan)
