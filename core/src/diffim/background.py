"""The sky background of an image: one estimator, its mesh and mask as parameters.

The estimator is SExtractor's, through ``sep``: the image is cut into square
bins of ``binSize`` pixels; in each bin the pixels not excluded are clipped at
3 sigma about their median until stable, and the bin's level is the mode
``2.5 median - 1.5 mean`` (the median where the two disagree, as in a crowded
bin). The mode is what photometry and detection want: the faint undetected
sources and the far wings of bright ones, which raise a mean, barely move it.
Bin levels are median filtered over ``filterSize`` × ``filterSize`` bins and
joined by a bicubic spline. Bins with too few usable pixels are interpolated
from their neighbours.

``sep`` was measured against photutils' ``Background2D`` with the same
SExtractor statistic, bins and filter on a simulated 2048² field: the models
differ by 0.0004 of the pixel noise in median (7 % at the 99th percentile, at
the image corners) and ``sep`` is about 8 times faster (0.10 s against 0.74 s),
so it is used.
"""
from __future__ import annotations

import numpy as np
import sep

from .morphology import growMask
from .sourcefinding import extractObjects

#: Per-pixel S/N above which pixels count as sources in :func:`sourceMaskedBackground`.
SOURCE_THRESHOLD = 3.0

#: Fewest connected pixels of a source masked by :func:`sourceMaskedBackground`.
SOURCE_MIN_AREA = 5


def backgroundModel(image: np.ndarray, exclude: np.ndarray | None = None, binSize: int = 64,
                    filterSize: int = 3, minBinsPerAxis: int = 1,
                    dtype: type = np.float32) -> np.ndarray:
    """Smooth background of ``image`` estimated from the pixels not in ``exclude``.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image; excluded pixels may hold anything (NaN included).
    exclude : numpy.ndarray, optional
        True for pixels that must not enter the estimate (masked, non-finite,
        sources). Non-finite pixels are always excluded.
    binSize : int
        Bin width and height in pixels.
    filterSize : int
        Width of the median filter over bin levels (1: none).
    minBinsPerAxis : int
        Bins along each axis at the least: the bin shrinks on a small image, so
        that a gradient across it is followed (one bin would only give its mean).
    dtype : type
        Data type of the result.

    Returns
    -------
    numpy.ndarray
        The background, ``image``'s shape; zeros when no pixel is usable.
    """
    image = np.asarray(image)
    excluded = ~np.isfinite(image)
    if exclude is not None:
        excluded |= exclude
    if excluded.all():
        return np.zeros(image.shape, dtype=dtype)
    height, width = image.shape
    binX = max(1, min(int(binSize), -(-width // max(1, minBinsPerAxis))))
    binY = max(1, min(int(binSize), -(-height // max(1, minBinsPerAxis))))
    data = np.where(excluded, np.float32(0.0), image).astype(np.float32)
    model = sep.Background(data, mask=excluded, bw=binX, bh=binY, fw=filterSize,
                           fh=filterSize)
    return model.back(dtype=np.float64 if np.dtype(dtype) == np.float64 else np.float32
                      ).astype(dtype, copy=False)


def sourceMaskedBackground(image: np.ndarray, variance: np.ndarray, exclude: np.ndarray,
                           binSize: int, grow: int, threshold: float = SOURCE_THRESHOLD,
                           filterSize: int = 3, dtype: type = np.float32) -> np.ndarray:
    """Background estimated twice: the second time with the sources left out.

    A first :func:`backgroundModel` is subtracted, sources are detected on the
    result (:func:`diffim.sourcefinding.extractObjects`: ``SOURCE_MIN_AREA``
    connected pixels above ``threshold`` times the pixel noise), their pixels
    grown by ``grow`` pixels to take their wings, and the background is estimated
    again without them.

    Parameters
    ----------
    image, variance : numpy.ndarray
        Image and its variance.
    exclude : numpy.ndarray
        True for pixels that must not enter the estimate (masked, non-finite);
        at least one pixel must be usable.
    binSize, filterSize : int
        As :func:`backgroundModel`.
    grow : int
        Pixels (Manhattan distance) by which the detected sources are grown.
    threshold : float
        Detection threshold in units of the pixel noise.
    dtype : type
        Data type of the result.

    Returns
    -------
    numpy.ndarray
        The background of the source-free pixels.
    """
    exclude = exclude | ~np.isfinite(image) | ~(np.asarray(variance) > 0)
    data = np.where(exclude, 0.0, image).astype(np.float32)
    first = backgroundModel(data, exclude, binSize, filterSize)
    usableVariance = variance[~exclude]
    fill = float(np.median(usableVariance)) if usableVariance.size else 1.0
    noise = np.sqrt(np.where(exclude, fill, variance)).astype(np.float32)
    segmentation = extractObjects(data - first, threshold, noise=noise, exclude=exclude,
                                  minArea=SOURCE_MIN_AREA, segmentation=True).segmentation
    sources = growMask(segmentation > 0, int(grow), metric="taxicab")
    return backgroundModel(data, exclude | sources, binSize, filterSize, dtype=dtype)
