"""Splitting footprints that hold several significant peaks into one source per peak.

A footprint found by thresholding holds every source whose light joins above the
threshold: a transient next to a star's subtraction residual, two transients a few
PSF widths apart. Each peak of the detection image that reaches the threshold is a
candidate source. The candidates' own amplitudes are solved for jointly from their
values and the detection image's response to a point source (the PSF, filtered as the
detection image was), so that a peak on the wing of a brighter one keeps only its own
light; the weakest candidate whose amplitude is below the threshold is dropped and the
solution repeated until every candidate left is significant on its own. The
footprint's pixels are then shared out: each goes to the child whose fitted profile
is brightest there (the PSF-weighted split).

Smoothing merges two sources closer than about 2.8 PSF sigmas into one peak. Where
the detection image was smoothed, the peaks of the unsmoothed image (more than
:data:`UNSMOOTHED_PEAK_DISTANCE` sigmas from every smoothed peak) are candidates too.
Footprints that touch a saturated, bad or missing pixel get no unsmoothed candidates,
and of their peaks near such pixels only those that look like point sources, and the
brightest of the rest, are candidates: what a saturated star leaves in a difference is
not PSF-shaped and would be split into false sources.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import linalg
from scipy.spatial import cKDTree

from diffim.matching import nearestDistance
from diffim.morphology import growMask
from diffim.psf import Psf
from diffim.sourcefinding import footprintsTouching, localMaxima

from .footprints import FootprintSet, Peaks
from .smoothing import gaussianKernel1d

#: Children compared for each pixel of a blend when sharing out its pixels.
NEAREST_CHILDREN = 8

#: Reach (PSF sigmas) of an untrusted pixel: the peaks this close are one candidate.
UNTRUSTED_REACH = 2.0

#: An unsmoothed-image peak is a candidate when at least this many PSF sigmas from every
#: peak of the smoothed image (closer, it is the same source).
UNSMOOTHED_PEAK_DISTANCE = 1.25

#: Mask planes whose pixels keep a footprint from getting unsmoothed-image candidates, and
#: whose neighbourhood gives one candidate at most.
UNTRUSTED_PLANES = ("SAT", "BAD", "NO_DATA")


@dataclass
class Blends:
    """Which detected footprint each deblended source came from.

    Attributes
    ----------
    parent : numpy.ndarray
        int64 per source: the number (1, 2, ...) of the blend it was split from, 0
        for a source whose footprint held it alone.
    nChild : numpy.ndarray
        int64 per source: how many sources its blend was split into (0 when alone).
    """

    parent: np.ndarray
    nChild: np.ndarray

    @classmethod
    def unsplit(cls, count: int) -> "Blends":
        return cls(np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64))

    @staticmethod
    def stacked(positive: "Blends", negative: "Blends") -> "Blends":
        """The positive sources' blends, then the negative ones', renumbered after them."""
        offset = int(positive.parent.max(initial=0))
        return Blends(np.concatenate([positive.parent,
                                      np.where(negative.parent > 0, negative.parent + offset, 0)]),
                      np.concatenate([positive.nChild, negative.nChild]))


def pointSourceResponse(psf: Psf, x: float, y: float, smoothingSigma: float | None,
                        smoothingWidth: int) -> np.ndarray:
    """The detection image of a point source at ``(x, y)``, scaled to 1 at its centre.

    Parameters
    ----------
    psf : Psf
        The PSF of the image detected on.
    x, y : float
        Where to evaluate it.
    smoothingSigma : float or None
        Sigma of the Gaussian the detection image was smoothed with; None when it
        was not smoothed, i.e. it is already a matched-filtered (score) image, whose
        response is the PSF filtered with itself.
    smoothingWidth : int
        Width of the smoothing kernel (ignored when ``smoothingSigma`` is None).
    """
    stamp = psf.at(x, y)
    if smoothingSigma is None:
        response = ndimage.correlate(stamp, stamp, mode="constant")
    else:
        kernel = gaussianKernel1d(smoothingSigma, smoothingWidth)
        response = ndimage.correlate1d(stamp, kernel, axis=0, mode="constant")
        response = ndimage.correlate1d(response, kernel, axis=1, mode="constant")
    centre = response[response.shape[0] // 2, response.shape[1] // 2]
    return response / centre


def withUnsmoothedPeaks(footprints: FootprintSet, image: np.ndarray, smoothed: np.ndarray,
                        sign: int, untrusted: np.ndarray, sigma: float) -> FootprintSet:
    """The footprints with the unsmoothed image's peaks added as candidates.

    Parameters
    ----------
    footprints : FootprintSet
        Footprints and the peaks of the smoothed detection image.
    image : numpy.ndarray
        The unsmoothed image (signed).
    smoothed : numpy.ndarray
        The detection image, whose values the new peaks carry (as the others do).
    sign : int
        The polarity of ``footprints``.
    untrusted : numpy.ndarray
        True for pixels (saturated, bad, missing) whose footprints get no candidates.
    sigma : float
        PSF sigma: peaks are the highest within ``round(sigma)`` pixels, and kept
        when more than ``UNSMOOTHED_PEAK_DISTANCE * sigma`` from every smoothed peak.
    """
    peaks = footprints.peaks
    if peaks.x.size == 0:
        return footprints
    trusted = trustedFootprints(footprints, untrusted)
    x, y = localMaxima(sign * image, separation=max(1, int(round(sigma))),
                       within=trusted[footprints.labels] & (footprints.labels > 0))
    distance = nearestDistance(np.column_stack([x, y]), np.column_stack([peaks.x, peaks.y]))
    far = distance > UNSMOOTHED_PEAK_DISTANCE * sigma
    x, y = x[far], y[far]
    extra = Peaks(x, y, smoothed[y, x].astype(np.float64), np.full(x.size, sign, dtype=np.int8),
                  footprints.labels[y, x].astype(np.int64))
    return FootprintSet(footprints.labels, footprints.count, Peaks.concatenate([peaks, extra]))


def trustedFootprints(footprints: FootprintSet, untrusted: np.ndarray) -> np.ndarray:
    """Boolean per label (index 0 unused): the footprint touches no ``untrusted`` pixel."""
    return np.concatenate([[True], ~footprintsTouching(footprints.labels, untrusted,
                                                       footprints.count)])


def _lookup(response: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``response`` at integer offsets from its centre; 0 beyond the stamp."""
    half = response.shape[0] // 2
    inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    out = np.zeros(dx.shape)
    out[inside] = response[dy[inside] + half, dx[inside] + half]
    return out


def _gram(x: np.ndarray, y: np.ndarray, response: np.ndarray) -> sparse.csr_matrix:
    """Sparse matrix of the response of each peak at every other (within the stamp)."""
    half = response.shape[0] // 2
    points = np.column_stack([x, y])
    pairs = cKDTree(points).query_pairs(np.sqrt(2.0) * half + 0.5, output_type="ndarray")
    i = np.concatenate([np.arange(x.size), pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([np.arange(x.size), pairs[:, 1], pairs[:, 0]])
    values = _lookup(response, x[i] - x[j], y[i] - y[j])
    return sparse.csr_matrix((values, (i, j)), shape=(x.size, x.size))


def significantPeaks(x: np.ndarray, y: np.ndarray, value: np.ndarray, response: np.ndarray,
                     threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The peaks that stand above ``threshold`` on their own, and their fitted amplitudes.

    The amplitudes solve for the peaks' values given each peak's response at the others.
    Each round drops, among every group of overlapping peaks below ``threshold``, the
    weakest one, and refits, until every peak left is significant (or one is left, the
    strongest). Peaks interact only within the response stamp, so the cost grows with the
    number of peaks, not with the area of the footprint.

    Parameters
    ----------
    x, y : numpy.ndarray
        Integer peak positions.
    value : numpy.ndarray
        The detection image's significance at each peak (positive).
    response : numpy.ndarray
        :func:`pointSourceResponse`.
    threshold : float
        Smallest fitted amplitude (in the units of ``value``) of a kept peak.

    Returns
    -------
    keep : numpy.ndarray
        Indices of the kept peaks.
    amplitude : numpy.ndarray
        Their fitted amplitudes.
    """
    keep = np.arange(x.size)
    while True:
        gram = _gram(x[keep], y[keep], response)
        amplitude = linalg.lsqr(gram, value[keep], atol=1e-10, btol=1e-10)[0]
        below = amplitude < threshold
        if not below.any():
            return keep, amplitude
        if below.all():
            strongest = int(np.argmax(amplitude))
            return keep[strongest:strongest + 1], amplitude[strongest:strongest + 1]
        rows, columns = gram.nonzero()
        weakest = np.full(keep.size, np.inf)
        np.minimum.at(weakest, rows, np.where(below, amplitude, np.inf)[columns])
        keep = keep[~(below & (amplitude <= weakest))]


def sharePixels(pixelX: np.ndarray, pixelY: np.ndarray, childX: np.ndarray,
                childY: np.ndarray, amplitude: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Index of the child whose fitted profile is brightest at each pixel.

    Among the :data:`NEAREST_CHILDREN` nearest children; a pixel beyond every
    nearby child's response stamp goes to the nearest one.
    """
    k = min(NEAREST_CHILDREN, childX.size)
    _, nearest = cKDTree(np.column_stack([childX, childY])).query(
        np.column_stack([pixelX, pixelY]), k=k)
    nearest = nearest.reshape(pixelX.size, k)
    weight = amplitude[nearest] * _lookup(response, pixelX[:, None] - childX[nearest],
                                          pixelY[:, None] - childY[nearest])
    best = np.argmax(weight, axis=1)
    best[~(weight > 0).any(axis=1)] = 0
    return nearest[np.arange(pixelX.size), best]


def deblend(footprints: FootprintSet, significance: np.ndarray, sign: int, psf: Psf,
            smoothingSigma: float | None, smoothingWidth: int, threshold: float,
            untrusted: np.ndarray,
            pointLike: Callable[[np.ndarray, np.ndarray], np.ndarray]
            ) -> tuple[FootprintSet, Blends]:
    """Split every footprint holding several significant peaks into one source per peak.

    Within :data:`UNTRUSTED_REACH` PSF sigmas of an ``untrusted`` (saturated, bad,
    missing) pixel a peak is a candidate when it looks like a point source, and of the
    others only the brightest is: what a saturated star leaves in a difference is a ring
    or a smear of several peaks, one artefact rather than several sources, while a
    transient beside it is still a source.

    Parameters
    ----------
    footprints : FootprintSet
        Footprints of one polarity and their peaks.
    significance : numpy.ndarray
        The thresholded image in noise units (signed).
    sign : int
        +1 or -1: the polarity of ``footprints``.
    psf : Psf
        The PSF of the image detected on.
    smoothingSigma, smoothingWidth
        How the detection image was filtered (see :func:`pointSourceResponse`).
    threshold : float
        Significance a peak needs on its own, its neighbours' light fitted away.
    untrusted : numpy.ndarray
        True for saturated, bad or missing pixels.
    pointLike : callable
        ``pointLike(x, y)``: which of the peaks at integer positions ``x, y`` look like
        a point source (see :func:`diffim_detection.pointsources.pointLike`).

    Returns
    -------
    FootprintSet
        The sources, one peak each: unsplit footprints keep their label order, the
        children of the split ones follow.
    Blends
        Each source's blend number and sibling count.
    """
    peaks = footprints.peaks
    perFootprint = np.bincount(peaks.footprint, minlength=footprints.count + 1)[1:]
    blended = np.flatnonzero(perFootprint > 1) + 1
    if blended.size == 0:
        return footprints, Blends.unsplit(footprints.count)
    nearUntrusted = growMask(untrusted, UNTRUSTED_REACH * psf.sigma())
    labels = footprints.labels.copy()
    order = np.argsort(peaks.footprint, kind="stable")
    starts = np.searchsorted(peaks.footprint[order], blended)
    boxes = ndimage.find_objects(footprints.labels)
    single = np.ones(peaks.x.size, dtype=bool)
    single[np.isin(peaks.footprint, blended)] = False
    keptPeaks, splits = [_only(peaks, single)], []
    nextLabel = footprints.count + 1
    for label, start in zip(blended, starts):
        members = order[start:start + perFootprint[label - 1]]
        px, py = peaks.x[members], peaks.y[members]
        response = pointSourceResponse(psf, float(px.mean()), float(py.mean()),
                                       smoothingSigma, smoothingWidth)
        value = sign * significance[py, px]
        strong = value >= threshold
        strong[np.argmax(value)] = True
        near = np.flatnonzero(nearUntrusted[py, px])
        if near.size:
            strong[near] = False
            candidates = near[value[near] >= threshold]
            sources = candidates[pointLike(px[candidates], py[candidates])]
            strong[sources] = True
            artefacts = np.setdiff1d(near, sources)
            if artefacts.size:
                strong[artefacts[np.argmax(value[artefacts])]] = True
        members, px, py, value = members[strong], px[strong], py[strong], value[strong]
        if members.size == 1:
            keptPeaks.append(_only(peaks, members))
            continue
        keep, amplitude = significantPeaks(px, py, value, response, threshold)
        kept = members[keep]
        newLabels = np.concatenate([[label], nextLabel + np.arange(kept.size - 1)])
        keptPeaks.append(Peaks(peaks.x[kept], peaks.y[kept], peaks.value[kept],
                               peaks.sign[kept], newLabels.astype(np.int64)))
        if kept.size == 1:
            continue
        box = boxes[label - 1]
        iy, ix = np.nonzero(footprints.labels[box] == label)
        iy, ix = iy + box[0].start, ix + box[1].start
        labels[iy, ix] = newLabels[sharePixels(ix, iy, peaks.x[kept], peaks.y[kept],
                                               amplitude, response)]
        nextLabel += kept.size - 1
        splits.append(newLabels)
    count = nextLabel - 1
    blends = Blends.unsplit(count)
    for number, children in enumerate(splits, start=1):
        blends.parent[children - 1] = number
        blends.nChild[children - 1] = children.size
    return FootprintSet(labels, count, Peaks.concatenate(keptPeaks)), blends


def _only(peaks: Peaks, which: np.ndarray) -> Peaks:
    """The peaks selected by ``which`` (a boolean mask or indices)."""
    return Peaks(peaks.x[which], peaks.y[which], peaks.value[which], peaks.sign[which],
                 peaks.footprint[which])
