"""A source's own photon noise, filtered on its way into the difference, in its PSF flux error."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.exposure import Exposure
from diffim.photocalib import PhotoCalib
from diffim.psf import GaussianPsf, gaussian_stamp
from scipy import signal

from diffim_measurement.sourcenoise import (SourceNoisePath, fluxScale, ownNoiseVariance,
                                            pulledBackWeights, sourceNoiseInputs)

SIZE = 41
SKY = 100.0


def _filtered(sigmaIn: float, sigmaFilter: float, scale: float):
    """Input PSF, filter (sum ``scale``) and the difference PSF it makes (unit sum)."""
    psfIn = gaussian_stamp(sigmaIn, 31)
    kernel = scale * gaussian_stamp(sigmaFilter, 31)
    psfDiff = signal.fftconvolve(psfIn, kernel, mode="same")
    return psfIn, kernel, psfDiff / psfDiff.sum()


def test_pulled_back_weights_are_the_psf_weights_for_an_unfiltered_input():
    psf = gaussian_stamp(1.5)
    u = pulledBackWeights(psf, psf, 0.25)
    c, h = u.shape[0] // 2, psf.shape[0] // 2
    np.testing.assert_allclose(u[c - h:c + h + 1, c - h:c + h + 1],
                               0.25 * psf / (psf ** 2).sum(), atol=1e-5)


def test_pulled_back_weights_are_the_weights_correlated_with_the_filter():
    psfIn, kernel, psfDiff = _filtered(1.125, 1.0, 0.5)
    u = pulledBackWeights(psfDiff, psfIn, 0.5)
    expected = signal.fftconvolve(psfDiff / (psfDiff ** 2).sum(), kernel[::-1, ::-1], "same")
    c = u.shape[0] // 2
    np.testing.assert_allclose(u[c - 15:c + 16, c - 15:c + 16], expected, atol=1e-8)


@pytest.mark.parametrize("sigmaFilter", [1.0, 2.0])
def test_flux_variance_matches_monte_carlo_of_filtered_photon_noise(sigmaFilter):
    # A bright source's photon noise (variance 20000 * PSF above a sky of 100) smoothed by
    # a filter on its way into the difference: its PSF flux scatters 9 (filter sigma 1) and
    # 29 (sigma 2) times as much as the per-pixel variance of the filtered image says (what
    # white noise would give); the prediction is within 3% of 4000 draws (seeds 3-5).
    psfIn, kernel, psfDiff = _filtered(1.125, sigmaFilter, 0.5)
    variance = np.full((SIZE, SIZE), SKY)
    c = SIZE // 2
    variance[c - 15:c + 16, c - 15:c + 16] += 20000.0 * psfIn
    weights = psfDiff / (psfDiff ** 2).sum()
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(4000, SIZE, SIZE)) * np.sqrt(variance - SKY)
    difference = signal.fftconvolve(noise, kernel[None], mode="same", axes=(1, 2))
    fluxes = np.einsum("nij,ij->n", difference[:, c - 15:c + 16, c - 15:c + 16], weights)
    path = SourceNoisePath(variance, pulledBackWeights(psfDiff, psfIn, 0.5), 1.0)
    predicted = path.fluxVariance(np.array([float(c)]), np.array([float(c)]),
                                  np.array([SKY]))[0]
    white = float((weights ** 2 * signal.fftconvolve(variance - SKY, kernel ** 2, "same")
                   [c - 15:c + 16, c - 15:c + 16]).sum())
    measured = fluxes.var()
    assert predicted == pytest.approx(measured, rel=0.06)      # 4000 draws: +-2.2%
    assert measured / white > 5.0


def test_flux_variance_follows_a_subpixel_position():
    psfIn, _, psfDiff = _filtered(1.5, 1.0, 1.0)
    variance = np.full((SIZE, SIZE), SKY)
    c = SIZE // 2
    variance[c - 15:c + 16, c - 15:c + 16] += 1e4 * psfIn
    path = SourceNoisePath(variance, pulledBackWeights(psfDiff, psfIn, 1.0), 1.0)
    centred, off = path.fluxVariance(np.array([c, c + 0.5]), np.array([c, c]),
                                     np.array([SKY, SKY]))
    assert off < centred                     # the weights moved half a pixel off the source
    assert path.fluxVariance(np.array([c]), np.array([c]), np.array([SKY + 1e4]))[0] == 0.0


def test_flux_scale_from_the_zero_points():
    science = Exposure(image=np.zeros((5, 5)), photoCalib=PhotoCalib(28.0))
    template = Exposure(image=np.zeros((5, 5)), photoCalib=PhotoCalib(28.0 + 2.5 * np.log10(4)))
    assert fluxScale(template, science) == pytest.approx(0.25)
    assert fluxScale(science, science) == 1.0
    assert fluxScale(Exposure(image=np.zeros((5, 5))), science) is None


def test_one_followed_input_replaces_only_rows_of_its_sign():
    variance = np.full((SIZE, SIZE), SKY)
    psf = GaussianPsf(1.5).image
    c = SIZE // 2
    half = psf.shape[0] // 2
    variance[c - half:c + half + 1, c - half:c + half + 1] += 1e4 * psf
    path = SourceNoisePath(variance, pulledBackWeights(psf, psf, 1.0), 1.0)
    x = y = np.array([c, c], dtype=float)
    plane = np.array([7.0, 7.0])
    own = ownNoiseVariance([(1, path)], [np.full(2, SKY)] * 1, x, y, np.array([5.0, -5.0]),
                           plane)
    assert own[0] == pytest.approx(1e4 / (psf ** 2).sum() * (psf ** 3).sum() / (psf ** 2).sum())
    assert own[1] == 7.0
    both = ownNoiseVariance([(1, path), (-1, path)], [np.full(2, SKY)] * 2, x, y,
                            np.array([5.0, -5.0]), plane)
    np.testing.assert_allclose(both, 2 * own[0])


def test_inputs_without_a_zero_point_are_not_followed():
    def exposure(zeroPoint):
        return Exposure(image=np.zeros((9, 9)), variance=np.ones((9, 9)), psf=GaussianPsf(1.0),
                        photoCalib=None if zeroPoint is None else PhotoCalib(zeroPoint))
    difference, science, template = exposure(28.0), exposure(28.0), exposure(None)
    assert sourceNoiseInputs(difference, science, template) == [(1, science)]
    assert sourceNoiseInputs(difference, template, None) == []
