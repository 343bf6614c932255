"""The detection image: the difference filtered with a Gaussian of the PSF width."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from diffim.threads import parallelMap

#: Columns (rows) per strip of a smoothing pass along the columns (rows).
STRIP = 128


@dataclass
class DetectionImage:
    """The image that is thresholded, with its variance and the pixels that may be searched.

    Attributes
    ----------
    image : numpy.ndarray
        Smoothed (or, without smoothing, sanitised) image; 0 where not usable.
    variance : numpy.ndarray
        Its variance; 0 where not usable.
    usable : numpy.ndarray
        True where the pixel may be part of a detection: inside the smoothable
        region, not NO_DATA, finite, with positive variance.
    interior : numpy.ndarray
        True inside the region the smoothing kernel fits (everything without smoothing).
    kernelWidth : int
        Width of the smoothing kernel (0 without smoothing).
    """

    image: np.ndarray
    variance: np.ndarray
    usable: np.ndarray
    interior: np.ndarray
    kernelWidth: int


def kernelWidth(sigma: float, nSigmaForKernel: float) -> int:
    """Odd width of the smoothing stamp, ``2 * (int(nSigmaForKernel * sigma + 0.5) // 2) + 1``."""
    return 2 * (int(nSigmaForKernel * sigma + 0.5) // 2) + 1


def gaussianKernel1d(sigma: float, width: int) -> np.ndarray:
    """Unit-sum Gaussian of ``sigma`` sampled at the ``width`` integer offsets about 0."""
    half = width // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _smoothPlanes(planes: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Convolve each ``(array, kernel)`` with its kernel along both axes, zero outside.

    The kernels are symmetric. Each pass is cut into strips of :data:`STRIP` columns (or
    rows) across the axis it filters, a fixed layout whose strips are filtered exactly
    as the whole array would be, on the run's threads (:func:`diffim.threads.parallelMap`):
    the result does not depend on the thread count.
    """
    across = [np.empty(array.shape, dtype=np.float32) for array, _ in planes]
    out = [np.empty(array.shape, dtype=np.float32) for array, _ in planes]
    for axis, sources, targets in ((0, [array for array, _ in planes], across),
                                   (1, across, out)):
        parallelMap(lambda job: _correlateStrip(*job),
                    [(source[strip], kernel, axis, target[strip])
                     for source, target, (_, kernel) in zip(sources, targets, planes)
                     for strip in _strips(source.shape, axis)])
    return out


def _correlateStrip(strip: np.ndarray, kernel: np.ndarray, axis: int,
                    target: np.ndarray) -> None:
    """Correlate ``strip`` with ``kernel`` along ``axis`` into ``target`` (zero outside).

    Along the columns, the strip is transposed first: each column is then a contiguous
    line, which ``correlate1d`` filters about 30 % faster, with the same values.
    """
    if axis == 1:
        ndimage.correlate1d(strip, kernel, axis=1, output=target, mode="constant")
        return
    lines = np.ascontiguousarray(strip.T)
    target[...] = ndimage.correlate1d(lines, kernel, axis=1, output=np.float32,
                                      mode="constant").T


def _strips(shape: tuple[int, int], axis: int) -> list[tuple[slice, slice]]:
    """Slices of the :data:`STRIP`-wide strips that cover ``shape`` across ``axis``."""
    length = shape[1 - axis]
    cuts = [slice(start, min(start + STRIP, length)) for start in range(0, length, STRIP)]
    return [(slice(None), cut) if axis == 0 else (cut, slice(None)) for cut in cuts]


def makeDetectionImage(image: np.ndarray, variance: np.ndarray, valid: np.ndarray,
                       sigma: float, nSigmaForKernel: float, doSmooth: bool) -> DetectionImage:
    """Build the detection image, smoothing with a Gaussian of the PSF sigma when asked.

    Parameters
    ----------
    image, variance : numpy.ndarray
        float32 image and variance planes with invalid pixels set to 0, so that
        they add nothing to the smoothed image and the smoothed variance stays the
        variance of the smoothed image next to them.
    valid : numpy.ndarray
        True where the pixel holds data (not NO_DATA, finite image and variance).
    sigma : float
        PSF sigma (determinant radius) in pixels.
    nSigmaForKernel : float
        Kernel width in sigmas (see :func:`kernelWidth`).
    doSmooth : bool
        Smooth (True) or use the image as it is (False, e.g. an already filtered score image).
    """
    if not doSmooth:
        usable = valid & (variance > 0)
        return DetectionImage(image, variance, usable, np.ones(image.shape, bool), 0)
    width = kernelWidth(sigma, nSigmaForKernel)
    kernel = gaussianKernel1d(sigma, width)
    smoothed, smoothedVariance = _smoothPlanes([(image, kernel), (variance, kernel ** 2)])
    half = width // 2
    interior = np.zeros(image.shape, dtype=bool)
    interior[half:image.shape[0] - half, half:image.shape[1] - half] = True
    usable = interior & valid & (smoothedVariance > 0)
    smoothed[~usable] = 0.0
    smoothedVariance[~usable] = 0.0
    return DetectionImage(smoothed, smoothedVariance, usable, interior, width)
