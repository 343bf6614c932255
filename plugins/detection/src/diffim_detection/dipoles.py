"""Pairing deblended positive and negative sources into dipoles.

An object that moved, or whose template was misaligned, leaves a positive and a
negative lobe side by side. After deblending every lobe is a source of its own; a
positive and a negative source become one dipole when their footprints, grown by
``growFootprint`` pixels, touch and each is the other's nearest such neighbour. A
transient beside a star's subtraction residual therefore stays a source of its own
instead of being joined to the residual's negative lobe, and no chain of lobes
grows into one source.
"""
from __future__ import annotations

import numpy as np

from diffim.morphology import growLabels, growMask

from .deblend import Blends
from .footprints import FootprintSet, Peaks


def _touchingPairs(positive: np.ndarray, negative: np.ndarray,
                   grow: int) -> tuple[np.ndarray, np.ndarray]:
    """Label pairs (positive, negative) whose footprints touch once grown by ``grow``."""
    both = (growMask(positive > 0, grow, metric="taxicab")
            & growMask(negative > 0, grow, metric="taxicab"))
    if not both.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    grownPositive = growLabels(positive, grow, metric="taxicab", within=both)
    grownNegative = growLabels(negative, grow, metric="taxicab", within=both)
    pairs = np.unique(np.column_stack([grownPositive[both], grownNegative[both]]), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def _peakPositions(footprints: FootprintSet) -> tuple[np.ndarray, np.ndarray]:
    """Peak column and row of each source, indexed by its label (one peak per source)."""
    x, y = np.zeros(footprints.count + 1), np.zeros(footprints.count + 1)
    x[footprints.peaks.footprint] = footprints.peaks.x
    y[footprints.peaks.footprint] = footprints.peaks.y
    return x, y


def _mutualNearest(first: np.ndarray, second: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Which candidate pairs are each member's nearest candidate."""
    keep = np.ones(first.size, dtype=bool)
    for group in (first, second):
        order = np.lexsort((distance, group))
        best = np.zeros(first.size, dtype=bool)
        leading = np.ones(order.size, dtype=bool)
        leading[1:] = group[order][1:] != group[order][:-1]
        best[order[leading]] = True
        keep &= best
    return keep


def pairDipoles(positive: FootprintSet, positiveBlends: Blends, negative: FootprintSet,
                negativeBlends: Blends, grow: int,
                image: np.ndarray) -> tuple[FootprintSet, Blends]:
    """Join mutually nearest touching positive and negative sources into dipoles.

    Parameters
    ----------
    positive, negative : FootprintSet
        Deblended sources of each sign, one peak per source.
    positiveBlends, negativeBlends : Blends
        Their blend numbers (the negative ones are renumbered after the positive).
    grow : int
        Pixels (Manhattan) by which footprints are grown to decide that they touch.
    image : numpy.ndarray
        The detection image: a pixel in both a positive and a negative footprint
        goes to the negative one where it is negative.

    Returns
    -------
    FootprintSet
        The positive sources (with their paired negative lobe, if any) first, then the
        unpaired negative ones.
    Blends
        The blend of each source (a dipole keeps its positive lobe's, or else its
        negative lobe's).
    """
    nPositive, nNegative = positive.count, negative.count
    target = np.zeros(nNegative + 1, dtype=np.int64)
    if nPositive and nNegative:
        first, second = _touchingPairs(positive.labels, negative.labels, grow)
        (px, py), (nx, ny) = _peakPositions(positive), _peakPositions(negative)
        distance = np.hypot(px[first] - nx[second], py[first] - ny[second])
        mutual = _mutualNearest(first, second, distance)
        target[second[mutual]] = first[mutual]
    unpaired = np.flatnonzero(target[1:] == 0) + 1
    target[unpaired] = nPositive + np.arange(1, unpaired.size + 1)
    labels = positive.labels.copy()
    toNegative = (negative.labels > 0) & ((positive.labels == 0) | (image < 0))
    labels[toNegative] = target[negative.labels[toNegative]]
    negativePeaks = negative.peaks
    peaks = Peaks.concatenate([positive.peaks,
                               Peaks(negativePeaks.x, negativePeaks.y, negativePeaks.value,
                                     negativePeaks.sign, target[negativePeaks.footprint])])
    count = nPositive + unpaired.size
    offset = int(positiveBlends.parent.max(initial=0))
    negativeParent = np.where(negativeBlends.parent > 0, negativeBlends.parent + offset, 0)
    parent = np.concatenate([positiveBlends.parent, negativeParent[unpaired - 1]])
    nChild = np.concatenate([positiveBlends.nChild, negativeBlends.nChild[unpaired - 1]])
    paired = np.flatnonzero(target[1:] <= nPositive) + 1
    lobe = target[paired] - 1
    inherit = parent[lobe] == 0
    parent[lobe[inherit]] = negativeParent[paired[inherit] - 1]
    nChild[lobe[inherit]] = negativeBlends.nChild[paired[inherit] - 1]
    return FootprintSet(labels.astype(np.int32, copy=False), count, peaks), Blends(parent, nChild)
