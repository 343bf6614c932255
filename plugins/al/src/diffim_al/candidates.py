"""Kernel candidates: finding stars, cutting stamps, ranking them within cells.

A candidate is a square stamp (the same pixels in both images) centred on a
star; the image is divided into cells and, in each cell, the best-ranked
``nStarPerCell`` candidates that have not been rejected take part in the fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from numpy.lib.stride_tricks import sliding_window_view

from diffim.background import backgroundModel
from diffim.errors import InputError
from diffim.photometry import psfWeightedSignificance
from diffim.sourcefinding import extractObjects, matchedFilter

from .config import ImagePsfMatchConfig
from .masks import borderPixels

UNFIT = 0
GOOD = 1
BAD = 2

#: Bin size (pixels) of the sky removed before detecting candidate stars.
DETECTION_BIN_SIZE = 64

#: Lowest PSF-weighted signal-to-noise in the template of a kernel candidate: a star
#: of the science image that the template does not show (a transient) matches nothing.
MIN_TEMPLATE_SNR = 5.0

#: Stamps whose flags are counted together (bounds the copy of the boxes).
_BOX_CHUNK = 512


def detectStars(image: np.ndarray, variance: np.ndarray, bad: np.ndarray, psfImage: np.ndarray,
                config: ImagePsfMatchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Detect candidate stars on a background-subtracted copy of ``image``.

    The copy has its sky (:func:`diffim.background.backgroundModel`, 64-pixel
    bins) removed and is PSF-filtered into a signal-to-noise image
    (:func:`diffim.sourcefinding.matchedFilter`); the objects of that image above
    ``detThreshold`` with ``fpNpixMin <= npix <= fpNpixMax`` are found without
    filtering, deblending or cleaning
    (:func:`diffim.sourcefinding.extractObjects`), and each object's position is
    its significance peak (the brightest star of a blend). The PSF half-width
    border is not searched.

    Parameters
    ----------
    image, variance : numpy.ndarray
        Pixels and their variance; neither is modified.
    bad : numpy.ndarray
        Boolean, True where pixels must be ignored.
    psfImage : numpy.ndarray
        PSF stamp used as the detection filter.
    config : ImagePsfMatchConfig
        Detection thresholds.

    Returns
    -------
    x, y : numpy.ndarray
        Object peak pixels (0-based).
    """
    data = np.where(bad, np.float32(0.0), image).astype(np.float32)
    data -= backgroundModel(data, bad, binSize=DETECTION_BIN_SIZE)
    significance = matchedFilter(data, variance, bad, psfImage).significance
    significance[borderPixels(significance.shape, psfImage.shape[0] // 2)] = 0.0
    objects = extractObjects(significance, config.detThreshold, exclude=bad,
                             minArea=config.fpNpixMin, filterKernel=None, deblendContrast=1.0,
                             clean=False).catalog
    keep = objects["npix"] <= config.fpNpixMax
    return objects["xpeak"][keep].astype(np.float64), objects["ypeak"][keep].astype(np.float64)


def sourcePositions(kernelSources: Table) -> tuple[np.ndarray, np.ndarray]:
    """The ``x``, ``y`` columns of a kernel-source table.

    Raises
    ------
    diffim.errors.InputError
        If a column is missing.
    """
    missing = [name for name in ("x", "y") if name not in kernelSources.colnames]
    if missing:
        raise InputError(f"kernelSources lacks column(s) {', '.join(missing)}; expected 0-based "
                         f"pixel positions in columns 'x' and 'y'")
    return (np.asarray(kernelSources["x"], dtype=np.float64),
            np.asarray(kernelSources["y"], dtype=np.float64))


def shownByTemplate(x: np.ndarray, y: np.ndarray, template: np.ndarray,
                    templateVariance: np.ndarray, bad: np.ndarray,
                    psfImage: np.ndarray) -> np.ndarray:
    """Whether the template shows a star at each position (PSF-weighted S/N >= 5).

    :func:`diffim.photometry.psfWeightedSignificance` of the template; positions
    whose stamp leaves the image or holds a ``bad`` pixel are kept (the stamp checks
    decide about them).

    Parameters
    ----------
    x, y : numpy.ndarray
        Star positions (0-based pixels).
    template, templateVariance : numpy.ndarray
        Template pixels and variance on the science grid.
    bad : numpy.ndarray
        Boolean, True where template pixels must be ignored.
    psfImage : numpy.ndarray
        Template PSF stamp (odd size).

    Returns
    -------
    numpy.ndarray
        Boolean per position.
    """
    cx = np.floor(np.asarray(x) + 0.5).astype(np.intp)
    cy = np.floor(np.asarray(y) + 0.5).astype(np.intp)
    significance = psfWeightedSignificance(np.where(bad, np.nan, template), templateVariance,
                                           cx, cy, psfImage)
    return ~(significance < MIN_TEMPLATE_SNR)


def _boxCounts(flags: np.ndarray, y0: np.ndarray, x0: np.ndarray, size: int) -> np.ndarray:
    """Number of True pixels of ``flags`` in each ``size``-square box with corner ``(y0, x0)``.

    Only the boxes are read (a summed-area table of the whole frame cost more than
    all the boxes together).
    """
    counts = np.empty(len(y0), dtype=np.int64)
    boxes = sliding_window_view(flags, (size, size))
    for start in range(0, len(y0), _BOX_CHUNK):
        chunk = slice(start, start + _BOX_CHUNK)
        counts[chunk] = np.count_nonzero(boxes[y0[chunk], x0[chunk]], axis=(1, 2))
    return counts


@dataclass
class KernelCandidates:
    """Candidate stamps sorted into cells, with their fit status.

    Attributes
    ----------
    x, y : numpy.ndarray
        Integer star positions (the stamp's nominal centre).
    x0, y0 : numpy.ndarray
        Stamp corners (stamps are shifted, not shrunk, to fit in the image).
    stampSize : int
        Stamp width (odd).
    rank : numpy.ndarray
        Mean science signal to noise in the candidate core (higher is better).
    cell : numpy.ndarray
        Cell index of each candidate.
    nPerCell : int
        Candidates used per cell.
    status : numpy.ndarray
        ``UNFIT``, ``GOOD`` or ``BAD`` per candidate.
    """

    x: np.ndarray
    y: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    stampSize: int
    rank: np.ndarray
    cell: np.ndarray
    nPerCell: int
    status: np.ndarray

    def __post_init__(self) -> None:
        self._order = np.lexsort((-self.rank, self.cell))

    def __len__(self) -> int:
        return len(self.x)

    def active(self) -> np.ndarray:
        """Indices of the best ``nPerCell`` not-BAD candidates of every cell."""
        order = self._order
        usable = self.status[order] != BAD
        cells = self.cell[order]
        count = np.cumsum(usable)
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        groupStart = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        within = count - (count[groupStart] - usable[groupStart])
        return np.sort(order[usable & (within <= self.nPerCell)])

    def reject(self, index: np.ndarray) -> None:
        """Mark candidates BAD (the next ones in their cells take their place)."""
        self.status[index] = BAD

    @property
    def nBad(self) -> int:
        return int(np.count_nonzero(self.status == BAD))


def makeCandidates(x: np.ndarray, y: np.ndarray, stampHalfWidth: int,
                   rejectPixels: np.ndarray, science: np.ndarray,
                   scienceVariance: np.ndarray,
                   config: ImagePsfMatchConfig) -> tuple[KernelCandidates, int]:
    """Cut stamps around star positions, drop unusable ones and rank the rest.

    Parameters
    ----------
    x, y : numpy.ndarray
        Star positions (0-based pixels); those outside the image are dropped.
    stampHalfWidth : int
        Stamp half-size; stamps are ``2 * stampHalfWidth + 1`` pixels wide.
    rejectPixels : numpy.ndarray
        Boolean image, True where a pixel disqualifies any stamp that contains it
        (badMaskPlanes in either image, non-finite values, non-positive variance).
    science, scienceVariance : numpy.ndarray
        Science pixels and variance, for the ranking.
    config : ImagePsfMatchConfig
        Cell sizes, stars per cell, core radius.

    Returns
    -------
    candidates : KernelCandidates
        The usable candidates.
    nMasked : int
        Stars inside the image whose stamp held a disqualifying pixel.
    """
    height, width = science.shape
    size = 2 * stampHalfWidth + 1
    cx = np.floor(np.asarray(x) + 0.5).astype(np.intp)
    cy = np.floor(np.asarray(y) + 0.5).astype(np.intp)
    inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
    if size > min(height, width):
        inside[:] = False
    cx, cy = cx[inside], cy[inside]
    x0 = np.clip(cx - stampHalfWidth, 0, width - size)
    y0 = np.clip(cy - stampHalfWidth, 0, height - size)
    clean = _boxCounts(rejectPixels, y0, x0, size) == 0
    cx, cy, x0, y0 = cx[clean], cy[clean], x0[clean], y0[clean]
    rank = _coreSignalToNoise(science, scienceVariance, cx, cy, config.candidateCoreRadius)
    nCellX = -(-width // config.sizeCellX)
    cell = (cy // config.sizeCellY) * nCellX + cx // config.sizeCellX
    status = np.full(len(cx), UNFIT, dtype=np.int8)
    candidates = KernelCandidates(cx, cy, x0, y0, size, rank, cell, config.nStarPerCell, status)
    return candidates, int(np.count_nonzero(~clean))


def _coreSignalToNoise(image: np.ndarray, variance: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                       radius: int) -> np.ndarray:
    """Mean of ``image / sqrt(variance)`` over the core box around each position."""
    offsets = np.arange(-radius, radius + 1)
    rows = np.clip(cy[:, None, None] + offsets[None, :, None], 0, image.shape[0] - 1)
    cols = np.clip(cx[:, None, None] + offsets[None, None, :], 0, image.shape[1] - 1)
    core = image[rows, cols] / np.sqrt(variance[rows, cols])
    return core.reshape(len(cx), (2 * radius + 1) ** 2).mean(axis=1)
