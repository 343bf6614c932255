"""Footprints as label images: peaks, growing and merging of positive and negative sets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from diffim.morphology import growLabels, growMask
from diffim.sourcefinding import localMaxima

from .threshold import EIGHT_CONNECTED


@dataclass
class Peaks:
    """Local extrema of the detection image inside footprints.

    Attributes
    ----------
    x, y : numpy.ndarray
        int64 pixel positions.
    value : numpy.ndarray
        Detection-image value (signed: negative for negative peaks).
    sign : numpy.ndarray
        int8, +1 for a positive peak, -1 for a negative one.
    footprint : numpy.ndarray
        int64 label of the footprint holding the peak.
    """

    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    sign: np.ndarray
    footprint: np.ndarray

    @classmethod
    def empty(cls) -> "Peaks":
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, np.zeros(0), np.zeros(0, dtype=np.int8), none)

    def relabelled(self, labels: np.ndarray) -> "Peaks":
        """The same peaks, each assigned to the footprint of ``labels`` that holds its pixel."""
        return Peaks(self.x, self.y, self.value, self.sign, labels[self.y, self.x].astype(np.int64))

    def shifted(self, offset: int) -> "Peaks":
        """The same peaks with ``offset`` added to their footprint labels."""
        return Peaks(self.x, self.y, self.value, self.sign, self.footprint + offset)

    @staticmethod
    def concatenate(parts: list["Peaks"]) -> "Peaks":
        return Peaks(*(np.concatenate([getattr(p, name) for p in parts])
                       for name in ("x", "y", "value", "sign", "footprint")))


@dataclass
class FootprintSet:
    """Footprints of one polarity (or merged): a label image and the peaks inside.

    Attributes
    ----------
    labels : numpy.ndarray
        int32 image, footprint ``k`` has value ``k`` (1-based), 0 outside.
    count : int
        Number of footprints.
    peaks : Peaks
        Their peaks.
    """

    labels: np.ndarray
    count: int
    peaks: Peaks

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> "FootprintSet":
        return cls(np.zeros(shape, dtype=np.int32), 0, Peaks.empty())


def findPeaks(image: np.ndarray, labels: np.ndarray, count: int, sign: int) -> Peaks:
    """Pixels of the footprints that no 8-neighbour exceeds (in ``sign * image``).

    The peaks are :func:`diffim.sourcefinding.localMaxima` (``separation=1``) of
    ``sign * image`` inside the footprints. A footprint without such a pixel (possible
    where the noise level varies, since the threshold is on significance but peaks are
    on value) gets its extreme pixel.

    Parameters
    ----------
    image : numpy.ndarray
        Detection image (signed values).
    labels : numpy.ndarray
        Footprint labels of polarity ``sign``.
    count : int
        Number of footprints in ``labels``.
    sign : int
        +1 for maxima, -1 for minima.
    """
    xs, ys = localMaxima(sign * image, separation=1, within=labels > 0)
    lacking = np.flatnonzero(np.bincount(labels[ys, xs], minlength=count + 1)[1:] == 0) + 1
    if lacking.size:
        extreme = np.array(ndimage.maximum_position(sign * image, labels, lacking),
                           dtype=np.int64).reshape(-1, 2)
        ys = np.concatenate([ys, extreme[:, 0]])
        xs = np.concatenate([xs, extreme[:, 1]])
    return Peaks(xs, ys, image[ys, xs].astype(np.float64), np.full(ys.size, sign, dtype=np.int8),
                 labels[ys, xs].astype(np.int64))


def growFootprints(footprints: FootprintSet, radius: int, isotropic: bool,
                   combined: bool) -> FootprintSet:
    """Grow every footprint by ``radius`` pixels.

    Parameters
    ----------
    footprints : FootprintSet
        Footprints to grow.
    radius : int
        Pixels to grow by.
    isotropic : bool
        Disc (True) or Manhattan (False) growth.
    combined : bool
        Grow the set as a whole and join footprints that touch afterwards (True),
        or keep each footprint, giving a pixel reached by several to the nearest
        (:func:`diffim.morphology.growLabels`).
    """
    if radius <= 0 or footprints.count == 0:
        return footprints
    if combined:
        grown = growMask(footprints.labels > 0, radius, "euclidean" if isotropic else "taxicab")
        labels, count = ndimage.label(grown, structure=EIGHT_CONNECTED)
        labels = labels.astype(np.int32, copy=False)
        return FootprintSet(labels, count, footprints.peaks.relabelled(labels))
    labels = growLabels(footprints.labels, radius, "euclidean" if isotropic else "taxicab")
    return FootprintSet(labels, footprints.count, footprints.peaks)


def mergePolarities(positive: FootprintSet, negative: FootprintSet, grow: int) -> FootprintSet:
    """Grow both sets by ``grow`` pixels (Manhattan) and join overlapping footprints.

    Each merged footprint keeps the peaks of every footprint it absorbed, of both signs.
    """
    union = (growMask(positive.labels > 0, grow, metric="taxicab")
             | growMask(negative.labels > 0, grow, metric="taxicab"))
    labels, count = ndimage.label(union, structure=EIGHT_CONNECTED)
    labels = labels.astype(np.int32, copy=False)
    peaks = Peaks.concatenate([positive.peaks, negative.peaks]).relabelled(labels)
    return FootprintSet(labels, count, peaks)


def stackPolarities(positive: FootprintSet, negative: FootprintSet,
                    image: np.ndarray) -> FootprintSet:
    """Keep positive and negative footprints as separate sources (positive ones first).

    A pixel claimed by both goes to the negative footprint where the detection
    image is negative, to the positive one otherwise.
    """
    labels = positive.labels.copy()
    toNegative = (negative.labels > 0) & ((positive.labels == 0) | (image < 0))
    labels[toNegative] = negative.labels[toNegative] + positive.count
    peaks = Peaks.concatenate([positive.peaks, negative.peaks.shifted(positive.count)])
    return FootprintSet(labels, positive.count + negative.count, peaks)
