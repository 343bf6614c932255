"""The seed's own run metrics (doAddMetrics), gathered for the metadata's ``quality.metrics``.

* kernel-candidate QA: ``nKernelCandidates`` and the median over the candidates
  of each figure the subtraction reported per candidate
  (:mod:`diffim.kernel_candidates`);
* ``NFalsePositives{Total,RefAssociated,SrcAssociated,Unassociated}``
  (:mod:`diffim.false_positives`);
* with doUseRegister, the registration offsets the register plugin measured
  (``REGISTRATION_KEYS``).
"""
from __future__ import annotations

from typing import Any

from astropy.table import Table

from .exposure import Exposure
from .false_positives import falsePositiveCounts
from .kernel_candidates import kernelCandidateSummary
from .results import SubtractionResult

#: Registration figures (register plugin metadata) copied into the metrics:
#: ``[dx, dy]`` science minus template position (pixels) at the science centre and
#: averaged over the matched stars, and the rms of the fit residuals (pixels).
REGISTRATION_KEYS = ("registerOffset", "registerOffsetMean", "registerRms")


def runMetrics(subtraction: SubtractionResult | None, diaSources: Table | None,
               science: Exposure, knownSources: list[Table],
               metadata: dict[str, Any]) -> dict[str, Any]:
    """The metrics of one run; each group only where its inputs exist.

    Parameters
    ----------
    subtraction : SubtractionResult or None
        What the subtraction returned (its ``kernelCandidates``).
    diaSources : astropy.table.Table or None
        The run's diaSources (None without detection).
    science : Exposure
        The science exposure.
    knownSources : list of astropy.table.Table
        The science and template source catalogs that were given.
    metadata : dict
        The run metadata so far (the registration figures).
    """
    metrics: dict[str, Any] = {}
    candidates = None if subtraction is None else subtraction.candidateTable()
    if candidates is not None:
        metrics.update(kernelCandidateSummary(candidates))
    if diaSources is not None:
        metrics.update(falsePositiveCounts(diaSources, science, knownSources))
    metrics.update({key: metadata[key] for key in REGISTRATION_KEYS if key in metadata})
    return metrics
