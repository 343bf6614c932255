"""The plugin honours the register contract: discovery, config, inputs, output, metadata."""
from __future__ import annotations

import numpy as np
import pytest

from diffim import plugins
from diffim.errors import ConfigError
from diffim_register import SipRegister, SipRegisterConfig


@pytest.fixture(scope="module")
def registered(pair, damagedTemplate, config):
    science, _, _ = pair
    before = [array.copy() for array in (science.image, science.mask, science.variance,
                                         damagedTemplate.image, damagedTemplate.mask,
                                         damagedTemplate.variance)]
    warped = SipRegister().diffim_register(science=science, template=damagedTemplate,
                                           config=config, sipOrder=2, debug=True)
    return warped, before


def test_plugin_is_found_by_name():
    assert plugins.load("register", "sip") is SipRegister


def test_defaults_are_lsst_registertask():
    config = SipRegisterConfig()
    assert (config.matchRadius, config.sipIter, config.sipRej) == (1.0, 3, 3.0)


@pytest.mark.parametrize("name,value", [("sipRej", 0.0), ("matchRadius", -1.0),
                                        ("minMatches", 2), ("maxStars", 0)])
def test_config_rejects_meaningless_values(name, value):
    with pytest.raises(ConfigError):
        SipRegisterConfig(**{name: value})


def test_inputs_are_not_modified(pair, damagedTemplate, registered):
    science, _, _ = pair
    _, before = registered
    after = (science.image, science.mask, science.variance, damagedTemplate.image,
             damagedTemplate.mask, damagedTemplate.variance)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def test_output_is_on_the_science_grid(pair, registered):
    science, _, _ = pair
    warped, _ = registered
    assert warped.shape == science.shape
    assert warped.wcs is not science.wcs
    assert warped.wcs.to_header_string() == science.wcs.to_header_string()
    assert warped.photoCalib == pair[1].photoCalib


def test_metadata_reports_the_fit(registered):
    warped, _ = registered
    meta = warped.metadata
    assert meta["registerMethod"] == "wcs"
    assert meta["registerOrder"] == 2
    assert meta["registerMatches"] >= 100
    assert 0 <= meta["registerRejected"] < 0.2 * meta["registerMatches"]
    assert 0.0 < meta["registerRms"] < 0.1
    assert meta["registerOffset"] == pytest.approx([0.3, 0.2], abs=0.03)


def test_debug_records_are_the_matches_and_their_residuals(registered):
    warped, _ = registered
    meta = warped.metadata
    records = meta["registerDebug"]
    assert len(records) == meta["registerMatches"] + meta["registerRejected"]
    kept = [r for r in records if not r["rejected"]]
    assert len(kept) == meta["registerMatches"]
    rms = np.sqrt(np.mean([r["dx"] ** 2 + r["dy"] ** 2 for r in kept]))
    assert rms == pytest.approx(meta["registerRms"], rel=1e-9)
    # Science minus template position of each kept match is the simulated offset.
    shift = np.array([[r["scienceX"] - r["templateX"], r["scienceY"] - r["templateY"]]
                      for r in kept])
    assert np.median(shift, axis=0) == pytest.approx([0.3, 0.2], abs=0.02)


def test_no_debug_records_without_debug(pair, damagedTemplate, config):
    warped = SipRegister().diffim_register(science=pair[0], template=damagedTemplate,
                                           config=config, sipOrder=1, debug=False)
    assert "registerDebug" not in warped.metadata
    assert warped.metadata["registerOrder"] == 1
