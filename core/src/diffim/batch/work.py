"""What a worker does for one data ID: run the task on it and describe the outcome.

:func:`processDataId` runs in a Dask worker process. It never raises for a
failure of the data ID itself: an error becomes a ``failed``
:class:`~diffim.batch.summary.DataIdResult` that says why, so one bad exposure
does not stop the batch.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import DiffimError
from ..messages import oneLine
from ..results import ImageDifferenceResult
from ..runner import summarize
from ..task_config import ImageDifferenceConfig
from .summary import DataIdResult, dataIdText

if TYPE_CHECKING:
    from ..repo import DataRef, Repository

#: What a batch runs for each data ID: ``process(config, dataRef, templateIdList,
#: threads)`` returns the task's result after writing the outputs to the repository.
Process = Callable[[ImageDifferenceConfig, "DataRef", "list[dict] | None", int],
                   ImageDifferenceResult]

_repositories: dict[str, tuple[tuple[int, int], Repository]] = {}
_lock = threading.Lock()


def openRepository(root: str) -> Repository:
    """The repository at ``root``, opened once per worker process.

    It is opened again if its ``repository.yaml`` is another file than when it was
    opened (the repository was removed and made anew at the same place), so that a
    long-lived worker never writes to a registry that is gone.
    """
    from ..repo import Repository
    from ..repo.repository import CONFIG_FILE

    try:
        stat = os.stat(os.path.join(root, CONFIG_FILE))
        identity = (stat.st_dev, stat.st_ino)
    except OSError:
        identity = (-1, -1)  # Repository() reports what is wrong
    with _lock:
        cached = _repositories.get(root)
        if cached is None or cached[0] != identity:
            if cached is not None:
                cached[1].close()
            _repositories[root] = (identity, Repository(root))
        return _repositories[root][1]


def runDataRef(config: ImageDifferenceConfig, dataRef: DataRef,
               templateIdList: list[dict] | None, threads: int) -> ImageDifferenceResult:
    """The default :data:`Process`: :meth:`ImageDifferenceTask.runDataRef` on ``threads``
    FFT threads (the outputs are the same for any number)."""
    from ..task import ImageDifferenceTask

    return ImageDifferenceTask(config=config).runDataRef(dataRef, templateIdList,
                                                         threads=threads)


@contextlib.contextmanager
def namedLogs(name: str) -> Iterator[None]:
    """Prefix ``name`` (the data ID) to diffim's log messages made during the block.

    A worker's warnings reach the terminal of the batch among those of every other
    data ID; without the prefix nobody could tell which exposure had no aperture
    correction. Records of other libraries (Dask's own) are left alone.
    """
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name == "diffim" or record.name.startswith("diffim."):
            record.msg = f"{name}: {record.msg}"
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


def describeResult(dataId: dict[str, Any], result: ImageDifferenceResult) -> DataIdResult:
    """The :class:`DataIdResult` of a run that finished: quality, counts, noise ratio (the
    run summary of :func:`diffim.runner.summarize`; what was not measured stays None)."""
    summary = summarize(result, 0.0)
    quality = None if result.quality is None else summary.status
    record = DataIdResult(dataId=dataId, status="suspect" if quality == "suspect" else "ok",
                          quality=quality, message="; ".join(summary.reasons))
    if result.diaSources is not None:
        record.nDiaSources, record.nPositive = summary.nDiaSources, summary.nPositive
        record.nNegative, record.nDipoles = summary.nNegative, summary.nDipoles
        record.nSkySources = summary.nSkySources
    if result.subtractedExposure is not None:
        record.noiseRatio = float(summary.noiseRatio)
    return record


def failureMessage(exc: BaseException) -> str:
    """One line saying why a data ID failed: a diffim error's own message, otherwise the
    exception's type and message."""
    if isinstance(exc, DiffimError):
        return oneLine(str(exc))
    text = str(exc)
    return oneLine(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def processDataId(root: str, dataId: dict[str, Any], config: ImageDifferenceConfig,
                  templateIdList: list[dict] | None = None, threads: int = 1,
                  process: Process | None = None) -> DataIdResult:
    """Run ``process`` (by default :func:`runDataRef`) on one data ID of the repository.

    Parameters
    ----------
    root : str
        The repository root (opened once per process).
    dataId : dict
        The science data ID.
    config : ImageDifferenceConfig
        The frozen config (it pickles, so it travels to the worker as it is).
    templateIdList : list of dict, optional
        Data IDs of the template exposures, for the getTemplate plugin.
    threads : int
        FFT threads of the run.
    process : callable, optional
        What to run instead of :func:`runDataRef`, e.g. a stand-in in tests.

    Returns
    -------
    DataIdResult
        ``ok`` or ``suspect`` with the run's figures, or ``failed`` with the reason.
    """
    start = time.perf_counter()
    try:
        with namedLogs(dataIdText(dataId)):
            repository = openRepository(root)
            result = (process or runDataRef)(config, repository.dataRef(**dataId),
                                             templateIdList, threads)
            record = describeResult(dataId, result)
    except Exception as exc:  # noqa: BLE001 - one data ID's failure must not stop the batch
        record = DataIdResult(dataId=dataId, status="failed", message=failureMessage(exc))
    record.seconds = time.perf_counter() - start
    return record
