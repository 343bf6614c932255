"""Simulated Moffat-PSF science images whose PSF model misses the wings (as fixtures)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from astropy.table import Table

from diffim import Exposure, GaussianPsf
from diffim.background import exposureSky
from diffim.photometry import PsfPhotometry, measurePsfFlux
from diffim.psf import ImagePsf, Psf, SpatialPsf
from diffim.testing.simulate import simulatePair

#: Template PSF width (Gaussian-equivalent sigma, pixels) of the simulations; the science PSF
#: is 1.3 times wider (FWHM 3.1 pixels), so a few dozen stars per 1024² image are isolated.
TEMPLATE_SIGMA = 1.0

#: Half-width (pixels) of the PSF model stamps: about 1.6 FWHM of the simulated Moffat PSF,
#: so a PSF flux misses about 5% of a star's light, as a finite PSF model does.
MODEL_HALF_WIDTH = 5

#: Moffat index and FWHM (pixels) of the simulated science PSF.
MOFFAT_BETA, SCIENCE_FWHM = 3.0, TEMPLATE_SIGMA * 1.3 * 2.0 * np.sqrt(2.0 * np.log(2.0))


def truncated(psf: Psf, half: int) -> Psf:
    """The same PSF model on a stamp cut to ``2 * half + 1`` pixels (renormalised)."""
    if isinstance(psf, SpatialPsf):
        c = psf.stamps.shape[1] // 2
        return SpatialPsf(psf.stamps[:, c - half:c + half + 1, c - half:c + half + 1], psf.x,
                          psf.y, psf.order, psf.bbox)
    c = psf.image.shape[0] // 2
    return ImagePsf(psf.image[c - half:c + half + 1, c - half:c + half + 1], psf.averagePosition)


def isolatedStars(truth: Table, shape: tuple[int, int], margin: float = 40.0) -> np.ndarray:
    """True for unsaturated stars away from the edges whose neighbours' light adds less than
    0.03% to their PSF flux (Moffat profile of the simulation, PSF effective area 4 pi s^2)."""
    x, y, flux = (np.asarray(truth[name], dtype=float) for name in ("x", "y", "scienceFlux"))
    alpha = SCIENCE_FWHM / (2.0 * np.sqrt(2.0 ** (1.0 / MOFFAT_BETA) - 1.0))
    distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(distance, np.inf)
    profile = ((MOFFAT_BETA - 1.0) / (np.pi * alpha ** 2)
               * (1.0 + (distance / alpha) ** 2) ** -MOFFAT_BETA)
    area = 4.0 * np.pi * (SCIENCE_FWHM / (2.0 * np.sqrt(2.0 * np.log(2.0)))) ** 2
    contamination = (flux[None, :] * profile).sum(axis=1) * area / flux
    inside = (x > margin) & (x < shape[1] - margin) & (y > margin) & (y < shape[0] - margin)
    return (contamination < 3e-4) & inside & ~np.asarray(truth["saturated"])


def skySubtractedPsfFlux(science: Exposure, x: np.ndarray, y: np.ndarray) -> PsfPhotometry:
    """PSF fluxes at ``(x, y)`` after the sky is removed, as the forced plugin measures them.

    The sky is :func:`diffim.background.exposureSky` in 64-pixel cells; NO_DATA and
    non-finite pixels are left out of the fit.
    """
    valid = (~science.maskedPixels("NO_DATA") & np.isfinite(science.image)
             & np.isfinite(science.variance))
    sky = exposureSky(science, 64)
    return measurePsfFlux(science.image - sky, science.variance, valid, science.psf, x, y)


def moffatField(psfVariation: float, seed: int) -> SimpleNamespace:
    """A 1024² Moffat science image with a truncated PSF model, and its bright isolated stars.

    ``stars`` holds the truth rows of the isolated stars with PSF S/N above 100 and their
    PSF fluxes (:func:`skySubtractedPsfFlux`), as ``base_PsfFlux_instFlux`` /
    ``base_PsfFlux_instFluxErr`` / ``base_PsfFlux_flag``.
    """
    science, _, truth = simulatePair(size=1024, profile="moffat", nTransients=0, seed=seed,
                                     psfVariation=psfVariation, templateSigma=TEMPLATE_SIGMA)
    science.psf = truncated(science.psf, MODEL_HALF_WIDTH)
    stars = truth[isolatedStars(truth, science.shape)]
    fit = skySubtractedPsfFlux(science, np.asarray(stars["x"], dtype=np.float64),
                               np.asarray(stars["y"], dtype=np.float64))
    stars["base_PsfFlux_instFlux"] = fit.flux
    stars["base_PsfFlux_instFluxErr"] = fit.fluxErr
    stars["base_PsfFlux_flag"] = fit.noGoodPixels | ~np.isfinite(fit.flux)
    bright = stars["base_PsfFlux_instFlux"] > 100.0 * stars["base_PsfFlux_instFluxErr"]
    return SimpleNamespace(science=science, stars=stars[bright])


@pytest.fixture(scope="module")
def constantMoffat() -> SimpleNamespace:
    """:func:`moffatField` with one PSF over the image."""
    return moffatField(0.0, seed=1)


@pytest.fixture(scope="module")
def varyingMoffat() -> SimpleNamespace:
    """:func:`moffatField` whose PSF width changes by 50% from corner to corner."""
    return moffatField(0.5, seed=2)


@pytest.fixture
def noiseScience():
    """A 256² pure-noise science exposure (no stars) with a Gaussian PSF."""
    rng = np.random.default_rng(9)
    image = rng.normal(0.0, 5.0, (256, 256))
    return Exposure(image=image, variance=np.full(image.shape, 25.0), psf=GaussianPsf(1.5))
