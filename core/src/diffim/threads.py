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

    See :func:`startJobs` (one job).
    """
    return startJobs(function)[0]


def startJobs(*functions: Callable[[], R]) -> list[Callable[[], R]]:
    """Start the ``functions`` one after the other, beside the caller.

    On one thread of their own when the run has more than one FFT worker
    (:func:`scipy.fft.get_workers`), else run at once, in order: the results are
    the same either way, so no function may depend on what the caller does
    meanwhile. Running them in turn rather than side by side keeps the second core
    for the caller and their memory peaks apart.

    Parameters
    ----------
    *functions : callable
        The jobs, taking no arguments.

    Returns
    -------
    list of callable
        One per job: returns its result (or raises its exception) once it is done.
    """
    if scipy.fft.get_workers() <= 1:
        return [_done(function) for function in functions]
    pool = ThreadPoolExecutor(max_workers=1)
    futures = [pool.submit(function) for function in functions]
    pool.shutdown(wait=False)
    return [future.result for future in futures]


def _done(function: Callable[[], R]) -> Callable[[], R]:
    """``function`` run now; the returned callable gives its result or raises its error
    (an interruption is not held back)."""
    try:
        result = function()
    except Exception as error:
        caught = error

        def fail() -> R:
            raise caught
        return fail
    return lambda: result
