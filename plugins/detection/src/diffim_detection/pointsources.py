"""Point-source fits on the unsmoothed image: the one-or-two-source test, point-like peaks.

Two sources closer than about two PSF sigmas make a single peak in the difference,
smoothed or not, so the peak-based deblend (:mod:`diffim_detection.deblend`) keeps
them as one source. Each source bright enough to hide a companion of detection
significance is fitted on the unsmoothed image, over the footprint pixels near its
peak, with one point source and with two (positions, amplitudes and a constant
background; the sources of either polarity that reach those pixels are fitted in
both). It is split in two when the two-source fit is better by at least the
detection threshold squared in chi-square, each source is significant on its own, the
fainter one carries at least :data:`MIN_FLUX_RATIO` of the brighter one's flux, and
they are at least :data:`MIN_SEPARATION` PSF sigmas apart. Residuals are weighed with
the pixel variance plus :data:`PSF_MODEL_ERROR` of the fitted model: a PSF model a few
per cent too narrow or too broad leaves a ring around a bright source, which a second
point source would otherwise be fitted to.

:func:`pointLike` tells the peaks beside saturated, bad or missing pixels that look like
a point source on a smooth background (a transient on a saturated star's wing) from the
ring or smear such pixels leave.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from diffim.convolution import convolve
from diffim.psf import Psf

from .deblend import Blends, sharePixels, trustedFootprints
from .footprints import FootprintSet, Peaks

log = logging.getLogger("diffim.detection")

#: Fraction of the fitted point-source model added (in quadrature) to each pixel's noise
#: when comparing the fits: what a PSF model a few per cent off leaves.
PSF_MODEL_ERROR = 0.05

#: The fainter of two split sources carries at least this fraction of the brighter's flux.
MIN_FLUX_RATIO = 0.15

#: Two split sources are at least this many PSF sigmas apart (closer, one is the other's
#: departure from the PSF model).
MIN_SEPARATION = 1.0

#: Half-width of the fitted box, in PSF sigmas.
BOX_SIGMAS = 3.0

#: Sources (of either polarity) this many PSF sigmas beyond the box are fitted too: their
#: light in the box is not a companion.
NEIGHBOUR_SIGMAS = 2.0

#: Half-width (PSF sigmas) of the box :func:`pointLike` fits.
POINT_BOX_SIGMAS = 2.0

#: Largest reduced chi-square of a peak that :func:`pointLike` passes.
MAX_REDUCED_CHI2 = 3.0

#: PSF stamps are moved in steps of 1/STEPS pixel (and cached).
STEPS = 8

#: :func:`pointLike` fits only trusted pixels when they are at least this fraction of its box.
MIN_TRUSTED_FRACTION = 0.5

#: Most sources of one polarity tested for a companion (the brightest): a difference with
#: thousands of sources at twice the threshold is a failed subtraction, and each test costs
#: a few milliseconds. More are left untested with a warning.
MAX_TESTED = 1000

#: Rounds of linearised position refinement in each fit.
POSITION_ROUNDS = 4

#: A fitted position moves by at most this many pixels per round.
MAX_STEP = 1.0


@dataclass
class _Fit:
    """Point sources fitted to the pixels of a box (box coordinates)."""

    x: np.ndarray
    y: np.ndarray
    amplitude: np.ndarray
    amplitudeErr: np.ndarray
    chi2: float


class _ShiftedPsf:
    """A PSF stamp and its gradient moved to sub-pixel offsets, cached per 1/:data:`STEPS` px.

    Parameters
    ----------
    stamp : numpy.ndarray
        Odd square unit-sum PSF image, centred on its middle pixel.
    """

    def __init__(self, stamp: np.ndarray):
        self.stamp = stamp
        self.half = stamp.shape[0] // 2
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _shifted(self, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (int(round(dx * STEPS)), int(round(dy * STEPS)))
        if key not in self._cache:
            moved = ndimage.shift(self.stamp, (key[1] / STEPS, key[0] / STEPS), order=3,
                                  mode="constant")
            gradientY, gradientX = np.gradient(moved)
            self._cache[key] = moved, gradientX, gradientY
        return self._cache[key]

    def columns(self, x: float, y: float, ix: np.ndarray, iy: np.ndarray,
                derivatives: bool) -> list[np.ndarray]:
        """The PSF centred at ``(x, y)`` at pixels ``(ix, iy)`` (0 beyond the stamp).

        With ``derivatives``, also minus its derivatives in x and in y.
        """
        cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        planes = self._shifted(x - cx, y - cy)
        col, row = ix - cx + self.half, iy - cy + self.half
        size = self.stamp.shape[0]
        inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        out = []
        for plane, factor in zip(planes if derivatives else planes[:1], (1.0, -1.0, -1.0)):
            values = np.zeros(ix.size)
            values[inside] = factor * plane[row[inside], col[inside]]
            out.append(values)
        return out


def _shiftedPsfs(psf: Psf) -> Callable[[int, int], _ShiftedPsf]:
    """Moved PSF stamps by position: one cache for a constant PSF, one per position else."""
    if psf.isSpatiallyVarying:
        return lambda x, y: _ShiftedPsf(psf.at(x, y))
    shared = _ShiftedPsf(psf.at(*psf.averagePosition))
    return lambda x, y: shared


def _design(psf: _ShiftedPsf, shape: tuple[int, int], iy: np.ndarray, ix: np.ndarray,
            xs: np.ndarray, ys: np.ndarray, derivatives: bool, plane: bool = False) -> np.ndarray:
    """Columns: each source's PSF (and its position derivatives), then the background.

    The background is a constant, or with ``plane`` a constant and two slopes.
    """
    columns = []
    for x, y in zip(xs, ys):
        columns += psf.columns(x, y, ix, iy, derivatives)
    columns.append(np.ones(iy.size))
    if plane:
        columns += [ix - 0.5 * (shape[1] - 1), iy - 0.5 * (shape[0] - 1)]
    return np.column_stack(columns)


def _fitPointSources(data: np.ndarray, variance: np.ndarray, psf: _ShiftedPsf,
                     shape: tuple[int, int], iy: np.ndarray, ix: np.ndarray,
                     xs: np.ndarray, ys: np.ndarray, plane: bool = False) -> _Fit:
    """Weighted least-squares point sources and background fitted to box pixels."""
    xs, ys = np.array(xs, dtype=float), np.array(ys, dtype=float)
    n = xs.size
    root = 1.0 / np.sqrt(variance)
    for _ in range(POSITION_ROUNDS):
        design = _design(psf, shape, iy, ix, xs, ys, derivatives=True, plane=plane)
        solution = np.linalg.lstsq(design * root[:, None], data * root, rcond=None)[0]
        amplitude = solution[0:3 * n:3]
        moving = amplitude != 0
        step = solution[1:3 * n:3][moving] / amplitude[moving]
        xs[moving] += np.clip(step, -MAX_STEP, MAX_STEP)
        step = solution[2:3 * n:3][moving] / amplitude[moving]
        ys[moving] += np.clip(step, -MAX_STEP, MAX_STEP)
    design = _design(psf, shape, iy, ix, xs, ys, derivatives=False, plane=plane)
    weighted = design * root[:, None]
    covariance = np.linalg.pinv(weighted.T @ weighted)
    solution = covariance @ (weighted.T @ (data * root))
    amplitude = solution[:n]
    model = design[:, :n] @ amplitude
    residual = data - design @ solution
    chi2 = float(np.sum(residual ** 2 / (variance + (PSF_MODEL_ERROR * model) ** 2)))
    # A degenerate blend (the pseudo-inverse of a singular system) can leave a diagonal
    # entry slightly negative: that amplitude has no error estimate, and NaN says so.
    with np.errstate(invalid="ignore"):
        errors = np.sqrt(np.diag(covariance)[:n])
    return _Fit(xs, ys, amplitude, errors, chi2)


def _companionStart(residual: np.ndarray, shape: tuple[int, int], iy: np.ndarray,
                    ix: np.ndarray, psf: _ShiftedPsf, xs: np.ndarray, ys: np.ndarray,
                    minDistance: float) -> tuple[float, float] | None:
    """Where the fit's residual, filtered with the PSF, is highest.

    Only pixels at least ``minDistance`` from every fitted source ``(xs, ys)`` count.
    """
    image = np.zeros(shape)
    image[iy, ix] = residual
    filtered = convolve(image, psf.stamp[::-1, ::-1])[iy, ix]
    far = np.hypot(ix[:, None] - xs[None, :], iy[:, None] - ys[None, :]).min(axis=1) >= minDistance
    if not far.any():
        return None
    best = np.flatnonzero(far)[np.argmax(filtered[far])]
    return float(ix[best]), float(iy[best])


def _twoSources(data: np.ndarray, variance: np.ndarray, psf: _ShiftedPsf,
                shape: tuple[int, int], iy: np.ndarray, ix: np.ndarray, xs: np.ndarray,
                ys: np.ndarray, sigma: float, threshold: float,
                noiseScale: float) -> _Fit | None:
    """The fit with a companion to source 0 when it passes the test, else None.

    ``xs, ys`` are the peaks in the box, the tested source first; the others are fitted
    in both models, so that their light is not taken for a companion. The companion is
    source 1 of the returned fit.
    """
    single = _fitPointSources(data, variance, psf, shape, iy, ix, xs, ys)
    if not single.amplitude[0] > 0:
        return None
    residual = data - _design(psf, shape, iy, ix, single.x, single.y,
                              derivatives=False)[:, :single.x.size] @ single.amplitude
    start = _companionStart(residual - np.median(residual), shape, iy, ix, psf,
                            single.x, single.y, MIN_SEPARATION * sigma)
    if start is None:
        return None
    double = _fitPointSources(data, variance, psf, shape, iy, ix,
                              np.r_[single.x[0], start[0], single.x[1:]],
                              np.r_[single.y[0], start[1], single.y[1:]])
    if (single.chi2 - double.chi2) / noiseScale ** 2 < threshold ** 2:
        return None
    pair = double.amplitude[:2]
    if not (pair / (double.amplitudeErr[:2] * noiseScale) >= threshold).all():
        return None
    if pair.min() < MIN_FLUX_RATIO * pair.max():
        return None
    others = np.hypot(double.x[1] - np.r_[double.x[0], double.x[2:]],
                      double.y[1] - np.r_[double.y[0], double.y[2:]])
    inside = 0 <= double.x[1] <= shape[1] - 1 and 0 <= double.y[1] <= shape[0] - 1
    if others.min() < MIN_SEPARATION * sigma or not inside:
        return None
    return double


def _box(x: int, y: int, half: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The ``(2 * half + 1)²`` box around pixel ``(x, y)``, cut at the edges of ``shape``."""
    return (slice(max(y - half, 0), min(y + half + 1, shape[0])),
            slice(max(x - half, 0), min(x + half + 1, shape[1])))


def _joinBlend(parent: list[int], nChild: list[int], label: int, nextParent: int) -> int:
    """Append a companion of source ``label`` to the blend lists; return the next free blend.

    The companion joins ``label``'s blend (every sibling counts one more child), or the
    two form a new blend numbered ``nextParent``.
    """
    blend = parent[label - 1]
    if blend > 0:
        siblings = [i for i, p in enumerate(parent) if p == blend]
        for i in siblings:
            nChild[i] += 1
        parent.append(blend)
        nChild.append(nChild[siblings[0]])
        return nextParent
    parent[label - 1], nChild[label - 1] = nextParent, 2
    parent.append(nextParent)
    nChild.append(2)
    return nextParent + 1


def splitPairs(footprints: FootprintSet, blends: Blends, opposite: FootprintSet,
               image: np.ndarray, variance: np.ndarray, valid: np.ndarray,
               significance: np.ndarray, smoothed: np.ndarray, sign: int, psf: Psf,
               threshold: float,
               untrusted: np.ndarray, noiseScale: float = 1.0) -> tuple[FootprintSet, Blends]:
    """Split each deblended source that two point sources fit significantly better.

    Parameters
    ----------
    footprints : FootprintSet
        Deblended sources of one polarity, one peak each.
    blends : Blends
        Their blend numbers.
    opposite : FootprintSet
        The sources of the other polarity, fitted where they reach a tested box (a
        dipole's lobes are not each other's companions).
    image, variance : numpy.ndarray
        The unsmoothed image (signed, invalid pixels 0) and its variance.
    valid : numpy.ndarray
        True where a pixel holds data.
    significance : numpy.ndarray
        The thresholded image in noise units (signed); sources whose peak reaches
        twice ``threshold`` are tested, the brightest first (so that a faint source
        is tested with its bright neighbours' companions already fitted), at most
        :data:`MAX_TESTED` of them.
    smoothed : numpy.ndarray
        The detection image, whose values new peaks carry (as the others do).
    sign : int
        The polarity of ``footprints``.
    psf : Psf
        PSF of ``image``.
    threshold : float
        Detection threshold in noise units: the significance each split source needs,
        and (squared) the chi-square improvement a split needs.
    untrusted : numpy.ndarray
        Saturated, bad or missing pixels: sources whose footprint touches one are not
        tested (what a saturated star leaves is not point-like).
    noiseScale : float, optional
        Measured noise of the detection image over what the variance predicts (its
        correlation): chi-square gains and significances are divided by it.

    Returns
    -------
    FootprintSet
        The sources: the split ones keep their label and their companions follow.
    Blends
        Blend numbers and sibling counts, a split source's companion joining its blend
        (or a new blend of two).
    """
    if footprints.peaks.x.size == 0:
        return footprints, blends
    original = footprints.peaks
    peaks = Peaks(original.x.copy(), original.y.copy(), original.value.copy(), original.sign,
                  original.footprint)
    sigma = psf.sigma()
    half = int(np.ceil(BOX_SIGMAS * sigma))
    reach = half + int(np.ceil(NEIGHBOUR_SIGMAS * sigma))
    trusted = trustedFootprints(footprints, untrusted)
    strength = sign * significance[peaks.y, peaks.x]
    tested = np.flatnonzero((strength >= 2.0 * threshold) & trusted[peaks.footprint])
    tested = tested[np.argsort(-strength[tested], kind="stable")]   # brightest first
    if tested.size > MAX_TESTED:
        log.warning("%d %s sources could hide a companion; only the %d brightest are tested",
                    tested.size, "positive" if sign > 0 else "negative", MAX_TESTED)
        tested = tested[:MAX_TESTED]
    labels = footprints.labels.copy()
    newPeaks, parent, nChild = [peaks], list(blends.parent), list(blends.nChild)
    nextLabel, nextParent = footprints.count + 1, int(blends.parent.max(initial=0)) + 1
    inFootprint = (footprints.labels > 0) | (opposite.labels > 0)
    shiftedPsf = _shiftedPsfs(psf)
    # every source a fit may meet; companions join as they are found
    allX, allY = np.r_[peaks.x, opposite.peaks.x], np.r_[peaks.y, opposite.peaks.y]
    for k in tested:
        label, px, py = int(peaks.footprint[k]), int(peaks.x[k]), int(peaks.y[k])
        box = _box(px, py, half, image.shape)
        y0, x0 = box[0].start, box[1].start
        iy, ix = np.nonzero(inFootprint[box] & valid[box])
        if iy.size < 4 * 7:         # two sources, a constant and room for the noise
            continue
        shape = labels[box].shape
        near = np.flatnonzero((np.abs(allX - px) <= reach) & (np.abs(allY - py) <= reach))
        near = np.r_[k, near[near != k]]
        model = shiftedPsf(px, py)
        fit = _twoSources(sign * image[box][iy, ix].astype(float),
                          variance[box][iy, ix].astype(float), model, shape, iy, ix,
                          (allX[near] - x0).astype(float), (allY[near] - y0).astype(float),
                          sigma, threshold, noiseScale)
        if fit is None:
            continue
        fit.x, fit.y, fit.amplitude = fit.x[:2], fit.y[:2], fit.amplitude[:2]
        cx = np.clip(np.floor(fit.x + 0.5).astype(np.int64), 0, shape[1] - 1) + x0
        cy = np.clip(np.floor(fit.y + 0.5).astype(np.int64), 0, shape[0] - 1) + y0
        ownY, ownX = np.nonzero(footprints.labels[box] == label)
        owner = sharePixels(ownX + x0, ownY + y0, cx, cy, fit.amplitude, model.stamp)
        region = labels[box]
        region[ownY[owner == 1], ownX[owner == 1]] = nextLabel
        peaks.x[k], peaks.y[k], peaks.value[k] = cx[0], cy[0], smoothed[cy[0], cx[0]]
        allX[k], allY[k] = cx[0], cy[0]
        allX, allY = np.r_[allX, cx[1]], np.r_[allY, cy[1]]
        newPeaks.append(Peaks(cx[1:], cy[1:], smoothed[cy[1:], cx[1:]].astype(np.float64),
                              np.array([sign], dtype=np.int8),
                              np.array([nextLabel], dtype=np.int64)))
        nextParent = _joinBlend(parent, nChild, label, nextParent)
        nextLabel += 1
    if nextLabel == footprints.count + 1:
        return footprints, blends
    return (FootprintSet(labels, nextLabel - 1, Peaks.concatenate(newPeaks)),
            Blends(np.asarray(parent, dtype=np.int64), np.asarray(nChild, dtype=np.int64)))


def pointLike(image: np.ndarray, variance: np.ndarray, valid: np.ndarray,
              untrusted: np.ndarray, sign: int, psf: Psf, x: np.ndarray, y: np.ndarray,
              threshold: float) -> np.ndarray:
    """Which peaks look like a point source on a smooth background.

    A point source and a plane are fitted to the pixels within :data:`POINT_BOX_SIGMAS`
    PSF sigmas of each peak (of polarity ``sign``): the valid pixels that are not
    ``untrusted``, or every valid pixel when fewer than :data:`MIN_TRUSTED_FRACTION` of
    the box are trusted (a mask grown by a wide kernel covers whole neighbourhoods). The
    peak passes when the source is significant on its own (``threshold``) and the fit's
    reduced chi-square (pixel variance plus :data:`PSF_MODEL_ERROR` of the model) is at
    most :data:`MAX_REDUCED_CHI2`: a transient on the wing of a saturated star passes,
    the ring or smear a saturated star leaves does not.
    """
    half = int(np.ceil(POINT_BOX_SIGMAS * psf.sigma()))
    out = np.zeros(x.size, dtype=bool)
    shiftedPsf = _shiftedPsfs(psf)
    for k, (px, py) in enumerate(zip(x.astype(int), y.astype(int))):
        box = _box(px, py, half, image.shape)
        y0, x0 = box[0].start, box[1].start
        use = valid[box] & ~untrusted[box]
        if np.count_nonzero(use) < MIN_TRUSTED_FRACTION * use.size:
            use = valid[box]
        iy, ix = np.nonzero(use)
        if iy.size < 4 * 4:
            continue
        fit = _fitPointSources(sign * image[box][iy, ix].astype(float),
                               variance[box][iy, ix].astype(float), shiftedPsf(px, py),
                               valid[box].shape, iy, ix, [px - x0], [py - y0], plane=True)
        reduced = fit.chi2 / (iy.size - 6)
        out[k] = (fit.amplitude[0] >= threshold * fit.amplitudeErr[0]
                  and reduced <= MAX_REDUCED_CHI2)
    return out
