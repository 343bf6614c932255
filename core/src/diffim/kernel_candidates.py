"""Kernel-candidate QA in the run's outputs (doAddMetrics): per star and over the ensemble.

A subtraction that fits a kernel on each star stamp may return a table of
per-candidate figures (:attr:`diffim.results.SubtractionResult.kernelCandidates`,
e.g. the ``al`` plugin's ``KCDiffim{Mean,Median,StDev}_{LOCAL,SPATIAL}``). The
task copies its columns into ``kernelSources`` (kernelSources.fits) and records
the median over the candidates of each float column in the metadata's
``quality.metrics``. Nothing here names a plugin or a column.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Column, Table

from .matching import matchPixels

#: Largest distance (pixels) between a star and the candidate cut around it (candidates
#: sit at the star's nearest pixel).
CANDIDATE_MATCH_RADIUS = 1.0

#: Columns of a candidate table that give its position, not a figure.
POSITION_COLUMNS = ("x", "y")


def joinKernelCandidates(stars: Table, candidates: Table) -> Table:
    """``stars`` with the figure columns of the candidate within 1 pixel of each star.

    Stars without a candidate (control stars, stars whose stamp was unusable or
    never fitted) get NaN (False for flags).

    Parameters
    ----------
    stars : astropy.table.Table
        Kernel and control stars with pixel ``x``, ``y``.
    candidates : astropy.table.Table
        Per-candidate figures with pixel ``x``, ``y``.
    """
    out = Table(stars, copy=True)
    found = matchPixels(np.asarray(stars["x"], float), np.asarray(stars["y"], float),
                        np.asarray(candidates["x"], float), np.asarray(candidates["y"], float),
                        CANDIDATE_MATCH_RADIUS, method="oneToOne")
    for name in candidates.colnames:
        if name in POSITION_COLUMNS:
            continue
        column = candidates[name]
        fill = np.nan if column.dtype.kind == "f" else np.zeros((), column.dtype)
        data = np.full(len(out), fill, dtype=column.dtype)
        data[found.index1] = np.asarray(column)[found.index2]
        out[name] = Column(data, unit=column.unit, description=column.description)
    return out


def kernelCandidateSummary(candidates: Table) -> dict[str, Any]:
    """``nKernelCandidates`` and the median over candidates of each float figure (finite only).

    A figure no candidate has a finite value of is None.
    """
    summary: dict[str, Any] = {"nKernelCandidates": len(candidates)}
    for name in candidates.colnames:
        if name in POSITION_COLUMNS or candidates[name].dtype.kind != "f":
            continue
        values = np.asarray(candidates[name], dtype=float)
        values = values[np.isfinite(values)]
        summary[name] = round(float(np.median(values)), 4) if values.size else None
    return summary
