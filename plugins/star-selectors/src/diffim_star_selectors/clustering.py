"""One-dimensional k-means on object widths, and the clipping that refines the star cluster.

Stars all share the width of the PSF, so they form the narrowest dense cluster
of widths; galaxies and blends are wider and spread out.
"""
from __future__ import annotations

import numpy as np

from diffim.statistics import iqrSigma

#: Number of width clusters (LSST's object-size selector uses four).
N_CLUSTERS = 4

#: The first cluster centre starts at this percentile of the widths.
START_PERCENTILE = 10

#: k-means stops after this many reassignments even if members still move.
MAX_KMEANS_ITERATIONS = 100

#: The star cluster is refined (clipped) at most this many times.
MAX_REFINE_ITERATIONS = 10

#: A cluster with fewer members has no meaningful interquartile range and is not refined.
MIN_REFINE_MEMBERS = 5


def _assign(widths: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (NaN centres, of empty clusters, are never nearest)."""
    distance = np.abs(widths[:, None] - centres[None, :])
    distance[:, ~np.isfinite(centres)] = np.inf
    return np.argmin(distance, axis=1)


def kMeansWidths(widths: np.ndarray, widthStdAllowed: float,
                 nClusters: int = N_CLUSTERS) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``widths`` with k-means whose centres are updated to the cluster medians.

    The centres start at ``c0 = 10th percentile`` and ``c0 + k * 2 * widthStdAllowed * c0``
    so that cluster 0 starts on the narrowest common width.

    Parameters
    ----------
    widths : numpy.ndarray
        Finite object widths (at least one).
    widthStdAllowed : float
        Expected fractional spread of the star widths.
    nClusters : int
        Number of clusters.

    Returns
    -------
    centres : numpy.ndarray
        Final centre of each cluster (NaN for an empty one).
    clusterId : numpy.ndarray
        Cluster of each width.
    """
    start = float(np.sort(widths)[len(widths) * START_PERCENTILE // 100])
    centres = start + 2.0 * widthStdAllowed * start * np.arange(nClusters, dtype=np.float64)
    clusterId = _assign(widths, centres)
    for _ in range(MAX_KMEANS_ITERATIONS):
        for k in range(nClusters):
            members = widths[clusterId == k]
            centres[k] = np.median(members) if len(members) else np.nan
        newId = _assign(widths, centres)
        if np.array_equal(newId, clusterId):
            break
        clusterId = newId
    return centres, clusterId


def refineCluster(widths: np.ndarray, inCluster: np.ndarray, nSigmaClip: float,
                  widthStdAllowed: float) -> np.ndarray:
    """Clip a cluster to the members within ``nSigmaClip`` robust sigmas of its median.

    Each pass takes the median and ``sigma = min(std, iqrSigma)`` of the
    members (:func:`diffim.statistics.iqrSigma`: 0.7413 times the interquartile
    range) and keeps those closer than ``nSigmaClip * sigma`` to the median;
    it stops when membership no longer changes, when ``sigma`` is below
    ``widthStdAllowed`` times the median (the cluster is already as tight as
    stars are), or after :data:`MAX_REFINE_ITERATIONS` passes. A cluster of
    fewer than :data:`MIN_REFINE_MEMBERS` is returned unchanged.

    Parameters
    ----------
    widths : numpy.ndarray
        Widths of every object.
    inCluster : numpy.ndarray
        True for the cluster's members.
    nSigmaClip : float
        Clipping limit in sigmas.
    widthStdAllowed : float
        Fractional scatter at which the cluster counts as tight.

    Returns
    -------
    numpy.ndarray
        The refined membership (a subset of ``inCluster``).
    """
    members = inCluster.copy()
    if members.sum() < MIN_REFINE_MEMBERS:
        return members
    for _ in range(MAX_REFINE_ITERATIONS):
        values = widths[members]
        median = float(np.median(values))
        sigma = min(float(np.std(values)), iqrSigma(values))
        kept = members & (np.abs(widths - median) <= nSigmaClip * sigma)
        changed = kept.sum() != members.sum()
        members = kept
        if not changed or sigma < widthStdAllowed * median or members.sum() < MIN_REFINE_MEMBERS:
            break
    return members
