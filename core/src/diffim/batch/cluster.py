"""The Dask cluster a batch runs on: a local one, or an existing one by address."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..threads import availableCores

if TYPE_CHECKING:
    from distributed import Client

#: Dask settings of the local cluster's workers:
#:
#: * Dask sets MALLOC_TRIM_THRESHOLD_ in its workers to hand freed memory back to the
#:   system at once; that also stops glibc from raising its mmap threshold, so each of a
#:   run's large temporary arrays is mapped afresh and its pages faulted in again: runs
#:   are 15-25% slower. It is left unset.
#: * Each worker samples its running task's stack every 10 ms for the dashboard's
#:   profile, which is off; the sampling costs a run 5-10%. It is turned off.
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                       "distributed.worker.profile.enabled": False}

#: Options of the local cluster besides its size: no dashboard (the scheduler's own HTTP
#: endpoint, which it always opens, on a free port of this machine only, so that batches
#: side by side do not compete for Dask's default port 8787), and quiet.
LOCAL_CLUSTER_OPTIONS = {"dashboard_address": "127.0.0.1:0",
                         "scheduler_kwargs": {"dashboard": False},
                         "silence_logs": logging.ERROR}


@contextlib.contextmanager
def batchClient(workers: int | None = None, scheduler: str | None = None,
                client: Client | None = None) -> Iterator[Client]:
    """A Dask client for a batch: given, connected to ``scheduler``, or of a local cluster.

    The local cluster has ``workers`` worker processes (default: one per available
    core) of one thread each, and no dashboard; it is shut down on leaving. A
    given client, or a cluster reached by ``scheduler``, is left running.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the local cluster.
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://host:8786``.
    client : distributed.Client, optional
        A connected client to use as it is.

    Raises
    ------
    ConfigError
        If more than one of ``workers``, ``scheduler`` and ``client`` is given, if
        ``workers`` is below 1, or if the scheduler cannot be reached.
    """
    given = [name for name, value in (("workers", workers), ("scheduler", scheduler),
                                      ("client", client)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"batch: give one of workers (a local cluster), scheduler or client, "
                          f"not {' and '.join(given)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"batch: workers must be at least 1, got {workers}")
    if client is not None:
        yield client
        return
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            connected = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"scheduler {scheduler}: cannot connect ({exc}); expected the "
                              "address of a running Dask scheduler, e.g. tcp://host:8786"
                              ) from None
        with connected:
            yield connected
        return
    with dask.config.set(LOCAL_WORKER_CONFIG), \
            LocalCluster(n_workers=workers or availableCores(), threads_per_worker=1,
                         processes=True, **LOCAL_CLUSTER_OPTIONS) as cluster, \
            Client(cluster) as local:
        yield local
