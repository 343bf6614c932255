"""The ZOGY kernels: normalisation, cancellation of static sources, white noise, symmetry."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve

from diffim.psf import gaussian_stamp
from diffim_zogy import makeKernels
from diffim_zogy.kernels import KERNEL_ENERGY_TOLERANCE


def _kernels(scienceSigma=2.6, templateSigma=2.0, scienceVar=500.0, templateVar=1500.0,
             ratio=3.6, floor=1e-5, maxRadius=30, **stamps):
    sciencePsf = stamps.get("sciencePsf", gaussian_stamp(scienceSigma))
    templatePsf = stamps.get("templatePsf", gaussian_stamp(templateSigma))
    return makeKernels(sciencePsf, templatePsf, scienceVar, templateVar, ratio, floor,
                       maxRadius), sciencePsf, templatePsf


@pytest.mark.parametrize("sigmas", [(2.6, 2.0), (2.0, 2.6), (2.2, 2.2)])
def test_kernel_sums_put_the_difference_on_the_science_scale(sigmas):
    kernels, _, _ = _kernels(*sigmas)
    assert kernels.science.sum() == pytest.approx(1.0, abs=1e-12)
    assert kernels.template.sum() == pytest.approx(1.0 / 3.6, abs=1e-12)
    assert kernels.differencePsf.sum() == pytest.approx(1.0)
    assert kernels.scorePsf.sum() == pytest.approx(1.0)


def _padTo(array, size):
    return np.pad(array, (size - array.shape[0]) // 2)


@pytest.mark.parametrize("sigmas", [(2.6, 2.0), (2.0, 2.6), (3.3, 1.2)])
def test_static_sources_cancel(sigmas):
    """k_n ⊗ P_n = F_r k_r ⊗ P_r up to the Fourier floor's and truncation's small residual."""
    kernels, sciencePsf, templatePsf = _kernels(*sigmas)
    science = convolve(kernels.science, sciencePsf)
    template = convolve(kernels.template, templatePsf) * 3.6
    size = max(science.shape[0], template.shape[0])
    residual = _padTo(science, size) - _padTo(template, size)
    assert np.max(np.abs(residual)) < 1e-3 * np.max(science)


@pytest.mark.parametrize("sigmas", [(2.6, 2.0), (2.0, 2.6)])
def test_difference_noise_is_white(sigmas):
    """σ_n²|k̂_n|² + σ_r²|k̂_r|² is the same at every frequency (eq. 13 normalisation)."""
    kernels, _, _ = _kernels(*sigmas)
    shape = (128, 128)
    scienceHat = np.fft.rfft2(kernels.science, shape)
    templateHat = np.fft.rfft2(kernels.template, shape)
    power = 500.0 * np.abs(scienceHat) ** 2 + 1500.0 * np.abs(templateHat) ** 2
    assert np.max(np.abs(power / (500.0 + 1500.0 / 3.6 ** 2) - 1.0)) < 3e-3


def test_difference_psf_is_the_science_response():
    kernels, sciencePsf, _ = _kernels()
    response = convolve(kernels.science, sciencePsf)
    center = response.shape[0] // 2
    half = kernels.differencePsf.shape[0] // 2
    cut = response[center - half:center + half + 1, center - half:center + half + 1]
    assert np.max(np.abs(kernels.differencePsf - cut / cut.sum())) < 1e-6


def test_score_filter_measures_flux():
    kernels, _, _ = _kernels()
    # The score of a unit point source at its own position is 1.
    assert np.sum(kernels.scoreFilter[::-1, ::-1] * kernels.differencePsf) == pytest.approx(1.0)
    assert kernels.scoreScience == pytest.approx(convolve(kernels.scoreFilter, kernels.science))
    assert kernels.scoreRadius == kernels.radius + kernels.differencePsf.shape[0] // 2


def test_swapping_the_images_swaps_the_kernels():
    kernels, sciencePsf, templatePsf = _kernels()
    swapped = makeKernels(templatePsf, sciencePsf, 1500.0, 500.0, 1.0 / 3.6, 1e-5, 30)
    size = 2 * max(kernels.radius, swapped.radius) + 1
    assert np.max(np.abs(_padTo(swapped.template, size)
                         - 3.6 * _padTo(kernels.science, size))) < 1e-6
    assert np.max(np.abs(_padTo(swapped.science, size)
                         - 3.6 * _padTo(kernels.template, size))) < 1e-6


def test_equal_psfs_give_a_plain_scaled_difference():
    kernels, _, _ = _kernels(2.2, 2.2)
    center = kernels.radius
    assert kernels.science[center, center] == pytest.approx(1.0, abs=1e-6)
    assert kernels.template[center, center] == pytest.approx(1.0 / 3.6, abs=1e-6)


def test_kernels_are_compact_and_hold_their_energy():
    kernels, _, _ = _kernels()
    assert kernels.radius < 30
    assert kernels.fourierFloor == pytest.approx(1e-5)
    wide = makeKernels(gaussian_stamp(2.6), gaussian_stamp(2.0), 500.0, 1500.0, 3.6, 1e-5, 60)
    lost = 1.0 - np.sum(kernels.template ** 2) / np.sum(
        wide.template[wide.radius - kernels.radius:wide.radius + kernels.radius + 1,
                      wide.radius - kernels.radius:wide.radius + kernels.radius + 1] ** 2)
    assert abs(lost) < 10 * KERNEL_ENERGY_TOLERANCE


def test_noisy_psf_models_raise_the_floor():
    rng = np.random.default_rng(4)
    noisy = [stamp + rng.normal(0.0, 1e-3 * stamp.max(), stamp.shape)
             for stamp in (gaussian_stamp(2.6), gaussian_stamp(2.0))]
    kernels, _, _ = _kernels(sciencePsf=noisy[0] / noisy[0].sum(),
                             templatePsf=noisy[1] / noisy[1].sum(), maxRadius=24)
    assert kernels.fourierFloor > 1e-5
    assert kernels.radius <= 24


def test_floor_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        _kernels(floor=0.0)
