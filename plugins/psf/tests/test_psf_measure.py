"""PSF measurement from an image's own stars (the measurePsf plugin ``stars``)."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.mask import MaskPlanes
from diffim.psf import (GaussianPsf, ImagePsf, SpatialPsf, determinant_radius, gaussian_stamp,
                        moments)
from diffim_psf import StarPsf, StarPsfConfig
from scipy import special

SKY_NOISE = 10.0


def gaussian_source(sigma, dx, dy, half):
    """Pixel-integrated unit-flux Gaussian centred (dx, dy) from the stamp's middle pixel."""
    edges = np.arange(-half, half + 2) - 0.5
    gx = np.diff(special.erf((edges - dx) / (np.sqrt(2) * sigma))) / 2
    gy = np.diff(special.erf((edges - dy) / (np.sqrt(2) * sigma))) / 2
    return np.outer(gy, gx)


def moffat_source(fwhm, beta, dx, dy, half, sub=5):
    """Unit-flux Moffat profile integrated over pixels by sub-sampling."""
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    c = (np.arange(-half, half + 1)[:, None] + offs).ravel()
    r2 = (c[None, :] - dx) ** 2 + (c[:, None] - dy) ** 2
    fine = (beta - 1) / (np.pi * alpha ** 2) * (1 + r2 / alpha ** 2) ** -beta
    n = 2 * half + 1
    return fine.reshape(n, sub, n, sub).mean(axis=(1, 3))


def star_field(render, n=350, size=1024, seed=0, snr=(100.0, 3000.0), sky=500.0):
    """An image of ``n`` stars at random positions, log-uniform S/N, white sky noise.

    ``render(x, y, dx, dy, half)`` returns the unit-flux stamp of a star at
    image position (x, y) with sub-pixel offsets (dx, dy).
    """
    rng = np.random.default_rng(seed)
    image = np.full((size, size), sky)
    x, y = rng.uniform(30, size - 31, (2, n))
    flux = np.exp(rng.uniform(*np.log(snr), n)) * SKY_NOISE * 7.0
    half = 20
    for xi, yi, f in zip(x, y, flux):
        cx, cy = int(round(xi)), int(round(yi))
        image[cy - half:cy + half + 1, cx - half:cx + half + 1] += f * render(
            xi, yi, xi - cx, yi - cy, half)
    image += rng.normal(0.0, SKY_NOISE, image.shape)
    variance = np.full(image.shape, SKY_NOISE ** 2)
    return image, variance, np.zeros(image.shape, dtype=np.int32), (x, y, flux)


def measure(image, variance, mask, planes, **fields):
    """The plugin's PSF of the image, with config fields overridden."""
    config = StarPsfConfig()
    for name, value in fields.items():
        setattr(config, name, value)
    exposure = Exposure(image=image, mask=mask, variance=variance, maskPlanes=planes)
    return StarPsf().diffim_measurePsf(exposure=exposure, config=config)


def test_gaussian_stars_give_the_true_width():
    sigma = 2.0
    image, variance, mask, _ = star_field(lambda x, y, dx, dy, h: gaussian_source(sigma, dx, dy, h))
    measured = measure(image, variance, mask, MaskPlanes())
    psf = measured.psf
    assert isinstance(psf, ImagePsf) and measured.note.startswith("measured from ")
    size = psf.image.shape[0]
    assert size % 2 == 1 and 25 <= size <= 33          # 2*ceil(3*FWHM)+1 with FWHM = 4.7
    truth = determinant_radius(gaussian_stamp(sigma, size))
    assert psf.sigma() == pytest.approx(truth, rel=0.03)
    xc, yc, ixx, iyy, ixy = moments(psf.image)
    assert abs(xc) < 0.05 and abs(yc) < 0.05            # recentred on the middle pixel
    assert ixx == pytest.approx(iyy, rel=0.03)


def test_moffat_stars_give_the_true_width():
    fwhm, beta = 4.0, 3.0
    image, variance, mask, _ = star_field(
        lambda x, y, dx, dy, h: moffat_source(fwhm, beta, dx, dy, h), seed=1)
    psf = measure(image, variance, mask, MaskPlanes()).psf
    size = psf.image.shape[0]
    truth = determinant_radius(moffat_source(fwhm, beta, 0.0, 0.0, size // 2))
    assert psf.sigma() == pytest.approx(truth, rel=0.03)
    # the wings are kept: a Gaussian of the same FWHM is much narrower in second moments
    assert psf.sigma() > 1.25 * fwhm / 2.3548


def test_spatially_varying_psf_matches_truth_at_the_corners():
    size = 1024

    def sigma_at(x, y):
        return 1.6 + 0.8 * (x + y) / (2 * (size - 1))

    image, variance, mask, _ = star_field(
        lambda x, y, dx, dy, h: gaussian_source(sigma_at(x, y), dx, dy, h), n=600, seed=2)
    psf = measure(image, variance, mask, MaskPlanes(), spatialOrder=1).psf
    assert isinstance(psf, SpatialPsf) and psf.isSpatiallyVarying
    stamp = psf.at(0, 0).shape[0]
    for x, y in [(0, 0), (size - 1, size - 1)]:
        truth = determinant_radius(gaussian_stamp(sigma_at(x, y), stamp))
        assert psf.sigma(x, y) == pytest.approx(truth, rel=0.05)
    # a constant model would be wrong by about 20 % at the corners
    assert psf.sigma(size - 1, size - 1) > 1.3 * psf.sigma(0, 0)


def test_cosmic_rays_galaxies_and_saturated_stars_are_not_used():
    sigma = 1.8
    image, variance, mask, (x, y, flux) = star_field(
        lambda x, y, dx, dy, h: gaussian_source(sigma, dx, dy, h), seed=3)
    rng = np.random.default_rng(30)
    planes = MaskPlanes()
    # bright cosmic rays: single pixels
    cx, cy = rng.integers(20, 1000, (2, 150))
    image[cy, cx] += rng.uniform(2000, 20000, 150)
    # galaxies: bright objects three times wider than the PSF
    for gx, gy in rng.uniform(40, 980, (60, 2)):
        ix, iy = int(gx), int(gy)
        image[iy - 20:iy + 21, ix - 20:ix + 21] += 4e4 * gaussian_source(3 * sigma, 0, 0, 20)
    # saturated stars: clipped flat tops, flagged SAT
    for sx, sy in rng.uniform(40, 980, (30, 2)):
        ix, iy = int(sx), int(sy)
        box = (slice(iy - 20, iy + 21), slice(ix - 20, ix + 21))
        image[box] = np.minimum(image[box] + 5e6 * gaussian_source(sigma, 0, 0, 20), 30000)
        mask[box][image[box] >= 30000] |= planes.bitmask("SAT")
    psf = measure(image, variance, mask, planes).psf
    truth = determinant_radius(gaussian_stamp(sigma, psf.image.shape[0]))
    assert psf.sigma() == pytest.approx(truth, rel=0.03)


def test_too_few_stars_is_a_clear_error():
    image, variance, mask, _ = star_field(
        lambda x, y, dx, dy, h: gaussian_source(2.0, dx, dy, h), n=3, size=256, seed=4)
    with pytest.raises(InputError, match=r"could not measure a PSF: found \d+ usable stars, "
                                         r"need 5"):
        measure(image, variance, mask, MaskPlanes(), useSeeingFallback=False)


def test_too_few_stars_fall_back_to_the_most_compact_sources():
    sigma = 1.5
    rng = np.random.default_rng(5)
    image = rng.normal(100.0, SKY_NOISE, (63, 63))
    for x, y, flux in [(20.3, 40.6, 3e4), (44.8, 18.2, 1e4)]:
        cx, cy = int(round(x)), int(round(y))
        image[cy - 10:cy + 11, cx - 10:cx + 11] += flux * gaussian_source(sigma, x - cx, y - cy, 10)
    image[10, 50] += 5e5                                  # a hot pixel brighter than the stars
    variance = np.full(image.shape, SKY_NOISE ** 2)
    mask = np.zeros(image.shape, dtype=np.int32)
    measured = measure(image, variance, mask, MaskPlanes())
    assert isinstance(measured.psf, GaussianPsf)
    assert measured.psf.fwhm() == pytest.approx(2.3548 * sigma, rel=0.1)
    assert "the most compact sources" in measured.note
    empty = rng.normal(0.0, 1.0, (63, 63))
    with pytest.raises(InputError, match="no seeing keyword or compact source"):
        measure(empty, np.ones_like(empty), mask, MaskPlanes())


def test_too_few_stars_fall_back_to_the_header_seeing():
    rng = np.random.default_rng(6)
    image = rng.normal(100.0, SKY_NOISE, (63, 63))
    exposure = Exposure(image=image, variance=np.full(image.shape, SKY_NOISE ** 2),
                        metadata={"FWHM": 3.3})
    measured = StarPsf().diffim_measurePsf(exposure=exposure, config=StarPsfConfig())
    assert measured.psf.gaussianSigma == pytest.approx(3.3 / 2.3548, rel=1e-4)
    assert "header FWHM" in measured.note
