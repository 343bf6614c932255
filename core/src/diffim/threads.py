"""How many threads a run uses, and why its results do not depend on it."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import scipy.fft
from threadpoolctl import threadpool_limits

from .errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


def availableCores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def limitThreads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` FFT worker threads and a single BLAS thread.

    Every FFT in diffim and its plugins takes its worker count from
    :func:`scipy.fft.set_workers`, and its results do not depend on it. A
    multi-threaded BLAS splits matrix products differently for different thread
    counts, which changes the last bits of the kernel solutions, so BLAS runs
    on one thread: the outputs are then bit-identical for any ``threads``.

    Parameters
    ----------
    threads : int or None
        FFT worker threads; all available cores when None.

    Raises
    ------
    diffim.errors.ConfigError
        If ``threads`` is below 1.
    """
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    workers = availableCores() if threads is None else threads
    with scipy.fft.set_workers(workers), threadpool_limits(limits=1, user_api="blas"):
        yield


def parallelMap(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[function(item) for item in items]``, on as many threads as the run's FFT workers.

    The thread count is :func:`scipy.fft.get_workers` (what :func:`limitThreads`
    set). The caller fixes how the work is divided into ``items`` (tiles, chunks of
    stamps), never by the thread count, and ``function`` must not depend on which
    thread runs it, so the results are the same for any number of threads. Inside
    ``function`` scipy.fft runs one worker per thread. numpy and scipy release the
    GIL in their array loops, so the threads run in parallel.

    Parameters
    ----------
    function : callable
        Applied to each item.
    items : iterable
        The work items.

    Returns
    -------
    list
        The results, in the order of ``items``.
    """
    items = list(items)
    threads = min(scipy.fft.get_workers(), len(items))
    if threads <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(function, items))


def startJob(function: Callable[[], R]) -> Callable[[], R]:
    """Start ``function()`` beside the caller; the returned callable waits for its result.

    On a thread of its own when the run has more than one FFT worker
    (:func:`scipy.fft.get_workers`), else run at once: the result is the same
    either way, so ``function`` must not depend on what the caller does meanwhile.

    Parameters
    ----------
    function : callable
        The job, taking no arguments.

    Returns
    -------
    callable
        Returns the job's result (or raises its exception) once it is done.
    """
    if scipy.fft.get_workers() <= 1:
        result = function()
        return lambda: result
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function)
    pool.shutdown(wait=False)
    return future.result
