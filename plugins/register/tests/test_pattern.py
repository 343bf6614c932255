"""Registration without WCS: star patterns, polynomial fit, and the warp that follows."""
from __future__ import annotations

import numpy as np
import pytest
from register_testing import (rms, simulatedPair, simulationTruth, transformedTemplate,
                              trueResidual)

from diffim.warp import warpToScience
from diffim_register import InsufficientMatchesError, SipRegister, findRegistration
from diffim_register.patterns import findSimilarity


@pytest.fixture(scope="module")
def scienceWithoutWcs(pair):
    science = pair[0].clone()
    science.wcs = None
    return science


@pytest.fixture(scope="module")
def rotated(pair):
    """The template rotated by 3 degrees, scaled by 1.02 and shifted by (-150, +90) pixels."""
    return transformedTemplate(pair[1], 3.0, 1.02, (-150.0, 90.0))


@pytest.mark.parametrize("degrees,scale,shift", [(3.0, 1.02, (-150.0, 90.0)),
                                                 (90.0, 1.0, (300.0, -250.0)),
                                                 (-20.0, 0.8, (0.0, 0.0))])
def test_pattern_registration_aligns_to_a_twentieth_of_a_pixel(pair, scienceWithoutWcs, config,
                                                               degrees, scale, shift):
    _, template, _ = pair
    moved, toMoved = transformedTemplate(template, degrees, scale, shift)
    method, fit = findRegistration(scienceWithoutWcs, moved, config, 2)
    assert method == "pattern"
    assert fit.nMatches >= 50

    def truth(x, y):
        return toMoved(*simulationTruth(x, y))

    residual = trueResidual(fit.transform.toTemplate, truth, moved.shape,
                            scienceWithoutWcs.shape)
    assert rms(residual) < 0.05


@pytest.fixture(scope="module")
def warpedRotated(scienceWithoutWcs, rotated, config):
    return SipRegister().diffim_register(science=scienceWithoutWcs, template=rotated[0],
                                         config=config, sipOrder=2, debug=False)


def test_warp_conserves_counts(pair, warpedRotated):
    """Pixel values of the registered template equal those of the template warped by its true
    WCS: the 1.02 pixel scale change is undone in area as well as in position."""
    science, template, _ = pair
    reference = warpToScience(template, science)
    valid = ~(warpedRotated.maskedPixels("NO_DATA") | reference.maskedPixels("NO_DATA"))
    ratio = warpedRotated.image[valid].sum() / reference.image[valid].sum()
    assert ratio == pytest.approx(1.0, abs=2e-4)
    bright = valid & (reference.image > 2.0 * np.median(reference.image[valid]))
    assert np.median(warpedRotated.image[bright] / reference.image[bright]) == \
        pytest.approx(1.0, abs=0.01)


def test_uncovered_pixels_are_nan_and_no_data(warpedRotated):
    nodata = warpedRotated.maskedPixels("NO_DATA")
    assert np.all(np.isnan(warpedRotated.image[nodata]))
    assert np.all(np.isnan(warpedRotated.variance[nodata]))
    assert np.all(np.isfinite(warpedRotated.image[~nodata]))
    # The moved template's centre is 150 px left and 90 px below the original's, so about
    # (150/1024 + 90/1024 - overlap) of the science image is uncovered (plus rotation corners).
    assert 0.2 < nodata.mean() < 0.35
    assert warpedRotated.wcs is None


def test_psf_is_seen_through_the_scale_change(pair, rotated, warpedRotated):
    _, template, _ = pair
    rotatedTemplate, _ = rotated
    # One moved-template pixel spans 1.02 original pixels: the PSF is 1.02 times narrower
    # in moved pixels and back to its original width on the science grid.
    assert rotatedTemplate.psf.sigma() == pytest.approx(template.psf.sigma() / 1.02, rel=0.005)
    assert warpedRotated.psf.sigma() == pytest.approx(template.psf.sigma(), rel=0.005)


def test_mask_bits_follow_the_pixels(pair, scienceWithoutWcs, config):
    _, template, _ = pair
    flagged = template.clone()
    flagged.setMask(np.s_[500:510, 600:604], "BAD")
    moved, _ = transformedTemplate(flagged, 3.0, 1.02, (-150.0, 90.0))
    warped = SipRegister().diffim_register(science=scienceWithoutWcs, template=moved,
                                           config=config, sipOrder=2, debug=False)
    bad = np.argwhere(warped.maskedPixels("BAD"))
    # Template (600..603, 500..509) is science (x + 0.3, y + 0.2).
    assert bad[:, 1].min() >= 599 and bad[:, 1].max() <= 605
    assert bad[:, 0].min() >= 499 and bad[:, 0].max() <= 511
    assert 30 <= len(bad) <= 60


@pytest.mark.parametrize("withWcs", [True, False])
def test_pair_without_common_stars_raises_a_clear_error(config, withWcs):
    science, _, _ = simulatedPair(size=512, seed=1)
    _, template, _ = simulatedPair(size=512, seed=2)
    if not withWcs:
        science.wcs = template.wcs = None
    with pytest.raises(InsufficientMatchesError,
                       match=r"matched \d stars .* at least 10 are needed") as info:
        SipRegister().diffim_register(science=science, template=template, config=config,
                                      sipOrder=2, debug=False)
    assert info.value.nScience > 10 and info.value.nTemplate > 10


def test_similarity_is_found_among_missing_and_spurious_stars():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 1000, (2, 60))
    a, b = 0.97 * np.exp(1j * np.radians(37.0)), 210.0 - 380.0j
    z = a * (x + 1j * y) + b + rng.normal(0, 0.1, 60) + 1j * rng.normal(0, 0.1, 60)
    keepTemplate, keepScience = np.arange(10, 60), np.arange(0, 45)
    spurious = rng.uniform(-500, 1500, (2, 15))
    sx = np.r_[z.real[keepScience], spurious[0]]
    sy = np.r_[z.imag[keepScience], spurious[1]]
    found = findSimilarity(x[keepTemplate], y[keepTemplate], sx, sy, 1.0)
    assert found.nAgree == 35
    assert found.a == pytest.approx(a, abs=1e-3)
    fx, fy = found(x, y)
    true = a * (x + 1j * y) + b
    # Three vertices with 0.1 px noise fix the transformation to a fraction of the radius.
    assert np.abs(fx + 1j * fy - true).max() < 1.0


def test_template_without_wcs_gets_a_tan_sip_fit_on_the_science_wcs(pair, config):
    science, template, _ = pair
    bare = template.clone()
    bare.wcs = None
    method, fit = findRegistration(science, bare, config, 2)
    assert method == "pattern"
    y, x = np.mgrid[0:template.height:64, 0:template.width:64].astype(np.float64)
    fitted = fit.transform.templateWcs.pixel_to_world(x, y)
    assert fitted.separation(template.wcs.pixel_to_world(x, y)).arcsec.max() < 0.01
