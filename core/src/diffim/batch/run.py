"""Run a pipeline on every selected science exposure of a repository, in parallel on Dask."""
from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..pipeline import load_pipeline
from ..repo.datasets import dataIdKey
from ..task_config import ImageDifferenceConfig
from .cluster import batchClient
from .plan import planBatch, sortKey
from .summary import BatchSummary, DataIdResult, dataIdText
from .work import Process, failureMessage, processDataId

if TYPE_CHECKING:
    from distributed import Client

    from ..repo import Repository

log = logging.getLogger(__name__)

#: Message of a data ID whose outputs were in the repository already.
SKIPPED_MESSAGE = "outputs already in the repository"


def defaultRunName() -> str:
    """A run name from the current UTC time, e.g. ``batch-20250101T120000Z``."""
    return f"batch-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}"


def _freeRunName(repository: Repository, run: str) -> str:
    """``run``, or ``run-2``, ``run-3``... if the repository has results under it already."""
    name, number = run, 1
    while len(repository.batchResults(name)):
        number += 1
        name = f"{run}-{number}"
    return name


def _record(repository: Repository, run: str, result: DataIdResult) -> None:
    repository.recordBatchResult(run, result.dataId, **result.recordValues())


def runBatch(repository: str | os.PathLike | Repository,
             pipeline: str | os.PathLike | ImageDifferenceConfig,
             overrides: Iterable[str] = (), overrideFiles: Iterable[str | os.PathLike] = (),
             *, where: str | None = None, workers: int | None = None,
             scheduler: str | None = None, client: Client | None = None,
             templateIdList: list[dict[str, Any]] | None = None, threads: int = 1,
             progress: bool = True, runName: str | None = None,
             process: Process | None = None) -> BatchSummary:
    """Process every selected science exposure (``calexp``) of a repository on Dask.

    Each data ID runs :meth:`ImageDifferenceTask.runDataRef` in a worker process,
    which writes its outputs to the repository all together. Data IDs whose outputs
    are all there already are skipped, so a batch that was interrupted or killed
    finishes when run again. A data ID that fails is reported and the others go on.
    Each data ID's result is recorded with :meth:`Repository.recordBatchResult` under
    the run name as it arrives. The outputs are the same whatever the cluster.

    Parameters
    ----------
    repository : path or Repository
        The data repository.
    pipeline : path or ImageDifferenceConfig
        A pipeline file (loaded with ``overrides`` and ``overrideFiles``), or a config.
    overrides, overrideFiles
        As for :func:`diffim.pipeline.load_pipeline` (only with a pipeline file).
    where : str, optional
        Expression selecting ``calexp`` data IDs, e.g. ``"visit IN (1, 2)"``; all when None.
    workers : int, optional
        Worker processes of the local cluster (default: one per available core).
    scheduler : str, optional
        Address of a running Dask scheduler to use instead of a local cluster.
    client : distributed.Client, optional
        A connected Dask client to use instead (left open).
    templateIdList : list of dict, optional
        Template data IDs for the getTemplate plugin (e.g. ``[{"visit": 3}]``).
    threads : int
        FFT threads of each run (the outputs are the same for any number).
    progress : bool
        Show a progress bar on stderr when it is a terminal.
    runName : str, optional
        Name the results are recorded under (default :func:`defaultRunName`; a name in
        use gets ``-2``, ``-3``... appended).
    process : callable, optional
        A picklable :data:`diffim.batch.work.Process` run for each data ID instead of
        the task (for tests, or a custom driver).

    Returns
    -------
    BatchSummary
        One result per selected data ID, skipped ones included.

    Raises
    ------
    ConfigError
        If the pipeline or the cluster options are invalid.
    InputError
        If the repository cannot be opened or no ``calexp`` matches ``where``.
    """
    from tqdm import tqdm

    from ..repo import Repository

    start = time.perf_counter()
    if threads < 1:
        raise ConfigError(f"batch: threads must be at least 1, got {threads}")
    if not isinstance(repository, Repository):
        repository = Repository(repository)
    if isinstance(pipeline, ImageDifferenceConfig):
        if overrides or overrideFiles:
            raise ConfigError("batch: overrides apply to a pipeline file, not to a config")
        config = pipeline
    else:
        config = load_pipeline(pipeline, overrides, overrideFiles)
    run = _freeRunName(repository, runName or defaultRunName())
    removed = repository.removeStaleTemporaries()
    if removed:
        log.info("removed %d temporary files of killed writers", len(removed))
    plan = planBatch(repository, config, where)
    summary = BatchSummary(run=run)
    for dataId in plan.skipped:
        result = DataIdResult(dataId=dataId, status="skipped", message=SKIPPED_MESSAGE)
        _record(repository, run, result)
        summary.results.append(result)
    if plan.toRun:
        root = str(repository.root)
        with batchClient(workers, scheduler, client) as dask, \
                tqdm(total=len(plan.toRun), desc=f"diffim batch {run}", unit="dataId",
                     disable=None if progress else True) as bar:
            from distributed import as_completed

            submitted = {}
            for dataId in plan.toRun:
                future = dask.submit(processDataId, root, dataId, config, templateIdList,
                                     threads, process, pure=False,
                                     key=f"diffim-batch-{run}-{dataIdKey(dataId)}")
                submitted[future.key] = (future, dataId)
            for future in as_completed([future for future, _ in submitted.values()]):
                result = _collect(future, submitted.pop(future.key)[1])
                _record(repository, run, result)
                summary.results.append(result)
                if result.status == "failed" and not bar.disable:
                    bar.write(f"diffim batch: {dataIdText(result.dataId)} failed: "
                              f"{result.message}")
                bar.update()
                future.release()
    summary.results.sort(key=lambda result: sortKey(result.dataId))
    summary.seconds = time.perf_counter() - start
    return summary


def _collect(future, dataId: dict[str, Any]) -> DataIdResult:
    """The result of a finished future; a failed or cancelled one (e.g. its workers kept
    dying) becomes a ``failed`` result."""
    cancelled = (asyncio.CancelledError, concurrent.futures.CancelledError)
    try:
        return future.result()
    except (Exception, *cancelled) as exc:  # noqa: BLE001 - reported, the batch goes on
        return DataIdResult(dataId=dataId, status="failed", message=failureMessage(exc))
