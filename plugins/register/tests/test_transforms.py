"""The fits behind the registration: TAN-SIP, polynomial, order selection."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS, Sip

from diffim_register.fit import fittableOrder
from diffim_register.transforms import fitPolynomial, fitTanSip


def distortedWcs(crval: tuple[float, float]) -> WCS:
    """0.2 arcsec pixels, rotated 30 degrees, with a cubic SIP distortion of a few pixels."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crval = crval
    wcs.wcs.crpix = [400.5, 600.5]
    scale, angle = 0.2 / 3600.0, np.radians(30.0)
    wcs.wcs.cd = scale * np.array([[-np.cos(angle), np.sin(angle)],
                                   [np.sin(angle), np.cos(angle)]])
    a, b = np.zeros((4, 4)), np.zeros((4, 4))
    a[2, 0], a[1, 1], a[3, 0] = 2e-6, -1e-6, 1e-9
    b[0, 2], b[1, 1], b[2, 1] = 1.5e-6, 1e-6, -2e-9
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    wcs.wcs.set()
    return wcs


@pytest.mark.parametrize("crval", [(150.0, 2.0), (359.99, -60.0), (10.0, 89.7)])
def test_tan_sip_fit_reproduces_a_distorted_wcs(crval):
    truth = distortedWcs(crval)
    x, y = np.random.default_rng(1).uniform(0, 1023, (2, 300))
    ra, dec = truth.pixel_to_world_values(x, y)
    fitted = fitTanSip(x, y, ra, dec, 3, (512.5, 512.5))
    gy, gx = np.mgrid[0:1024:64, 0:1024:64].astype(np.float64)
    px, py = fitted.world_to_pixel_values(*truth.pixel_to_world_values(gx, gy))
    assert np.hypot(px - gx, py - gy).max() < 1e-5
    # Too low an order cannot follow the cubic distortion.
    linear = fitTanSip(x, y, ra, dec, 1, (512.5, 512.5))
    px, py = linear.world_to_pixel_values(*truth.pixel_to_world_values(gx, gy))
    assert np.hypot(px - gx, py - gy).max() > 0.1


def test_polynomial_fit_goes_both_ways():
    rng = np.random.default_rng(2)
    tx, ty = rng.uniform(0, 2000, (2, 200))

    def forward(x, y):
        return (1.01 * x - 0.02 * y + 35.0 + 3e-6 * x * y,
                0.015 * x + 0.99 * y - 80.0 + 2e-6 * x * x)

    sx, sy = forward(tx, ty)
    fit = fitPolynomial(tx, ty, sx, sy, 2)
    fx, fy = fit.toScience(tx, ty)
    assert np.hypot(fx - sx, fy - sy).max() < 1e-8
    bx, by = fit.toTemplate(sx, sy)
    assert np.hypot(bx - tx, by - ty).max() < 0.01
    x, y = fit.toScience(100.0, 200.0)
    assert np.ndim(x) == 0 and (float(x), float(y)) == pytest.approx(forward(100.0, 200.0))


def test_order_is_lowered_to_two_matches_per_coefficient():
    assert fittableOrder(30, 4) == 4
    assert fittableOrder(29, 4) == 3
    assert fittableOrder(12, 4) == 2
    assert fittableOrder(5, 3) == 1

