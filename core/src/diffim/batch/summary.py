"""What a batch did for each data ID, and the table printed at its end."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..messages import oneLine
from ..repo.datasets import VISIT_KEYS

#: A data ID's status in a batch: processed and trusted, processed but suspect (see
#: :mod:`diffim.quality`), not processed because of an error, or not run because
#: its outputs were in the repository already.
STATUSES = ("ok", "suspect", "failed", "skipped")

@dataclass
class DataIdResult:
    """The outcome of one data ID of a batch.

    Parameters
    ----------
    dataId : dict
        The science data ID (visit, detector, band).
    status : str
        One of :data:`STATUSES`.
    quality : str or None
        The run's quality status (``ok`` or ``suspect``); None unless it ran.
    nDiaSources, nPositive, nNegative, nDipoles, nSkySources : int or None
        diaSources found, and how many of them are positive, negative, dipoles and sky
        sources, each counted once (:func:`diffim.runner.countByKind`).
    noiseRatio : float or None
        Measured difference noise / expected noise (1 for a well-modelled difference).
    seconds : float
        Time the worker spent on it.
    message : str
        One line: why it failed, why it is suspect, or why it was skipped.
    """

    dataId: dict[str, Any]
    status: str
    quality: str | None = None
    nDiaSources: int | None = None
    nPositive: int | None = None
    nNegative: int | None = None
    nDipoles: int | None = None
    nSkySources: int | None = None
    noiseRatio: float | None = None
    seconds: float = 0.0
    message: str = ""

    def recordValues(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`Repository.recordBatchResult` (all but run and
        data ID)."""
        values = asdict(self)
        del values["dataId"]
        if values["noiseRatio"] is not None and not math.isfinite(values["noiseRatio"]):
            values["noiseRatio"] = None
        return values


def dataIdText(dataId: dict[str, Any]) -> str:
    """A data ID for the table: ``visit=3 detector=0 band=r``."""
    keys = [*[k for k in VISIT_KEYS if k in dataId], *sorted(set(dataId) - set(VISIT_KEYS))]
    return " ".join(f"{key}={dataId[key]}" for key in keys)


@dataclass
class BatchSummary:
    """What a batch did.

    Parameters
    ----------
    run : str
        The batch's run name (its results in :meth:`Repository.batchResults`).
    results : list of DataIdResult
        One per data ID selected, skipped ones included, by visit, detector, band.
    seconds : float
        Wall-clock time of the batch.
    """

    run: str
    results: list[DataIdResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many data IDs ended with ``status``."""
        return sum(result.status == status for result in self.results)

    @property
    def failed(self) -> list[DataIdResult]:
        """The results of the data IDs that failed."""
        return [result for result in self.results if result.status == "failed"]

    def line(self) -> str:
        """One line: how many data IDs ended how, and the time taken."""
        counts = ", ".join(f"{self.count(status)} {status}" for status in STATUSES)
        return (f"batch {self.run}: {len(self.results)} data IDs ({counts}) in "
                f"{self.seconds:.1f} s")

    def table(self) -> str:
        """The per-data-ID table: status, quality, diaSource counts, noise ratio, time, why."""
        header = ("data ID", "status", "quality", "diaSrc", "pos", "neg", "dip", "sky",
                  "noise", "seconds", "why")
        rows = [header]
        for result in self.results:
            rows.append((
                dataIdText(result.dataId), result.status, result.quality or "-",
                _number(result.nDiaSources), _number(result.nPositive),
                _number(result.nNegative), _number(result.nDipoles),
                _number(result.nSkySources),
                "-" if result.noiseRatio is None or not math.isfinite(result.noiseRatio)
                else f"{result.noiseRatio:.3f}",
                "-" if result.status == "skipped" else f"{result.seconds:.1f}",
                oneLine(result.message) if result.message else ""))
        widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
        right = {3, 4, 5, 6, 7, 8, 9}
        lines = []
        for row in rows:
            cells = [cell.rjust(width) if column in right else cell.ljust(width)
                     for column, (cell, width) in enumerate(zip(row, widths))]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        return "\n".join(lines)


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)
