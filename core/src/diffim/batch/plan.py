"""Which data IDs a batch runs and which it skips.

A data ID is skipped when every output the config asks to write to the
repository (the ``<coaddName>Diff_<kind>`` datasets of
:func:`diffim.dataref_run.outputDatasetTypes`) is registered and its file is
present. The task registers all of a data ID's outputs in one
:meth:`Repository.putMany` transaction, so a data ID has all of them or is run
again: a batch that was killed resumes where it stopped.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..dataref_run import outputDatasetTypes
from ..errors import InputError
from ..repo.datasets import VISIT_KEYS, dataIdKey
from ..task_config import ImageDifferenceConfig

if TYPE_CHECKING:
    from ..repo import Repository

#: The dataset type of the science exposures a batch processes.
SCIENCE_DATASET = "calexp"


def sortKey(dataId: Mapping[str, Any]) -> tuple:
    """Order of data IDs in a batch: by visit, detector, then band."""
    return tuple(dataId[key] for key in VISIT_KEYS)


@dataclass
class BatchPlan:
    """The data IDs of a batch.

    Parameters
    ----------
    toRun : list of dict
        Data IDs to process, by visit, detector and band.
    skipped : list of dict
        Data IDs whose outputs are all in the repository already.
    datasetTypes : list of str
        The output dataset types that decide whether a data ID is done.
    """

    toRun: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    datasetTypes: list[str] = field(default_factory=list)


def planBatch(repository: Repository, config: ImageDifferenceConfig,
              where: str | None = None) -> BatchPlan:
    """Split the science exposures matching ``where`` into those to run and those done.

    Parameters
    ----------
    repository : diffim.repo.Repository
        The data repository.
    config : ImageDifferenceConfig
        The config the batch runs (its ``doWrite*`` flags and ``coaddName`` name the
        outputs).
    where : str, optional
        Expression selecting ``calexp`` data IDs (:meth:`Repository.query`); all when None.

    Returns
    -------
    BatchPlan

    Raises
    ------
    InputError
        If no ``calexp`` matches (an empty repository or a ``where`` that selects nothing).
    """
    refs = repository.query(SCIENCE_DATASET, where)
    dataIds = sorted({dataIdKey(ref.dataId): dict(ref.dataId) for ref in refs}.values(),
                     key=sortKey)
    if not dataIds:
        selection = f"matches --where {where!r}" if where else "is in the repository"
        raise InputError(f"{repository.root}: no {SCIENCE_DATASET} {selection} (expected at "
                         "least one science exposure to process)")
    plan = BatchPlan(datasetTypes=list(outputDatasetTypes(config).values()))
    done: set[str] | None = None
    for datasetType in plan.datasetTypes:
        present = {dataIdKey(ref.dataId) for ref in repository.query(datasetType)
                   if ref.path.is_file()}
        done = present if done is None else done & present
    for dataId in dataIds:
        if done is not None and dataIdKey(dataId) in done:
            plan.skipped.append(dataId)
        else:
            plan.toRun.append(dataId)
    return plan
