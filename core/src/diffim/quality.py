"""Whether a run's result can be trusted: figures of merit and a status, ``ok`` or ``suspect``.

A difference that looks like noise where there is nothing, rests on enough stars
and covers the frame is ``ok``. Anything else is ``suspect``, with one reason per
failed check, in the metadata (``quality``), in a WARNING and the summary line,
and, with ``diffim run --strict``, in the exit status: a run that cannot trust
its result says so rather than printing success.

Figures (``None`` when they do not apply):

* ``validFraction`` -- fraction of the difference that holds data (not NO_DATA);
* ``noiseRatio``, ``noisePixels`` -- robust width of ``D / sqrt(V)`` over clean
  pixels (1 when the variance plane describes the pixel noise), and how many it
  rests on. When footprints leave fewer than ``MIN_NOISE_PIXELS`` clean pixels, all
  valid pixels outside the unreliable planes are used with the sources rejected by
  clipping at 3 sigma; with fewer of those too the ratio is None and the run suspect;
* ``filteredNoiseRatio`` -- the same for the PSF-filtered difference against the
  filtered variance, divided by ``detectionNoiseCorrection`` (the correction
  detection measured and applied to its thresholds and the flux errors): above
  ``noiseRatio`` when the noise is correlated between pixels and nothing corrected
  for it;
* ``maxTileMean`` -- the largest ``|mean(D / sqrt(V))|`` over clean pixels of
  128-pixel tiles (a background or matching failure leaves whole regions off zero);
* ``footprintFraction``, ``largestFootprint`` -- fraction of the valid frame inside
  detection footprints, and in the largest one;
* ``starResidual`` -- median PSF-filtered significance of the difference at the
  ``nResidualStars`` brightest stars of the science image that the template shows
  too: about 0 when the
  subtraction scaled the template right, far from it when every star is left over
  with one sign (a wrong flux scaling);
* ``kernelStars`` -- stars the PSF matching rests on;
* ``kernelSum``, ``expectedKernelSum`` -- the matching kernel's sum and the flux
  ratio the photometric calibrations predict for it;
* ``fluxScaleError`` -- relative error of the flux scale (kernel sum or flux ratio)
  as the stars it was measured on determine it, their scatter included (a few
  faint stars, or stars that disagree, give a scale nobody should trust);
* ``metrics`` -- with ``doAddMetrics`` only, LSST's run metrics (kernel-candidate
  QA, NFalsePositives, registration offsets; :mod:`diffim.metrics`). They
  describe the run and decide nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .config import Config, RangeField
from .convolution import Convolution
from .exposure import Exposure
from .morphology import growMask
from .photometry import psfWeightedSignificance
from .results import SubtractionResult
from .sourcefinding import localMaxima
from .stamps import extractStamps
from .statistics import madSigma, median

log = logging.getLogger("diffim.quality")

#: Mask planes whose pixels are not clean sky for the noise figures.
NOT_SKY = ("NO_DATA", "EDGE", "SAT", "BAD", "INTRP", "DETECTED", "DETECTED_NEGATIVE")

#: Of NOT_SKY, the planes that mark sources (used anyway when too few pixels are clean).
SOURCE_PLANES = ("DETECTED", "DETECTED_NEGATIVE")

#: Fewest pixels the noise ratio may rest on.
MIN_NOISE_PIXELS = 1024

#: Side of the tiles of ``maxTileMean`` (pixels), and the fewest clean pixels a tile needs.
TILE = 128
MIN_TILE_PIXELS = 1024

#: PSF-weighted S/N a science star must have in the template to count for starResidual.
MIN_TEMPLATE_STAR_SNR = 5.0

#: starResidual's stars are looked for above the level that these fractions of the
#: pixels of its filtered science image (every STAR_LEVEL_STRIDE-th row and column)
#: exceed, in turn, then everywhere.
STAR_LEVEL_FRACTIONS = (1e-3, 1e-2, 1e-1)
STAR_LEVEL_STRIDE = 8


class QualityConfig(Config):
    """When a run's result is ``suspect`` (beyond LSST; each check is one reason)."""

    maxNoiseDeviation = RangeField("Largest departure of noiseRatio (the robust width of "
                                   "difference / sqrt(variance) over clean pixels) from 1.",
                                   float, 0.2, min=0.0)
    maxFilteredNoiseExcess = RangeField("Largest ratio of filteredNoiseRatio to noiseRatio: "
                                        "above it the difference's noise is correlated between "
                                        "pixels beyond what its variance plane says.", float,
                                        1.2, min=1.0)
    maxTileMean = RangeField("Largest |mean of difference / sqrt(variance)| over the clean "
                             "pixels of a 128-pixel tile.", float, 0.5, min=0.0)
    minValidFraction = RangeField("Smallest fraction of the difference that holds data "
                                  "(not NO_DATA).", float, 0.5, min=0.0, max=1.0)
    maxFootprintFraction = RangeField("Largest fraction of the valid frame inside detection "
                                      "footprints.", float, 0.1, min=0.0, max=1.0)
    maxLargestFootprint = RangeField("Largest fraction of the valid frame inside one "
                                     "footprint.", float, 0.01, min=0.0, max=1.0)
    nResidualStars = RangeField("How many of the brightest stars of the science image "
                                "(peaks of its PSF-filtered image, away from saturated, bad "
                                "and missing pixels, and shown by the template at S/N >= 5, "
                                "so that bright transients do not count) starResidual takes "
                                "the median over.",
                                int, 30, min=1)
    maxStarResidual = RangeField("Largest |starResidual|: the median PSF-filtered "
                                 "significance of the difference at the brightest stars. "
                                 "Subtracted right, they leave about 0 (the scatter of "
                                 "PSF-mismatch residuals is mostly within +-3); a flux "
                                 "scaling off by a few per cent leaves tens.",
                                 float, 5.0, min=0.0)
    minKernelStars = RangeField("Fewest stars the PSF matching may rest on.", int, 3, min=0)
    maxKernelSumDeviation = RangeField("Largest relative departure of the matching kernel's "
                                       "sum from the flux ratio the two photometric "
                                       "calibrations predict (when both exist), and largest "
                                       "fluxScaleError: the relative error of the kernel sum "
                                       "or flux ratio as its stars measure it.", float, 0.1,
                                       min=0.0)


@dataclass
class Quality:
    """The verdict on a run: ``status`` and the figures and reasons behind it."""

    figures: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "suspect" if self.reasons else "ok"

    def toDict(self) -> dict[str, Any]:
        """For the run metadata: status, reasons, then the figures."""
        return {"status": self.status, "reasons": list(self.reasons), **self.figures}


def assessDifference(difference: Exposure, subtraction: SubtractionResult | None,
                     science: Exposure, template: Exposure | None,
                     config: QualityConfig, noiseCorrection: float = 1.0) -> Quality:
    """Figures of merit of a difference (after detection) and the reasons it is suspect.

    Parameters
    ----------
    difference : Exposure
        The difference, or score image, detected on (DETECTED planes set).
    subtraction : SubtractionResult or None
        What the subtraction returned (None when the difference was given).
    science, template : Exposure
        The science exposure and the template on its grid (for the calibrations).
    config : QualityConfig
        The limits.
    noiseCorrection : float
        The factor detection found the noise of its PSF-filtered image to exceed the
        variance's prediction by, and applied to thresholds and flux errors.
    """
    quality = Quality()
    figures = quality.figures
    valid = ~difference.maskedPixels("NO_DATA", context="quality")
    figures["validFraction"] = _rounded(valid.mean())
    clean = valid & ~difference.maskedPixels(*NOT_SKY, context="quality")
    z = _normalised(difference, clean)
    noiseRatio, figures["noisePixels"] = _noiseRatio(difference, valid, clean, z)
    figures["noiseRatio"] = None if noiseRatio is None else _rounded(noiseRatio)
    psfFilter = None if difference.psf is None else _PsfFilter(difference)
    filtered = _filteredNoiseRatio(difference, clean, psfFilter)
    figures["filteredNoiseRatio"] = None if filtered is None else _rounded(filtered
                                                                           / noiseCorrection)
    figures["detectionNoiseCorrection"] = _rounded(noiseCorrection)
    figures["maxTileMean"] = _maxTileMean(z, clean)
    figures["starResidual"] = _starResidual(difference, science, template, valid,
                                            config.nResidualStars, psfFilter)
    figures.update(_footprintFigures(difference, valid))
    figures.update(_kernelFigures(subtraction, science, template))
    _judge(quality, config)
    return quality


def _rounded(value: float) -> float:
    return round(float(value), 4)


def _normalised(exposure: Exposure, clean: np.ndarray) -> np.ndarray:
    """``image / sqrt(variance)``, 0 where not clean."""
    z = np.zeros(exposure.shape, dtype=np.float32)
    np.divide(exposure.image, np.sqrt(exposure.variance), out=z,
              where=clean & (exposure.variance > 0))
    return z


def _noiseRatio(difference: Exposure, valid: np.ndarray, clean: np.ndarray,
                z: np.ndarray) -> tuple[float | None, int]:
    """Robust width of ``z`` over the clean pixels, or over all usable ones in a crowded frame.

    Returns the width (None with fewer than :data:`MIN_NOISE_PIXELS` usable pixels)
    and the number of pixels it rests on.
    """
    nClean = int(np.count_nonzero(clean))
    if nClean >= MIN_NOISE_PIXELS:
        return madSigma(z[clean]), nClean
    unreliable = [p for p in NOT_SKY if p not in SOURCE_PLANES]
    usable = valid & ~difference.maskedPixels(*unreliable, context="quality")
    nUsable = int(np.count_nonzero(usable))
    if nUsable < MIN_NOISE_PIXELS:
        return None, nUsable
    return madSigma(_normalised(difference, usable)[usable], nIter=3), nUsable


def _filteredNoiseRatio(difference: Exposure, clean: np.ndarray,
                        psfFilter: _PsfFilter | None) -> float | None:
    """Robust width of the PSF-filtered difference over the square root of its predicted variance.

    Both are filtered with the clean pixels only, so sources and masked pixels do
    not enter; pixels whose filter window is mostly unclean are left out.
    """
    if psfFilter is None or clean.sum() < MIN_TILE_PIXELS:
        return None
    # one filtered plane at a time, each reduced to what is needed before the next
    psf = psfFilter.psf
    usable = clean & (psfFilter(clean.astype(np.float32), squared=True)
                      > 0.9 * float((psf * psf).sum()))
    variance = np.where(clean, difference.variance, np.float32(0.0)).astype(np.float32)
    filteredVariance = psfFilter(variance, squared=True)
    del variance
    usable &= filteredVariance > 0
    if usable.sum() < MIN_TILE_PIXELS:
        return None
    filteredVariance = filteredVariance[usable]
    image = np.where(clean, difference.image, np.float32(0.0)).astype(np.float32)
    filtered = psfFilter(image)[usable]
    del image
    return madSigma(filtered / np.sqrt(filteredVariance))


class _PsfFilter:
    """Cross-correlation of full-frame planes with the difference's PSF, or its square.

    Each kernel's transform is computed once for all the planes.
    """

    def __init__(self, difference: Exposure) -> None:
        self.psf = difference.psf.at(*difference.psf.averagePosition).astype(np.float32)
        self.shape = difference.shape
        self._convolutions: dict[bool, Convolution] = {}

    def __call__(self, image: np.ndarray, squared: bool = False) -> np.ndarray:
        """``image`` (float32, the difference's shape) filtered with the PSF or its square."""
        if squared not in self._convolutions:
            kernel = (self.psf * self.psf if squared else self.psf)[::-1, ::-1]
            self._convolutions[squared] = Convolution(kernel, self.shape)
        return self._convolutions[squared](image)


def _starResidual(difference: Exposure, science: Exposure, template: Exposure | None,
                  valid: np.ndarray, nStars: int, psfFilter: _PsfFilter | None) -> float | None:
    """Median PSF-filtered significance of the difference at the brightest science stars.

    Stars are the peaks of the science image filtered with the difference's PSF
    (which cosmic rays do not win), at least two PSF sigmas from a saturated, bad,
    missing or edge pixel of either image, that the template (when it is on the
    science grid) shows at a PSF-weighted S/N of at least
    :data:`MIN_TEMPLATE_STAR_SNR`: a bright transient is no static star.
    """
    if psfFilter is None or science.shape != difference.shape:
        return None
    psf = psfFilter.psf
    reach = int(np.ceil(2.0 * difference.psf.sigma()))
    unusable = (~valid | difference.maskedPixels("SAT", "BAD", "EDGE", context="quality")
                | science.maskedPixels("SAT", "BAD", "NO_DATA", "EDGE", context="quality")
                | ~np.isfinite(science.image))
    near = growMask(unusable, reach, metric="chessboard")
    good = ~unusable
    if good.sum() < MIN_TILE_PIXELS:
        return None
    sky = median(science.image[good])
    stars = psfFilter(np.where(good, science.image - sky, 0.0).astype(np.float32))
    if template is not None and (template.shape != science.shape or template.variance is None):
        template = None
    x, y = _brightestStars(stars, near, template, psf, reach, nStars)
    if not len(x):
        return None
    half = psf.shape[0] // 2
    inside = extractStamps(valid, x, y, half, False)
    filtered = np.einsum("nij,ij->n", np.where(inside, extractStamps(
        difference.image, x, y, half, 0.0), 0.0), psf, dtype=np.float64)
    filteredVariance = np.einsum("nij,ij->n", np.where(inside, extractStamps(
        difference.variance, x, y, half, 0.0), 0.0), psf * psf, dtype=np.float64)
    significance = filtered / np.sqrt(np.maximum(filteredVariance, 1e-30))
    return _rounded(np.median(significance))


def _brightestStars(stars: np.ndarray, near: np.ndarray, template: Exposure | None,
                    psf: np.ndarray, reach: int, nStars: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``nStars`` highest peaks of ``stars`` away from ``near`` that ``template`` shows.

    Peaks are looked for above a level only the brightest pixels reach (the levels
    of :data:`STAR_LEVEL_FRACTIONS` of a regular subsample), lower levels being
    tried while fewer than ``nStars`` of them pass the template test: every peak
    brighter than those found is among them, so the stars are the brightest of the
    whole image, found without a full-frame peak search or a template test of
    every noise peak.
    """
    sample = np.sort(stars[::STAR_LEVEL_STRIDE, ::STAR_LEVEL_STRIDE], axis=None)
    levels = [sample[int(sample.size * (1.0 - f))] for f in STAR_LEVEL_FRACTIONS if
              int(sample.size * f) > 0] + [-np.inf]
    for level in levels:
        x, y = localMaxima(stars, level, separation=reach, exclude=near, within=stars >= level)
        if template is not None:
            shown = psfWeightedSignificance(template.image, template.variance, x, y, psf)
            x, y = x[shown >= MIN_TEMPLATE_STAR_SNR], y[shown >= MIN_TEMPLATE_STAR_SNR]
        if len(x) >= nStars:
            break
    brightest = np.argsort(stars[y, x])[::-1][:nStars]
    return x[brightest], y[brightest]


def _maxTileMean(z: np.ndarray, clean: np.ndarray) -> float | None:
    """Largest |mean of z| over the clean pixels of TILE-pixel tiles that have enough of them.

    ``z`` is 0 where not clean, so a tile's sum is that of all its pixels.
    """
    sums = _tileSums(z, np.float64)
    counts = _tileSums(clean, np.int64)
    enough = counts >= MIN_TILE_PIXELS
    if not enough.any():
        return None
    return _rounded(np.max(np.abs(sums[enough] / counts[enough])))


def _tileSums(array: np.ndarray, dtype: type) -> np.ndarray:
    """Sums of ``array`` over TILE-pixel tiles from the origin (partial ones at the far edges)."""
    rows = np.add.reduceat(array, np.arange(0, array.shape[1], TILE), axis=1, dtype=dtype)
    return np.add.reduceat(rows, np.arange(0, array.shape[0], TILE), axis=0)


def _footprintFigures(difference: Exposure, valid: np.ndarray) -> dict[str, float]:
    """Fractions of the valid frame inside footprints, and inside the largest one."""
    inside = difference.maskedPixels("DETECTED", "DETECTED_NEGATIVE", context="quality") & valid
    nValid = max(int(valid.sum()), 1)
    labels, count = ndimage.label(inside, structure=np.ones((3, 3), dtype=bool))
    largest = int(np.bincount(labels.ravel())[1:].max()) if count else 0
    return {"footprintFraction": _rounded(inside.sum() / nValid),
            "largestFootprint": _rounded(largest / nValid)}


def _kernelFigures(subtraction: SubtractionResult | None, science: Exposure,
                   template: Exposure | None) -> dict[str, Any]:
    """Stars the matching rests on; the kernel sum and what the calibrations predict for it."""
    figures: dict[str, Any] = {"kernelStars": None, "kernelSum": None,
                               "expectedKernelSum": None, "fluxScaleError": None}
    if subtraction is None:
        return figures
    figures["kernelStars"] = subtraction.nKernelStars
    if subtraction.fluxScaleError is not None:
        figures["fluxScaleError"] = _rounded(subtraction.fluxScaleError)
    kernel = subtraction.psfMatchingKernel
    if kernel is None:
        return figures
    figures["kernelSum"] = _rounded(kernel.kernelSum)
    if template is not None and science.photoCalib is not None \
            and template.photoCalib is not None:
        ratio = template.photoCalib.calibration / science.photoCalib.calibration
        figures["expectedKernelSum"] = _rounded(1.0 / ratio if subtraction.convolvedScience
                                                else ratio)
    return figures


def _judge(quality: Quality, config: QualityConfig) -> None:
    """Add a reason for every figure beyond its limit."""
    f, reasons = quality.figures, quality.reasons
    if f["validFraction"] < config.minValidFraction:
        reasons.append(f"only {f['validFraction']:.0%} of the difference holds data")
    if f["noiseRatio"] is None:
        reasons.append(f"the noise ratio cannot be measured: only {f['noisePixels']} pixels "
                       "of the difference are usable")
    elif abs(f["noiseRatio"] - 1.0) > config.maxNoiseDeviation:
        reasons.append(f"the difference's noise is {f['noiseRatio']:.2f} times what its "
                       "variance plane says")
    if (f["filteredNoiseRatio"] is not None and f["noiseRatio"]
            and f["filteredNoiseRatio"] > config.maxFilteredNoiseExcess * f["noiseRatio"]):
        reasons.append(f"the PSF-filtered noise is {f['filteredNoiseRatio']:.2f} times its "
                       "predicted value: the noise is correlated between pixels and nothing "
                       "corrected for it")
    if f["maxTileMean"] is not None and f["maxTileMean"] > config.maxTileMean:
        reasons.append(f"a {TILE}-pixel tile of the difference averages {f['maxTileMean']:.2f} "
                       "sigma off zero (a background or PSF-matching failure)")
    if f["footprintFraction"] > config.maxFootprintFraction:
        reasons.append(f"detection footprints cover {f['footprintFraction']:.0%} of the frame")
    if f["largestFootprint"] > config.maxLargestFootprint:
        reasons.append(f"one footprint covers {f['largestFootprint']:.1%} of the frame")
    if f["starResidual"] is not None and abs(f["starResidual"]) > config.maxStarResidual:
        reasons.append(f"the {config.nResidualStars} brightest stars are left over in the "
                       f"difference with a median S/N of {f['starResidual']:.1f} (a wrong "
                       "flux scaling of the template)")
    if f["kernelStars"] is not None and f["kernelStars"] < config.minKernelStars:
        reasons.append(f"the PSF matching rests on {f['kernelStars']} stars")
    if f["fluxScaleError"] is not None and f["fluxScaleError"] > config.maxKernelSumDeviation:
        reasons.append(f"the stars the PSF matching rests on measure its flux scale to only "
                       f"{f['fluxScaleError']:.0%}")
    expected = f["expectedKernelSum"]
    if expected and abs(f["kernelSum"] / expected - 1.0) > config.maxKernelSumDeviation:
        reasons.append(f"the kernel sum {f['kernelSum']:.4g} departs from the "
                       f"{expected:.4g} the photometric calibrations predict by "
                       f"{abs(f['kernelSum'] / expected - 1.0):.0%}")
