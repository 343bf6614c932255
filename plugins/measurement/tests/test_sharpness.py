"""ip_diffim_flag_sharp: spikes and tracks are flagged, PSF-shaped sources never."""
import numpy as np
import pytest

from diffim import Exposure, GaussianPsf
from diffim_measurement.sharpness import sharperThanPsf

SIZE, NOISE = 64, 10.0


def _exposure(image: np.ndarray, psfSigma: float) -> Exposure:
    return Exposure(image=image.astype(np.float32),
                    variance=np.full(image.shape, NOISE ** 2, dtype=np.float32),
                    psf=GaussianPsf(psfSigma))


def _flagged(image: np.ndarray, psfSigma: float, x: float, y: float, sign: float = 1.0):
    exposure = _exposure(image, psfSigma)
    usable = np.ones(image.shape, dtype=bool)
    return bool(sharperThanPsf(exposure, usable, np.array([x]), np.array([y]),
                               np.array([sign]), 2.5, 0.5)[0])


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.5])
@pytest.mark.parametrize("snr", [8.0, 30.0, 1000.0])
def test_point_sources_are_not_sharp_wherever_they_are_centred(sim, sigma, snr):
    rng = np.random.default_rng(int(sigma * 10 + snr))
    flux = snr * NOISE * np.sqrt(4 * np.pi) * sigma
    for dx, dy in ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.3, -0.2)):
        x, y = 32 + dx, 32 + dy
        image = flux * sim.pixelGaussian((SIZE, SIZE), x, y, sigma)
        image += rng.normal(0.0, NOISE, image.shape) + 500.0        # sky left in
        assert not _flagged(image, sigma, x, y)
        # a PSF model 10 % broader than the truth flags no bright star either
        assert not _flagged(image, sigma * 1.1, x, y)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_spikes_and_tracks_are_sharp(sign):
    rng = np.random.default_rng(4)
    for pixels in ([(32, 32)], [(32, 31), (32, 32), (32, 33)], [(30, 30), (31, 31), (32, 32)]):
        image = rng.normal(0.0, NOISE, (SIZE, SIZE))
        for y, x in pixels:
            image[y, x] += sign * 12 * NOISE
        assert _flagged(image, 2.0, 32, 32, sign)


def test_a_faint_spike_within_the_noise_margin_is_not_flagged():
    image = np.zeros((SIZE, SIZE))
    image[32, 32] = 2.0 * NOISE
    assert not _flagged(image, 2.0, 32, 32)


def test_the_brightest_pixel_next_to_the_peak_is_tested():
    image = np.zeros((SIZE, SIZE))
    image[33, 31] = 50 * NOISE
    assert _flagged(image, 2.0, 32, 32)



@pytest.mark.parametrize("peak, spike", [(SIZE - 5, SIZE - 4), (4, 3)])
def test_sources_whose_box_would_leave_the_image_are_not_tested(peak, spike):
    # the spike next to the peak puts the background box one pixel further out
    image = np.zeros((SIZE, SIZE))
    image[32, spike] = 50 * NOISE
    assert not _flagged(image, 2.0, peak, 32)
    image[32, 32] = 50 * NOISE
    assert _flagged(image, 2.0, 32, 32)
