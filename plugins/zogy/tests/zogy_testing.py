"""Simulated pairs and measurements shared by the zogy plugin's tests.

Pairs come from :func:`diffim.testing.simulate.simulatePair` with the template already
on the science grid (``offset=(0, 0)``), sanitised as the task does, so the
hook can be called directly.
"""
from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy import ndimage

from diffim.exposure import Exposure
from diffim.sanitize import sanitize
from diffim.testing.simulate import simulatePair
from diffim_zogy import ZogyConfig, ZogySubtraction


def simulated(size: int = 1024, **kwargs) -> tuple[Exposure, Exposure, Table]:
    """A sanitised science/template pair on one grid and its truth table."""
    kwargs.setdefault("offset", (0.0, 0.0))
    science, template, truth = simulatePair(size=size, **kwargs)
    return sanitize(science, "science"), sanitize(template, "template"), truth


def subtract(science: Exposure, template: Exposure, **overrides):
    """Run the zogy hook with a frozen config carrying ``overrides``."""
    config = ZogyConfig(**overrides)
    config.freeze()
    return ZogySubtraction().diffim_subtract(science, template, config, True, None,
                                             np.random.default_rng(0))


def sourceFree(shape: tuple[int, int], truth: Table, radius: int) -> np.ndarray:
    """True farther than ``radius`` pixels (square) from every object of the truth table."""
    centres = np.zeros(shape, dtype=bool)
    ys = np.clip(np.round(truth["y"]).astype(int), 0, shape[0] - 1)
    xs = np.clip(np.round(truth["x"]).astype(int), 0, shape[1] - 1)
    centres[ys, xs] = True
    return ~ndimage.maximum_filter(centres, size=2 * radius + 1)


def normalisedNoise(exposure: Exposure, where: np.ndarray) -> np.ndarray:
    """``image / sqrt(variance)`` at the unmasked pixels selected by ``where``."""
    use = where & (exposure.mask == 0) & np.isfinite(exposure.image)
    return exposure.image[use] / np.sqrt(exposure.variance[use])


def shiftedPsf(exposure: Exposure, x: float, y: float,
               widthScale: float = 1.0) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The exposure's PSF at ``(x, y)`` moved to that sub-pixel position, and its pixel box.

    The shift uses the Fourier shift theorem; ``widthScale`` stretches the PSF
    (sampled in Fourier space as ``P̂(k * widthScale)``, a Gaussian-exact stretch) to
    build deliberately wrong models.
    """
    stamp = exposure.psf.at(x, y)
    half = stamp.shape[0] // 2
    xi, yi = int(round(x)), int(round(y))
    padded = np.pad(stamp, half)
    ky = np.fft.fftfreq(padded.shape[0])[:, None]
    kx = np.fft.fftfreq(padded.shape[1])[None, :]
    spectrum = np.fft.fft2(padded) * np.exp(-2j * np.pi * (kx * (x - xi) + ky * (y - yi)))
    if widthScale != 1.0:
        spectrum *= np.exp(-0.5 * (2 * np.pi) ** 2 * (widthScale ** 2 - 1.0)
                           * exposure.psf.sigma(x, y) ** 2 * (kx ** 2 + ky ** 2))
    model = np.real(np.fft.ifft2(spectrum))[half:-half, half:-half]
    return model, (slice(yi - half, yi + half + 1), slice(xi - half, xi + half + 1))


def psfFlux(exposure: Exposure, x: float, y: float) -> tuple[float, float]:
    """Weighted least-squares PSF flux and its error at ``(x, y)``.

    NaN when the stamp holds a non-finite pixel.
    """
    model, box = shiftedPsf(exposure, x, y)
    data = exposure.image[box].astype(np.float64)
    variance = exposure.variance[box].astype(np.float64)
    if not (np.all(np.isfinite(data)) and np.all(np.isfinite(variance))):
        return float("nan"), float("nan")
    weights = model / variance
    flux = float(np.sum(weights * data) / np.sum(weights * model))
    return flux, float(1.0 / np.sqrt(np.sum(model * model / variance)))


def localPeaks(image: np.ndarray, threshold: float) -> np.ndarray:
    """``(n, 2)`` rows and columns of 3x3 local maxima above ``threshold``."""
    finite = np.where(np.isfinite(image), image, -np.inf)
    peaks = (finite > threshold) & (finite == ndimage.maximum_filter(finite, size=3))
    return np.argwhere(peaks)
