"""Pre-convolution of the science image for AL score-image (likelihood) detection."""
from __future__ import annotations

import numpy as np

from .convolution import convolve
from .exposure import Exposure
from .morphology import growMask
from .psf import ImagePsf, gaussian_stamp


def preConvolutionKernel(science: Exposure, useGaussian: bool) -> np.ndarray:
    """The kernel the science image is filtered with: its PSF, or a Gaussian of its width.

    Parameters
    ----------
    science : Exposure
        The science exposure (with a PSF).
    useGaussian : bool
        Use a circular Gaussian of the PSF's determinant radius on the same
        stamp size (``useGaussianForPreConvolution``).
    """
    stamp = science.psf.at(*science.psf.averagePosition)
    if useGaussian:
        return gaussian_stamp(science.psf.sigma(), size=stamp.shape[0])
    return stamp


def preConvolve(science: Exposure, kernel: np.ndarray) -> Exposure:
    """Return ``science`` convolved with ``kernel`` (a new exposure).

    The variance is convolved with the squared kernel, NO_DATA, SAT and BAD
    are grown by the kernel half-width, the border that cannot be convolved
    becomes EDGE, and the PSF becomes the PSF convolved with the kernel.
    """
    half = kernel.shape[0] // 2
    result = science.clone()
    result.image = convolve(science.image, kernel.astype(np.float32))
    result.variance = convolve(science.variance, (kernel**2).astype(np.float32))
    grow = science.maskedPixels("NO_DATA", "SAT", "BAD")
    if grow.any():
        result.setMask(growMask(grow, half, metric="chessboard") & ~grow, "NO_DATA")
    border = np.ones(science.shape, dtype=bool)
    border[half:-half or None, half:-half or None] = False
    result.setMask(border, "EDGE")
    psf = science.psf.at(*science.psf.averagePosition)
    result.psf = ImagePsf(convolve(psf, kernel), science.psf.averagePosition)
    return result
