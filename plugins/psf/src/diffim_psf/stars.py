"""The stars a PSF is measured on: sky removal, detection, the stellar locus, isolation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep

from diffim.background import sourceMaskedBackground
from diffim.exposure import Exposure
from diffim.sourcefinding import extractObjects, isolated
from diffim.statistics import madSigma

from .config import StarPsfConfig

#: Pixels by which detected sources are grown before the sky is estimated again.
SKY_SOURCE_GROW = 3

#: Fewest connected pixels of a detected object.
MIN_AREA = 5

#: Neighbours: any object closer than this many FWHM makes a blend; one brighter than
#: this fraction of the star's flux within its stamp spoils it.
BLEND_FWHM = 1.5
MAX_NEIGHBOUR_FLUX = 0.3


@dataclass
class PreparedImage:
    """An image ready for PSF measurement.

    Attributes
    ----------
    data : numpy.ndarray
        Sky-subtracted pixels, 0 where ``bad``.
    noise : numpy.ndarray
        Per-pixel noise (the median where ``bad``).
    bad : numpy.ndarray
        Pixels never used: masked in a bad plane, non-finite, or without variance.
    objects : numpy.ndarray
        ``sep`` catalog of the detected objects.
    segmentation : numpy.ndarray
        Their segmentation map (object ``i`` is label ``i + 1``).
    """

    data: np.ndarray
    noise: np.ndarray
    bad: np.ndarray
    objects: np.ndarray
    segmentation: np.ndarray


@dataclass
class PsfStars:
    """Candidate PSF stars: positions (0-based), S/N and segmentation labels."""

    x: np.ndarray
    y: np.ndarray
    snr: np.ndarray
    label: np.ndarray

    def take(self, keep: np.ndarray) -> "PsfStars":
        return PsfStars(self.x[keep], self.y[keep], self.snr[keep], self.label[keep])

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def empty(cls) -> "PsfStars":
        return cls(np.empty(0), np.empty(0), np.empty(0), np.empty(0, dtype=np.int32))


def prepareImage(exposure: Exposure, config: StarPsfConfig) -> PreparedImage:
    """Subtract the sky (sources left out) and detect the objects of ``exposure``.

    The sky is the clipped *mean* of the source-free pixels, not their mode: the
    light of faint, undetected sources surrounds every star on average, so stamps
    cut from the subtracted image have no pedestal, to which the PSF's second
    moments over a stamp several FWHM wide are very sensitive.

    Parameters
    ----------
    exposure : Exposure
        The exposure (not modified).
    config : StarPsfConfig
        ``badMaskPlanes``, ``backgroundBinSize``, ``detectionThreshold``.
    """
    image = np.asarray(exposure.image, dtype=np.float64)
    variance = np.asarray(exposure.variance, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = exposure.maskedPixels(*config.badMaskPlanes, context="measurePsf.badMaskPlanes")
        bad = bad | ~np.isfinite(image) | ~(np.isfinite(variance) & (variance > 0))
    good = ~bad
    fill = float(np.median(variance[good])) if good.any() else 1.0
    noise = np.sqrt(np.where(good, variance, fill))
    box = int(np.clip(min(image.shape) // 4, 8, config.backgroundBinSize))
    sky = sourceMaskedBackground(np.where(bad, 0.0, image), variance, bad, box,
                                 grow=SKY_SOURCE_GROW, threshold=config.detectionThreshold,
                                 statistic="mean", dtype=np.float64)
    data = np.where(bad, 0.0, image - sky)
    found = extractObjects(data, config.detectionThreshold, noise=noise, exclude=bad,
                           minArea=MIN_AREA, segmentation=True)
    return PreparedImage(data, noise, bad, found.catalog, found.segmentation)


def selectStars(image: PreparedImage, minSnr: float) -> tuple[PsfStars, float]:
    """Bright objects on the stellar size locus, and the FWHM that locus implies.

    The half-light radius ``r50`` of a Gaussian is FWHM/2; the locus is the median
    ``r50`` of the objects above ``minSnr``, and objects more than three robust
    standard deviations (at least 10 %) from it are rejected: cosmic rays fall
    below it, galaxies and blends above.
    """
    objects, data, noise, bad = image.objects, image.data, image.noise, image.bad
    usable = (objects["flag"] & (sep.OBJ_TRUNC | sep.OBJ_SINGU)) == 0
    label = np.flatnonzero(usable).astype(np.int32) + 1
    objects = objects[usable]
    if len(objects) == 0:
        return PsfStars.empty(), 0.0
    x, y = objects["x"], objects["y"]
    segmap = image.segmentation
    rmax = np.maximum(5.0 * np.sqrt(objects["a"] * objects["b"]), 3.0)
    r50 = sep.flux_radius(data, x, y, rmax, 0.5, mask=bad, segmap=segmap, seg_id=label)[0]
    fwhm = _locusFwhm(r50, objects, noise, minSnr)
    radius = np.full(len(x), max(fwhm, 2.0))
    flux, fluxErr, _ = sep.sum_circle(data, x, y, radius, err=noise, mask=bad, segmap=segmap,
                                      seg_id=label)
    snr = flux / np.maximum(fluxErr, 1e-30)
    r50 = sep.flux_radius(data, x, y, np.full(len(x), 3.0 * max(fwhm, 2.0)), 0.5, mask=bad,
                          segmap=segmap, seg_id=label)[0]
    bright = (snr >= minSnr) & np.isfinite(r50) & (r50 > 0)
    if not bright.any():
        return PsfStars.empty(), fwhm
    centre = np.median(r50[bright])
    spread = max(3.0 * madSigma(r50[bright], centre), 0.1 * centre)
    onLocus = bright & (np.abs(r50 - centre) <= spread)
    return PsfStars(x[onLocus], y[onLocus], snr[onLocus], label[onLocus]), 2.0 * centre


def _locusFwhm(r50: np.ndarray, objects: np.ndarray, noise: np.ndarray, minSnr: float) -> float:
    """First FWHM guess: twice the median half-light radius of the brighter objects.

    Brightness here is the isophotal S/N, ``flux / (noise at the peak * sqrt(npix))``.
    """
    peakNoise = noise[np.clip(objects["ycpeak"], 0, noise.shape[0] - 1),
                      np.clip(objects["xcpeak"], 0, noise.shape[1] - 1)]
    snr = objects["flux"] / (peakNoise * np.sqrt(np.maximum(objects["npix"], 1)))
    good = np.isfinite(r50) & (r50 > 0)
    bright = good & (snr >= minSnr)
    chosen = r50[bright] if bright.sum() >= 3 else r50[good]
    return float(2.0 * np.median(chosen)) if len(chosen) else 0.0


def usableStars(stars: PsfStars, image: PreparedImage, size: int, margin: int,
                fwhm: float) -> PsfStars:
    """Stars whose stamp fits in the image, with clean cores and no bright close neighbour.

    A star is spoilt by any object closer than :data:`BLEND_FWHM` FWHM, or by
    another object within its stamp with more than :data:`MAX_NEIGHBOUR_FLUX` of
    its isophotal flux; fainter neighbours stay (their pixels are blanked in the
    stamp).

    Parameters
    ----------
    stars : PsfStars
        Candidates.
    image : PreparedImage
        The image they were found on.
    size : int
        Stamp width.
    margin : int
        Extra pixels a stamp needs around it (for its sub-pixel shift).
    fwhm : float
        PSF FWHM (pixels).
    """
    if len(stars) == 0:
        return stars
    half = size // 2 + margin + 1
    height, width = image.data.shape
    inside = ((stars.x >= half) & (stars.x <= width - 1 - half)
              & (stars.y >= half) & (stars.y <= height - 1 - half))
    stars = stars.take(inside)
    if len(stars) == 0:
        return stars
    core = np.full(len(stars), max(BLEND_FWHM * fwhm, 2.0))
    badInCore = sep.sum_circle(image.bad.astype(np.float64), stars.x, stars.y, core, subpix=0)[0]
    stars = stars.take(badInCore == 0)
    objects = image.objects
    alone = isolated(objects["x"], objects["y"], objects["flux"], np.sqrt(2.0) * (size // 2),
                     maxFluxRatio=MAX_NEIGHBOUR_FLUX, minSeparation=BLEND_FWHM * fwhm,
                     combine="max")
    return stars.take(alone[stars.label - 1])
