"""Batch processing: every science exposure of a repository, in parallel on Dask.

::

    from diffim.batch import runBatch
    summary = runBatch("repo", "pipelines/default.yaml", where="visit > 3", workers=4)
    print(summary.table())

The modules: :mod:`~diffim.batch.plan` (which data IDs run and which are done),
:mod:`~diffim.batch.work` (what a worker runs for one data ID),
:mod:`~diffim.batch.cluster` (a local Dask cluster, or an existing one),
:mod:`~diffim.batch.summary` (results and the table), :mod:`~diffim.batch.run`
(:func:`runBatch`) and :mod:`~diffim.batch.command` (``diffim batch``).
"""
from __future__ import annotations

import importlib
from typing import Any

#: Public names and their modules; imported on first use, so that ``diffim --help`` and
#: the ``batch`` command's option parsing do not load the task and Dask.
_EXPORTS = {"BatchPlan": "plan", "planBatch": "plan",
            "runBatch": "run", "BatchSummary": "summary", "DataIdResult": "summary"}

__all__ = ["BatchPlan", "BatchSummary", "DataIdResult", "planBatch", "runBatch"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
