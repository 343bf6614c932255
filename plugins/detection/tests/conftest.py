"""Synthetic difference images for the detection tests: white noise plus Gaussian point sources.

The helpers are handed to tests as fixtures (the suite runs in pytest's importlib mode, where
test modules cannot import each other).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import erf

from diffim import Exposure, GaussianPsf


def pixelIntegrated(centre: float, size: int, sigma: float) -> np.ndarray:
    """Unit-sum Gaussian of ``sigma`` centred on ``centre``, integrated over ``size`` pixels."""
    edges = np.arange(size + 1) - 0.5
    cdf = 0.5 * (1.0 + erf((edges - centre) / (np.sqrt(2.0) * sigma)))
    return np.diff(cdf)


def injectSources(image: np.ndarray, x, y, flux, sigma: float) -> None:
    """Add pixel-integrated Gaussian point sources of total ``flux`` at ``(x, y)`` in place."""
    x, y, flux = np.broadcast_arrays(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(flux))
    for xs, ys, fs in zip(x, y, flux):
        image += (fs * np.outer(pixelIntegrated(ys, image.shape[0], sigma),
                                pixelIntegrated(xs, image.shape[1], sigma))).astype(image.dtype)


def noiseExposure(shape: tuple[int, int], sigma: float, noise: float,
                  rng: np.random.Generator, varianceScale: float = 1.0) -> Exposure:
    """White Gaussian noise of rms ``noise``; the variance plane is ``varianceScale * noise**2``."""
    image = rng.normal(0.0, noise, shape).astype(np.float32)
    variance = np.full(shape, varianceScale * noise ** 2, dtype=np.float32)
    return Exposure(image=image, variance=variance, psf=GaussianPsf(sigma))


def fluxForSnr(snr, sigma: float, noise: float):
    """Total flux whose PSF-fit S/N on white noise of rms ``noise`` is ``snr``."""
    psf = GaussianPsf(sigma).image
    return np.asarray(snr) * noise / np.sqrt((psf ** 2).sum())


def gridPositions(shape: tuple[int, int], margin: float, step: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A regular grid of positions with uniform sub-pixel jitter."""
    ys, xs = np.meshgrid(np.arange(margin, shape[0] - margin + 1e-9, step),
                         np.arange(margin, shape[1] - margin + 1e-9, step), indexing="ij")
    xs = xs.ravel() + rng.uniform(-0.5, 0.5, xs.size)
    ys = ys.ravel() + rng.uniform(-0.5, 0.5, ys.size)
    return xs, ys


def matchNearest(table, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest catalog row to each true position, and its distance (pixels)."""
    dx = np.asarray(table["x"])[None, :] - np.asarray(x)[:, None]
    dy = np.asarray(table["y"])[None, :] - np.asarray(y)[:, None]
    distance = np.hypot(dx, dy)
    index = distance.argmin(axis=1)
    return index, distance[np.arange(index.size), index]


@pytest.fixture
def sim() -> SimpleNamespace:
    """The helpers of this module, as attributes."""
    return SimpleNamespace(**{function.__name__: function for function in (
        pixelIntegrated, injectSources, noiseExposure, fluxForSnr, gridPositions, matchNearest)})
