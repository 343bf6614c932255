"""The photometric scale between the template and the science image (``F_r / F_n``).

From the photoCalibs when both exposures have one, else fitted from stars or taken
from the config (see :class:`~diffim_zogy.config.ZogyConfig`).

The fit compares each bright star in the two images after convolving each image
with the other's PSF, so that both see the same PSF ``P_n ⊗ P_r``: any weighted
sum of the two stamps then has the same ratio, whatever the PSFs. The weight is
``P_n ⊗ P_r`` itself (a matched filter); static neighbours scale by the same
ratio and do no harm, while variable stars and transients are rejected by the
robust mean of the per-star ratios (:func:`_clippedWeightedMean`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import convolve

from diffim.exposure import Exposure

from .config import ZogyConfig
from .errors import FluxScaleError
from .statistics import clippedMean, sampleGood

#: Fewest stars a fitted flux ratio may rest on.
MIN_FIT_STARS = 3

#: Brightest stars used (by peak signal-to-noise in the science image).
MAX_FIT_STARS = 300

#: Lowest science peak signal-to-noise of a star used for the fit.
MIN_FIT_PEAK_SNR = 30.0


@dataclass(frozen=True)
class FluxScaling:
    """The template-to-science flux ratio and where it came from.

    Attributes
    ----------
    ratio : float
        Template counts per science count of the same source (``F_r / F_n``).
    source : str
        ``"photoCalib"``, ``"fit"`` or ``"config"``.
    nStars : int
        Stars the fit kept (0 unless fitted).
    error : float
        Standard error of a fitted ratio (0 unless fitted).
    """

    ratio: float
    source: str
    nStars: int = 0
    error: float = 0.0


def fluxScaling(science: Exposure, template: Exposure, config: ZogyConfig,
                unusable: np.ndarray) -> FluxScaling:
    """Choose the flux ratio as the config says.

    Parameters
    ----------
    science, template : Exposure
        The pair on one pixel grid.
    config : ZogyConfig
        ``scaleByCalibration``, ``doFitFluxScaling`` and the configured scalings.
    unusable : numpy.ndarray
        True where a pixel of either image must not be used.
    """
    if config.scaleByCalibration:
        if science.photoCalib is not None and template.photoCalib is not None:
            ratio = science.photoCalib.calibration / template.photoCalib.calibration
            return FluxScaling(float(ratio), "photoCalib")
        if config.doFitFluxScaling:
            return fitFluxRatio(science, template, unusable)
    return FluxScaling(config.templateFluxScaling / config.scienceFluxScaling, "config")


def fitFluxRatio(science: Exposure, template: Exposure, unusable: np.ndarray) -> FluxScaling:
    """Measure the template-to-science flux ratio from bright stars.

    Parameters
    ----------
    science, template : Exposure
        The pair on one pixel grid, with PSFs and variance planes.
    unusable : numpy.ndarray
        True where a pixel of either image must not be used; a star whose stamp
        touches one is skipped.

    Returns
    -------
    FluxScaling

    Raises
    ------
    FluxScaleError
        If fewer than :data:`MIN_FIT_STARS` stars survive.
    """
    center = science.center
    half = max(science.psf.at(*center).shape[0], template.psf.at(*center).shape[0]) // 2
    stampHalf = 3 * half
    ratios, errors = [], []
    for x, y in _brightPeaks(science, unusable, stampHalf):
        box = (slice(y - stampHalf, y + stampHalf + 1), slice(x - stampHalf, x + stampHalf + 1))
        if unusable[box].any():
            continue
        sciencePsf = science.psf.at(x, y)
        templatePsf = template.psf.at(x, y)
        weight = convolve(sciencePsf, templatePsf)
        scienceFlux, scienceVar = _weightedFlux(science, x, y,
                                                convolve(weight, templatePsf[::-1, ::-1]))
        templateFlux, templateVar = _weightedFlux(template, x, y,
                                                  convolve(weight, sciencePsf[::-1, ::-1]))
        if not (scienceFlux > 0 and templateFlux > 0):
            continue
        ratio = templateFlux / scienceFlux
        ratios.append(ratio)
        errors.append(ratio * np.sqrt(scienceVar / scienceFlux ** 2
                                      + templateVar / templateFlux ** 2))
        if len(ratios) == MAX_FIT_STARS:
            break
    ratio, error, nKept = _clippedWeightedMean(np.array(ratios), np.array(errors))
    if nKept < MIN_FIT_STARS:
        raise FluxScaleError(nKept, MIN_FIT_STARS)
    return FluxScaling(ratio, "fit", nKept, error)


def _brightPeaks(science: Exposure, unusable: np.ndarray,
                 margin: int) -> list[tuple[int, int]]:
    """Peak of each connected region above the signal-to-noise threshold, brightest first.

    Peaks closer than ``margin`` to the image border are left out.
    """
    good = ~unusable & np.isfinite(science.image) & (science.variance > 0)
    level = clippedMean(sampleGood(science.image, good))
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(good, (science.image - np.float32(level)) / np.sqrt(science.variance),
                       np.float32(0.0))
    labels, count = ndimage.label(snr >= MIN_FIT_PEAK_SNR)
    if count == 0:
        return []
    ys, xs = np.nonzero(labels)
    regions = labels[ys, xs]
    order = np.lexsort((snr[ys, xs], regions))
    last = np.flatnonzero(np.diff(regions[order], append=count + 1))
    ys, xs = ys[order[last]], xs[order[last]]
    height, width = snr.shape
    inside = (ys >= margin) & (ys < height - margin) & (xs >= margin) & (xs < width - margin)
    ys, xs = ys[inside], xs[inside]
    order = np.argsort(-snr[ys, xs], kind="stable")
    return [(int(xs[i]), int(ys[i])) for i in order]


def _weightedFlux(exposure: Exposure, x: int, y: int,
                  weight: np.ndarray) -> tuple[float, float]:
    """``Σ weight · (stamp − local background)`` and its variance.

    The stamp is centred on ``(x, y)`` with the weight's size; the local background
    is the median of its outermost ring of pixels.
    """
    half = weight.shape[0] // 2
    box = (slice(y - half, y + half + 1), slice(x - half, x + half + 1))
    stamp = exposure.image[box].astype(np.float64)
    ring = np.concatenate([stamp[0], stamp[-1], stamp[1:-1, 0], stamp[1:-1, -1]])
    flux = float(np.sum(weight * (stamp - np.median(ring))))
    variance = float(np.sum(weight ** 2 * exposure.variance[box]))
    return flux, variance


def _clippedWeightedMean(values: np.ndarray, errors: np.ndarray, nSigma: float = 3.0,
                         nIter: int = 10) -> tuple[float, float, int]:
    """Robust weighted mean of ``values``; also its error and the number kept.

    The start is the median of the shortest interval holding half the values (the
    densest group: constant stars agree, variable stars scatter), so that even a
    minority of constant stars wins when the variables spread out. The scatter of
    the kept values beyond their errors (from their MAD about the centre) is
    treated as an extra, intrinsic error added in quadrature; values farther from
    the centre than ``nSigma`` total errors are rejected and the centre becomes
    the median of the rest, until nothing changes. The result is the mean of the
    kept values weighted by their inverse total variances.
    """
    if values.size == 0:
        return float("nan"), float("nan"), 0
    keep = _densestHalf(values)
    center = float(np.median(values[keep]))
    total = errors
    for _ in range(nIter):
        spread = 1.4826 * float(np.median(np.abs(values[keep] - center)))
        intrinsic = max(spread ** 2 - float(np.median(errors[keep] ** 2)), 0.0)
        total = np.sqrt(errors ** 2 + intrinsic)
        newKeep = np.abs(values - center) <= nSigma * total
        if not newKeep.any() or np.array_equal(newKeep, keep):
            break
        keep = newKeep
        center = float(np.median(values[keep]))
    weights = 1.0 / total[keep] ** 2
    mean = float(np.sum(weights * values[keep]) / np.sum(weights))
    return mean, float(1.0 / np.sqrt(np.sum(weights))), int(keep.sum())


def _densestHalf(values: np.ndarray) -> np.ndarray:
    """Boolean of the ``n // 2 + 1`` values spanning the shortest interval."""
    order = np.argsort(values)
    count = values.size // 2 + 1
    widths = values[order[count - 1:]] - values[order[:values.size - count + 1]]
    start = int(np.argmin(widths))
    keep = np.zeros(values.size, dtype=bool)
    keep[order[start:start + count]] = True
    return keep
