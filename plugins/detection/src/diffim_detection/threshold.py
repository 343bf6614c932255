"""Threshold levels and above-threshold footprints."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from diffim.errors import InputError
from diffim.statistics import clippedStdev, madSigma

from .smoothing import DetectionImage

#: 8-connectivity: afw joins a pixel to its left neighbour and to the three above it.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def noiseLevel(detection: DetectionImage, thresholdType: str,
               statsExcluded: np.ndarray) -> np.ndarray | float:
    """The level ``thresholdValue`` multiplies: per-pixel noise or one number for the image.

    Parameters
    ----------
    detection : DetectionImage
        The image to threshold.
    thresholdType : str
        ``pixel_stdev``, ``stdev``, ``variance`` or ``value``.
    statsExcluded : numpy.ndarray
        True for pixels in the ``statsMask`` planes (used by ``stdev`` only).

    Raises
    ------
    InputError
        If a clipped statistic cannot be computed (fewer than two usable pixels or zero noise).
    """
    if thresholdType == "pixel_stdev":
        return np.sqrt(detection.variance)
    if thresholdType == "value":
        return 1.0
    sample = detection.usable if thresholdType == "variance" else detection.usable & ~statsExcluded
    level = clippedStdev(detection.image[sample])
    if not level > 0:
        raise InputError(f"thresholdType {thresholdType!r} needs the clipped noise of the "
                         f"detection image, but {int(sample.sum())} usable pixels give {level}; "
                         f"use thresholdType 'pixel_stdev' or 'value'")
    return level


def measuredNoise(significanceImage: np.ndarray, sample: np.ndarray) -> float:
    """Robust width (1.4826 MAD) of a significance image over the ``sample`` pixels.

    1 when the variance plane describes the detection image's noise; above 1 when
    its noise is correlated between pixels (the variance plane knows each pixel's
    variance, not their covariance). The MAD is hardly moved by the sources (a
    minority of pixels); NaN when no pixel is in the sample.
    """
    return madSigma(significanceImage[sample]) if sample.any() else float("nan")


def significance(detection: DetectionImage, level: np.ndarray | float) -> np.ndarray:
    """Detection image in units of ``level`` (0 where not usable)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = detection.image / level
    return np.where(detection.usable, ratio, np.float32(0.0)).astype(np.float32, copy=False)


def findFootprints(signedSignificance: np.ndarray, threshold: float, includeMultiplier: float,
                   minPixels: int) -> tuple[np.ndarray, int]:
    """Label the 8-connected regions at or above ``threshold``.

    Parameters
    ----------
    signedSignificance : numpy.ndarray
        Significance times the polarity sign (+1 or -1), 0 where not usable.
    threshold : float
        ``thresholdValue``.
    includeMultiplier : float
        A region is kept only if some pixel reaches ``threshold * includeMultiplier``.
    minPixels : int
        Minimum region size.

    Returns
    -------
    labels : numpy.ndarray
        int32 image, 1..n on kept regions, 0 elsewhere.
    n : int
        Number of regions.
    """
    above = signedSignificance >= threshold
    labels, n = ndimage.label(above, structure=EIGHT_CONNECTED)
    if n == 0 or (minPixels <= 1 and threshold * includeMultiplier <= threshold):
        # every region has a pixel, and each of its pixels reaches the threshold: all are kept
        return labels.astype(np.int32, copy=False), n
    pixels = np.flatnonzero(labels)
    owner = labels.ravel()[pixels]
    size = np.bincount(owner, minlength=n + 1)
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, owner, signedSignificance.ravel()[pixels])
    keep = (size >= minPixels) & (peak >= threshold * includeMultiplier)
    keep[0] = False
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return relabel[labels], int(keep.sum())
