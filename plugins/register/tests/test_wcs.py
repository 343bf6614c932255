"""Registration of a template whose WCS is wrong: matched on the sky, fitted as TAN-SIP."""
from __future__ import annotations

import numpy as np
import pytest
from register_testing import (damagedWcs, distanceToNearest, normalisedResidual, rms,
                              robustStd, simulationTruth, subtractAl, trueResidual)

from diffim.warp import warpToScience
from diffim_register import SipRegister, SipRegisterConfig, findRegistration


@pytest.fixture(scope="module")
def registration(pair, damagedTemplate, config):
    return findRegistration(pair[0], damagedTemplate, config, 2)


def test_damaged_wcs_is_matched_on_the_sky(registration):
    method, fit = registration
    assert method == "wcs"
    assert fit.nMatches >= 100
    # mutual nearest neighbours: each star in at most one match
    assert len(set(fit.templateIndex)) == len(set(fit.scienceIndex)) == len(fit.kept)


def test_damaged_wcs_aligns_to_a_twentieth_of_a_pixel(pair, registration):
    science, template, _ = pair
    _, fit = registration
    residual = trueResidual(fit.transform.toTemplate, simulationTruth, template.shape,
                            science.shape)
    assert rms(residual) < 0.05
    assert residual.max() < 0.1


def test_fitted_template_wcs_is_the_true_one(pair, registration):
    """The TAN-SIP fit repairs the damaged WCS: sky positions agree to 0.01 arcsec."""
    _, template, _ = pair
    _, fit = registration
    assert fit.transform.templateWcs.sip.a_order == 2
    y, x = np.mgrid[0:template.height:64, 0:template.width:64].astype(np.float64)
    fitted = fit.transform.templateWcs.pixel_to_world(x, y)
    true = template.wcs.pixel_to_world(x, y)
    assert fitted.separation(true).arcsec.max() < 0.01


def test_a_wcs_far_off_falls_back_to_star_patterns(pair):
    science, template, _ = pair
    wrong = template.clone()
    wrong.wcs = damagedWcs(template.wcs, 5.0, 2.0)
    method, fit = findRegistration(science, wrong, SipRegisterConfig(), 2)
    assert method == "pattern"
    residual = trueResidual(fit.transform.toTemplate, simulationTruth, template.shape,
                            science.shape)
    assert rms(residual) < 0.05


@pytest.fixture(scope="module")
def differences(pair, damagedTemplate, config):
    """AL differences: well aligned (true WCS), registered (damaged WCS), unregistered."""
    science, template, _ = pair
    registered = SipRegister().diffim_register(science=science, template=damagedTemplate,
                                               config=config, sipOrder=2, debug=False)
    return {"aligned": subtractAl(science, warpToScience(template, science)),
            "registered": subtractAl(science, registered),
            "unregistered": subtractAl(science, warpToScience(damagedTemplate, science))}


def test_registered_difference_noise_matches_the_aligned_one(pair, differences):
    science, _, truth = pair
    free = distanceToNearest(science.shape, truth["x"], truth["y"]) > 12.0
    aligned = robustStd(normalisedResidual(differences["aligned"], free))
    registered = robustStd(normalisedResidual(differences["registered"], free))
    assert registered == pytest.approx(aligned, rel=0.05)
    assert aligned == pytest.approx(1.0, abs=0.05)


def test_registered_stars_subtract_as_well_as_aligned_ones(pair, differences):
    """Near bright stars a misregistration leaves dipoles; registration removes them."""
    science, _, truth = pair
    bright = (truth["kind"] == "star") & ~truth["saturated"] & (truth["differenceSnr"] > 50)
    near = distanceToNearest(science.shape, truth["x"][bright], truth["y"][bright]) < 6.0
    chi = {name: rms(normalisedResidual(difference, near))
           for name, difference in differences.items()}
    assert chi["registered"] == pytest.approx(chi["aligned"], rel=0.05)
    assert chi["unregistered"] > 3.0 * chi["aligned"]
