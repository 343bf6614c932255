"""A reference to one science exposure in a repository (LSST's ``sensorRef``)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .datasets import formatDataId

if TYPE_CHECKING:
    from .repository import Repository


class DataRef:
    """The datasets of one science exposure's data ID, read and written by dataset type.

    Parameters
    ----------
    repository : Repository
        Where they live.
    dataId : dict
        The science exposure's data ID (visit, detector, band).
    """

    def __init__(self, repository: "Repository", dataId: dict[str, Any]) -> None:
        self.repository = repository
        self.dataId = dict(dataId)

    def __repr__(self) -> str:
        return f"DataRef({self.repository.root}, {formatDataId(self.dataId)})"

    def get(self, datasetType: str) -> Any:
        """Read the dataset of this data ID (see :meth:`Repository.get`)."""
        return self.repository.get(datasetType, self.dataId)

    def put(self, obj: Any, datasetType: str, overwrite: bool = True) -> Path:
        """Write a dataset of this data ID, replacing one that exists (as LSST's butler does)."""
        return self.repository.put(obj, datasetType, self.dataId, overwrite=overwrite)

    def putMany(self, items: list[tuple[Any, str]], overwrite: bool = True,
                header: dict[str, Any] | None = None) -> list[Path]:
        """Write several datasets of this data ID, registered in one transaction; ``header``
        holds extra primary-header cards of their files."""
        return self.repository.putMany([(obj, name, self.dataId) for obj, name in items],
                                       overwrite=overwrite, header=header)

    def datasetExists(self, datasetType: str) -> bool:
        """True if the dataset of this data ID is registered."""
        return self.repository.exists(datasetType, self.dataId)
