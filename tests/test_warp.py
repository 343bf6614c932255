"""Warping the template onto the science grid, and the alignment checks."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from diffim import Exposure, GaussianPsf
from diffim.alignment import measureOffset
from diffim.errors import InputError, NoOverlapError, RegistrationRequiredError
from diffim.testing.simulate import simulatePair
from diffim.warp import checkCoverage, pixelMapping, warpToScience


def _wcs(crpix, scale_arcsec=0.2, rotation_deg=0.0) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = crpix
    theta = np.deg2rad(rotation_deg)
    scale = scale_arcsec / 3600.0
    wcs.wcs.cd = scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return wcs


def _stars(shape, positions, sigma, flux=1e4, rng=None) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for x, y in positions:
        image += flux * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    return image


def _exposure(image, wcs, sigma=2.0) -> Exposure:
    return Exposure(image=image, variance=np.ones_like(image), psf=GaussianPsf(sigma), wcs=wcs)


def _positions(rng, n, size, border=20):
    return rng.uniform(border, size - border, size=(n, 2))


def test_subpixel_offset_is_removed_and_flux_kept():
    rng = np.random.default_rng(1)
    size, shift = 200, (0.37, -0.21)
    pos = _positions(rng, 30, size)
    science = _exposure(_stars((size, size), pos, 2.0), _wcs([100.0, 100.0]))
    # A star at science pixel p sits at template pixel p - shift.
    template = _exposure(_stars((size, size), pos - shift, 2.0),
                         _wcs([100.0 - shift[0], 100.0 - shift[1]]))
    warped = warpToScience(template, science)
    inner = (slice(10, -10), slice(10, -10))
    residual = warped.image[inner] - science.image[inner]
    assert np.abs(residual).max() < 0.01 * science.image.max()
    assert warped.image[inner].sum() == pytest.approx(science.image[inner].sum(), rel=1e-3)


def test_rotated_and_rescaled_template_conserves_counts_and_warps_psf():
    rng = np.random.default_rng(2)
    size = 240
    pos = _positions(rng, 25, size, border=40)
    science_wcs = _wcs([120.0, 120.0])
    template_wcs = _wcs([110.0, 130.0], scale_arcsec=0.25, rotation_deg=20.0)
    sky = science_wcs.pixel_to_world(pos[:, 0], pos[:, 1])
    tpos = np.column_stack(template_wcs.world_to_pixel(sky))
    sigma_t = 2.0
    template = _exposure(_stars((size, size), tpos, sigma_t), template_wcs, sigma_t)
    science = _exposure(_stars((size, size), pos, sigma_t * 0.25 / 0.2), science_wcs,
                        sigma_t * 0.25 / 0.2)
    warped = warpToScience(template, science)
    good = ~warped.maskedPixels("NO_DATA")
    total_t = template.image.sum()
    assert np.nansum(np.where(good, warped.image, 0)) == pytest.approx(total_t, rel=0.02)
    # The template PSF seen on the science grid is wider by the pixel-scale ratio.
    assert warped.psf.sigma() == pytest.approx(sigma_t * 0.25 / 0.2, rel=0.03)
    assert warped.maskedPixels("NO_DATA").any()  # rotated corners are uncovered


def test_mapping_interpolation_matches_exact_wcs():
    science = _exposure(np.zeros((300, 500)), _wcs([250.0, 150.0]))
    template = _exposure(np.zeros((300, 500)), _wcs([240.5, 160.2], rotation_deg=3.0))
    tx, ty = pixelMapping(science, template)
    y, x = 123, 321
    sky = science.wcs.pixel_to_world(x, y)
    ex, ey = template.wcs.world_to_pixel(sky)
    assert abs(tx[y, x] - ex) < 1e-3 and abs(ty[y, x] - ey) < 1e-3


def test_template_off_the_field_gives_no_overlap():
    science = _exposure(np.zeros((100, 100)), _wcs([50.0, 50.0]))
    template = _exposure(np.zeros((100, 100)), _wcs([50.0 + 500, 50.0]))
    warped = warpToScience(template, science)
    with pytest.raises(NoOverlapError, match="template covers 0.0%"):
        checkCoverage(warped, 0.1)


def test_partial_coverage_is_measured():
    science = _exposure(np.zeros((100, 100)), _wcs([50.0, 50.0]))
    template = _exposure(np.zeros((100, 100)), _wcs([50.0 + 60, 50.0]))
    warped = warpToScience(template, science)
    fraction = checkCoverage(warped, 0.1)
    assert 0.3 < fraction < 0.42
    with pytest.raises(NoOverlapError):
        checkCoverage(warped, 0.5)


def test_wcs_on_one_side_only_is_refused():
    science = _exposure(np.zeros((50, 50)), _wcs([25.0, 25.0]))
    template = _exposure(np.zeros((50, 50)), None)
    with pytest.raises(InputError, match="template exposure has no celestial WCS"):
        warpToScience(template, science)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (12.0, -7.0), (-31.0, 35.0), (0.4, -0.3)])
def test_measure_offset(shift):
    rng = np.random.default_rng(3)
    size = 256
    pos = _positions(rng, 60, size + 80, border=0) - 40
    science = _stars((size, size), pos, 2.0) + rng.normal(0, 0.1, (size, size))
    template = _stars((size, size), pos - shift, 2.0) + rng.normal(0, 0.1, (size, size))
    offset = measureOffset(science, template)
    dx, dy = offset.dx, offset.dy
    assert dx == pytest.approx(shift[0], abs=0.15) and dy == pytest.approx(shift[1], abs=0.15)


def test_unregistered_frames_without_wcs_are_refused():
    rng = np.random.default_rng(4)
    size = 256
    pos = _positions(rng, 60, size + 80, border=0) - 40
    science = _exposure(_stars((size, size), pos, 2.0), None)
    template = _exposure(_stars((size, size), pos - (20.0, 5.0), 2.0), None)
    with pytest.raises(RegistrationRequiredError, match=r"offset by dx=\+(19.9|20.0|20.1), "
                                                         r"dy=\+(4.9|5.0|5.1) px; pixel-based "
                                                         r"registration is needed"):
        warpToScience(template, science)
    aligned = warpToScience(_exposure(_stars((size, size), pos, 2.0), None), science)
    assert aligned.metadata["measuredOffset"] == pytest.approx([0.0, 0.0], abs=0.1)


def test_subpixel_translation_keeps_template_noise_white():
    """A pure shift is applied in Fourier space: pixel variance and independence survive."""
    rng = np.random.default_rng(9)
    size = 256
    noise = rng.normal(0.0, 1.0, (size, size))
    science = _exposure(np.zeros((size, size)), _wcs([128.0, 128.0]))
    template = _exposure(noise, _wcs([128.0 - 0.4, 128.0 - 0.3]))
    warped = warpToScience(template, science)
    good = ~warped.maskedPixels("NO_DATA")
    assert good.mean() > 0.95
    shifted = np.where(good, warped.image, 0.0)
    inner = shifted[8:-8, 8:-8]
    assert inner.std() == pytest.approx(1.0, abs=0.02)
    lag1 = np.mean(inner[:, 1:] * inner[:, :-1]) / inner.var()
    assert abs(lag1) < 0.03
    assert np.allclose(warped.variance[good], 1.0)


def test_offsets_of_unrelated_frames_are_not_measurable():
    """Pure noise, or star fields whose usable halves do not overlap, correlate by chance:
    their 'offset' must not be taken for a misalignment (significance 4-8 here; the same
    same star field aligned, 15)."""
    rng = np.random.default_rng(3)
    noise = measureOffset(rng.normal(size=(256, 256)), rng.normal(size=(256, 256)))
    assert not noise.measurable and noise.significance < 6
    science, template, _ = simulatePair(size=256, nTransients=0, seed=3)
    warped = warpToScience(template, science)
    left = np.zeros(science.shape, dtype=bool)
    left[:, :128] = True
    apart = measureOffset(science.image, warped.image, left, ~left)
    assert not apart.measurable
    same = measureOffset(science.image, warped.image)
    assert same.measurable and np.hypot(same.dx, same.dy) < 0.1
