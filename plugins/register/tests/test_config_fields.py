"""Each config field changes what the registration does."""
from __future__ import annotations

import pytest

from diffim_register import InsufficientMatchesError, SipRegisterConfig, findRegistration
from diffim_register.stars import detectStars


@pytest.fixture(scope="module")
def default(pair, config):
    science, template, _ = pair
    return findRegistration(science, template, config, 2)


def test_use_wcs_false_matches_by_pattern(pair, default):
    science, template, _ = pair
    assert default[0] == "wcs"
    method, fit = findRegistration(science, template, SipRegisterConfig(useWcs=False), 2)
    assert method == "pattern"
    assert not hasattr(fit.transform, "templateWcs")


def test_max_stars_limits_the_fit(pair, default):
    science, template, _ = pair
    _, fit = findRegistration(science, template, SipRegisterConfig(maxStars=40), 2)
    assert len(fit.scienceStars) == 40 and fit.nMatches <= 40 < default[1].nMatches


def test_min_snr_keeps_faint_stars_out(pair, default):
    science, template, _ = pair
    _, fit = findRegistration(science, template, SipRegisterConfig(minSnr=100.0), 2)
    assert fit.scienceStars.snr.min() >= 100.0
    assert fit.nMatches < default[1].nMatches


def test_detection_threshold_finds_fewer_objects(pair):
    science, _, _ = pair
    low = detectStars(science, SipRegisterConfig(detectionThreshold=5.0))
    high = detectStars(science, SipRegisterConfig(detectionThreshold=20.0))
    assert len(high) < 0.8 * len(low)


def test_min_matches_beyond_the_matches_stops(pair, default):
    science, template, _ = pair
    needed = default[1].nMatches + 50
    with pytest.raises(InsufficientMatchesError, match=f"at least {needed} are needed"):
        findRegistration(science, template, SipRegisterConfig(minMatches=needed), 2)


def test_a_bad_mask_plane_the_exposure_lacks_counts_as_empty(pair, default, caplog):
    science, template, _ = pair
    planes = [*SipRegisterConfig().badMaskPlanes, "NOT_IN_THIS_EXPOSURE"]
    with caplog.at_level("INFO", logger="diffim.mask"):
        _, registration = findRegistration(science, template,
                                           SipRegisterConfig(badMaskPlanes=planes), 2)
    assert registration.nMatches == default[1].nMatches
    assert "register.badMaskPlanes names the mask plane NOT_IN_THIS_EXPOSURE" in caplog.text
