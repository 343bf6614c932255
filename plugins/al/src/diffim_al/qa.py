"""Kernel-candidate QA: how well each candidate's stamp is subtracted (LSST's KernelCandidateQa).

Every candidate whose own kernel was fitted gets the mean, median and standard
deviation of ``z = difference / sqrt(variance)`` over its stamp's fitted region
(its core with ``useCoreStats``) twice: under its own single-stamp kernel and
background (``LOCAL``) and under the final spatial model evaluated at the
candidate (``SPATIAL``). ``z`` is positive where the science image is brighter,
whichever image was convolved. A good candidate has ``LOCAL`` stdev about 1 and
``SPATIAL`` close to ``LOCAL``; a variable star fits its own kernel but leaves a
large ``SPATIAL`` mean.
"""
from __future__ import annotations

import numpy as np
from astropy.table import Column, Table

from .candidates import GOOD
from .kernel import SpatialMatchingKernel
from .solve import KernelSolver

#: Kinds of kernel the candidates' residuals are measured under.
KERNEL_KINDS = ("LOCAL", "SPATIAL")


def kernelCandidateQa(solver: KernelSolver, kernel: SpatialMatchingKernel,
                      convolveTemplate: bool) -> Table:
    """One row per fitted candidate: position, whether the spatial fit used it, residuals.

    Parameters
    ----------
    solver : KernelSolver
        The solver after :meth:`KernelSolver.solve`.
    kernel : SpatialMatchingKernel
        The final spatial kernel (and background).
    convolveTemplate : bool
        True when the template was convolved (the residual is science minus model);
        False flips the sign so that ``z`` is positive where the science is brighter.

    Returns
    -------
    astropy.table.Table
        ``x``, ``y`` (the candidate's star pixel), ``KCUsed`` and
        ``KCDiffim{Mean,Median,StDev}_{LOCAL,SPATIAL}``.
    """
    index = np.flatnonzero(solver.fitted)
    candidates = solver.candidates
    sign = 1.0 if convolveTemplate else -1.0
    table = Table()
    table["x"] = Column(candidates.x[index].astype(np.float64), unit="pix",
                        description="candidate star column (0-based pixel)")
    table["y"] = Column(candidates.y[index].astype(np.float64), unit="pix",
                        description="candidate star row (0-based pixel)")
    table["KCUsed"] = Column(candidates.status[index] == GOOD,
                             description="kernel candidate used in the final spatial fit")
    stats = {"LOCAL": solver.localStats(index), "SPATIAL": solver.spatialStats(index, kernel)}
    for kind in KERNEL_KINDS:
        what = ("its own kernel" if kind == "LOCAL" else "the spatial kernel") + \
            " over the candidate stamp"
        table[f"KCDiffimMean_{kind}"] = Column(
            sign * stats[kind].mean, description=f"mean of difference/sqrt(variance) with {what}")
        table[f"KCDiffimMedian_{kind}"] = Column(
            sign * stats[kind].median,
            description=f"median of difference/sqrt(variance) with {what}")
        table[f"KCDiffimStDev_{kind}"] = Column(
            stats[kind].std, description=f"stdev of difference/sqrt(variance) with {what}")
    return table
