"""Decorrelation of one rectangular region of the difference image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.threads import parallelMap

from .filter import DecorrelationFilter, filledSpectrum
from .fourier import fftShape
from .inputs import DecorrelationInputs
from .statistics import meanVariance

Box = tuple[slice, slice]


@dataclass
class RegionResult:
    """The decorrelated pixels of one region.

    Attributes
    ----------
    image, variance : numpy.ndarray
        Filtered difference and its variance (float32), NaN and infinite where the
        difference is.
    psf : numpy.ndarray
        PSF of the filtered difference (or score image) at the region's reference
        position (unit sum).
    unconvolvedVariance, convolvedVariance : float
        The mean input variances that set the filter (NaN when unusable).
    filtered : bool
        False when the region had no usable pixels or variances and is passed through.
    x, y : float
        Where the kernel and the PSF were evaluated (:func:`referencePosition`).
    """

    image: np.ndarray
    variance: np.ndarray
    psf: np.ndarray
    unconvolvedVariance: float
    convolvedVariance: float
    filtered: bool
    x: float
    y: float


def decorrelateRegion(inputs: DecorrelationInputs, box: Box, x: float, y: float) -> RegionResult:
    """Decorrelate the pixels of ``box`` with the filter for position ``(x, y)``.

    The filter uses the kernel and the difference PSF at ``(x, y)``, the clipped
    mean variances of the two inputs over ``box`` and, in the score variant, the
    pre-convolution kernel. Non-finite difference pixels are replaced by the mean
    of the others for the FFT and restored afterwards.

    Parameters
    ----------
    inputs : DecorrelationInputs
        The difference and its inputs.
    box : tuple of slice
        ``(rows, columns)`` of the region.
    x, y : float
        Position (full-image pixels) where the kernel and the PSF are evaluated.
    """
    image = inputs.difference.image[box]
    finite = np.isfinite(image)
    x, y = referencePosition(finite, box, x, y)
    psf = inputs.difference.psf.at(x, y)
    kernel = inputs.kernel.at(x, y)
    stampShapes = [kernel.shape]
    if inputs.preConvKernel is not None:
        stampShapes.append(inputs.preConvKernel.shape)
    shape = fftShape(image.shape, *stampShapes)

    def makeFilter() -> tuple[float, float, DecorrelationFilter | None]:
        unconvolved = meanVariance(inputs.unconvolved.variance[box], inputs.unconvolved.mask[box],
                                   inputs.unconvolvedIgnoreBits)
        convolved = meanVariance(inputs.convolved.variance[box], inputs.convolved.mask[box],
                                 inputs.convolvedIgnoreBits)
        if not (finite.any() and unconvolved > 0 and convolved >= 0):
            return unconvolved, convolved, None
        return unconvolved, convolved, DecorrelationFilter(kernel, unconvolved, convolved,
                                                           shape, inputs.preConvKernel)

    def transformImage() -> np.ndarray | None:
        if not finite.any():
            return None
        return filledSpectrum(image, float(np.mean(image, where=finite, dtype=np.float64)),
                              shape)

    # the image's transform does not need the filter: both are made side by side
    (unconvolvedVariance, convolvedVariance, decorrelation), transformed = parallelMap(
        lambda job: job(), [makeFilter, transformImage])
    if decorrelation is None:
        return RegionResult(image.copy(), inputs.difference.variance[box].copy(), psf,
                            unconvolvedVariance, convolvedVariance, False, x, y)
    correctedPsf = decorrelation.applyToStamp(psf)
    correctedPsf /= correctedPsf.sum()
    filtered, variance = parallelMap(lambda job: job(), [
        lambda: decorrelation.applyToSpectrum(transformed, image),
        lambda: _propagateVariance(inputs, decorrelation, box, unconvolvedVariance,
                                   convolvedVariance)])
    differenceVariance = inputs.difference.variance[box]
    missing = ~np.isfinite(differenceVariance)
    variance[missing] = differenceVariance[missing]
    return RegionResult(filtered, variance, correctedPsf, unconvolvedVariance,
                        convolvedVariance, True, x, y)


def referencePosition(finite: np.ndarray, box: Box, x: float, y: float) -> tuple[float, float]:
    """Where to evaluate the kernel and PSF of a region: ``(x, y)`` if it holds data.

    A template covering only part of the science image leaves the region's
    centre without data; the kernel was fitted on stars where the template has
    data, and evaluated far from them it is an extrapolation (a sharper kernel
    with negative lobes, whose filter makes a PSF of no width). The position is
    then moved to the centroid of the region's finite pixels, or to the finite
    pixel nearest it when the centroid itself has none.

    Parameters
    ----------
    finite : numpy.ndarray
        Boolean over the region: difference pixels that hold data.
    box : tuple of slice
        ``(rows, columns)`` of the region in the full image.
    x, y : float
        The region's own reference position (full-image pixels).
    """
    rows, columns = box
    column, row = int(round(x)) - columns.start, int(round(y)) - rows.start
    inside = 0 <= row < finite.shape[0] and 0 <= column < finite.shape[1]
    if (inside and finite[row, column]) or not finite.any():
        return x, y
    ys, xs = np.nonzero(finite)
    row, column = ys.mean(), xs.mean()
    if not finite[int(round(row)), int(round(column))]:
        nearest = np.argmin((ys - row) ** 2 + (xs - column) ** 2)
        row, column = ys[nearest], xs[nearest]
    return float(column + columns.start), float(row + rows.start)


def _propagateVariance(inputs: DecorrelationInputs, decorrelation: DecorrelationFilter,
                       box: Box, unconvolvedVariance: float,
                       convolvedVariance: float) -> np.ndarray:
    """Variance of the filtered region (float32); non-finite input variances count as the mean."""
    unconvolved = _finiteOr(inputs.unconvolved.variance[box], unconvolvedVariance)
    convolved = _finiteOr(inputs.convolved.variance[box], convolvedVariance)
    if inputs.completeVarPlanePropagation:
        variance = decorrelation.propagateVariance(unconvolved, convolved)
    else:
        unconvolvedWeight, convolvedWeight = decorrelation.noiseWeights()
        variance = unconvolved
        variance *= np.float32(unconvolvedWeight)
        variance += np.float32(convolvedWeight) * convolved
    variance *= np.float32(inputs.varianceScale)
    return variance


def _finiteOr(array: np.ndarray, fill: float) -> np.ndarray:
    """A float32 copy of ``array`` with its non-finite values replaced by ``fill``."""
    out = array.astype(np.float32)
    out[~np.isfinite(out)] = fill
    return out
