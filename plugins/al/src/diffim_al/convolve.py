"""Applying a spatially varying kernel to full images by a few FFT convolutions.

With ``K(u, v; x, y) = sum_s f_s(x, y) K_s(u, v)`` (the kernel taken at the
output pixel), the convolution is exactly ``sum_s f_s * (K_s conv image)``, and
the variance ``K**2 conv var`` is ``sum_{s<=t} (2 - [s==t]) f_s f_t (K_s K_t conv var)``:
a handful of full-image FFT convolutions however many basis functions there are.
Pixels within the kernel half-width of the border are not fully convolved; the
caller flags them (:mod:`diffim_al.masks`).
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from diffim.threads import parallelMap

from .kernel import SpatialMatchingKernel

#: Convolution terms computed side by side (a fixed batch: the threads share it).
_TERMS_AT_ONCE = 2


def _convolveSum(image: np.ndarray, kernels: list[np.ndarray], xWeights: list[np.ndarray],
                 yWeights: list[np.ndarray]) -> np.ndarray:
    """``sum_c yWeights[c][:, None] * xWeights[c][None, :] * (kernels[c] conv image)``.

    Circular FFT convolution on a grid at least as large as the image: pixels more
    than a kernel half-width from the border are exact, the border is not. The terms
    are computed ``_TERMS_AT_ONCE`` at a time on the run's threads
    (:func:`diffim.threads.parallelMap`) and added in their order, so the sum does
    not depend on the thread count.
    """
    height, width = image.shape
    shape = (scipy.fft.next_fast_len(height, real=True), scipy.fft.next_fast_len(width, real=True))
    transformed = scipy.fft.rfft2(image, s=shape)

    def term(index: int) -> np.ndarray:
        product = _kernelTransform(kernels[index], shape)
        product *= transformed
        convolved = scipy.fft.irfft2(product, s=shape)[:height, :width]
        convolved *= xWeights[index][None, :]
        convolved *= yWeights[index][:, None]
        return convolved

    out = np.zeros((height, width), dtype=np.float32)
    for start in range(0, len(kernels), _TERMS_AT_ONCE):
        for convolved in parallelMap(term, range(start, min(start + _TERMS_AT_ONCE,
                                                            len(kernels)))):
            out += convolved
    return out


def _kernelTransform(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``rfft2`` of ``kernel`` centred on pixel (0, 0) of a zero grid of ``shape``.

    Only the kernel's own rows are transformed along x, which halves the cost of
    transforming the mostly empty grid.
    """
    half = kernel.shape[0] // 2
    rows = (np.arange(kernel.shape[0]) - half) % shape[0]
    cols = (np.arange(kernel.shape[1]) - half) % shape[1]
    padded = np.zeros((kernel.shape[0], shape[1]), dtype=np.float32)
    padded[:, cols] = kernel
    grid = np.zeros((shape[0], shape[1] // 2 + 1), dtype=np.complex64)
    grid[rows] = scipy.fft.rfft(padded, axis=1)
    return scipy.fft.fft(grid, axis=0, overwrite_x=True)


def _axisFactors(kernel: SpatialMatchingKernel, height: int,
                 width: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per spatial term, its x factor over the columns and y factor over the rows."""
    functions = kernel.functions
    fx = functions.xFactors(np.arange(width)).astype(np.float32)
    fy = functions.yFactors(np.arange(height)).astype(np.float32)
    return [fx[i] for i, _ in functions.powers], [fy[j] for _, j in functions.powers]


def convolveImage(image: np.ndarray, kernel: SpatialMatchingKernel) -> np.ndarray:
    """Convolve ``image`` (finite everywhere) with the spatially varying ``kernel``.

    Returns
    -------
    numpy.ndarray
        float32 image; the kernel half-width border is not valid.
    """
    xs, ys = _axisFactors(kernel, *image.shape)
    kernels = [component.astype(np.float32) for component in kernel.components]
    return _convolveSum(np.asarray(image, dtype=np.float32), kernels, xs, ys)


def convolveVariance(variance: np.ndarray, kernel: SpatialMatchingKernel) -> np.ndarray:
    """Propagate ``variance`` (finite everywhere) through the convolution: ``K**2 conv var``.

    Returns
    -------
    numpy.ndarray
        float32 variance; the kernel half-width border is not valid.
    """
    xs, ys = _axisFactors(kernel, *variance.shape)
    kernels, xw, yw = [], [], []
    n = len(kernel.components)
    for s in range(n):
        for t in range(s, n):
            factor = np.float32(1.0 if s == t else 2.0)
            kernels.append((kernel.components[s] * kernel.components[t]).astype(np.float32))
            xw.append(factor * xs[s] * xs[t])
            yw.append(ys[s] * ys[t])
    return _convolveSum(np.asarray(variance, dtype=np.float32), kernels, xw, yw)
