"""Each config field changes what the registration does."""
from __future__ import annotations

import pytest

from diffim.errors import ConfigError
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


def test_unknown_bad_mask_plane_is_a_config_error(pair):
    science, template, _ = pair
    with pytest.raises(ConfigError, match="badMaskPlanes names mask planes"):
        findRegistration(science, template, SipRegisterConfig(badMaskPlanes=["NOPE"]), 2)
