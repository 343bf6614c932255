"""The objectSize selector on fields with galaxies, cosmic rays and close neighbours."""
import numpy as np
import pytest
from astropy.table import Table

from diffim import plugins
from diffim.errors import ConfigError, InputError
from diffim_star_selectors import ObjectSizeStarSelector, ObjectSizeStarSelectorConfig


def select(sources, exposure, **overrides):
    config = ObjectSizeStarSelectorConfig(**overrides)
    config.freeze()
    return ObjectSizeStarSelector().diffim_sourceSelector(sources=sources, exposure=exposure,
                                                          config=config, references=None)


def test_entry_point_and_lsst_defaults():
    assert plugins.load("sourceSelector", "objectSize") is ObjectSizeStarSelector
    c = ObjectSizeStarSelectorConfig()
    assert (c.doFluxLimit, c.fluxMin, c.fluxMax, c.doSignalToNoiseLimit) == (True, 12500, 0, False)
    assert (c.widthMin, c.widthMax, c.widthStdAllowed, c.nSigmaClip) == (0.0, 10.0, 0.15, 2.0)
    assert c.signalToNoiseMin == 50.0 and c.isolationRadius == 10.0


def test_selected_are_isolated_stars(fields, quality):
    good, recovered = quality(select, fields, minStars=30)
    assert good >= 0.95
    assert recovered >= 0.6


def test_measures_the_exposure_when_no_catalog_is_given(fields):
    science, _, sources = fields[0]
    image = science.image.copy()
    stars = select(None, science)
    np.testing.assert_array_equal(science.image, image)
    np.testing.assert_array_equal(np.sort(stars["id"]), np.sort(select(sources, science)["id"]))


def test_flux_and_signal_to_noise_limits_act(fields):
    science, _, sources = fields[0]
    default = select(sources, science)
    bright = select(sources, science, fluxMin=50000.0)
    assert 0 < len(bright) < len(default)
    assert np.all(bright["flux"] >= 50000.0)
    capped = select(sources, science, fluxMax=40000.0)
    assert 0 < len(capped) < len(default) and np.all(capped["flux"] <= 40000.0)
    snr = select(sources, science, doFluxLimit=False, doSignalToNoiseLimit=True,
                 signalToNoiseMin=200.0)
    assert len(snr) > 0 and np.all(snr["flux"] / snr["fluxErr"] >= 200.0)


def test_isolation_radius_acts(fields):
    science, _, sources = fields[0]
    loose = select(sources, science, isolationRadius=0.0)
    strict = select(sources, science, isolationRadius=30.0)
    assert len(strict) < len(select(sources, science)) < len(loose)
    x, y = np.asarray(sources["x"]), np.asarray(sources["y"])
    for row in strict:
        d = np.hypot(x - row["x"], y - row["y"])
        assert np.sum(d < 30.0) == 1


def test_the_narrowest_cluster_is_taken_when_galaxies_outnumber_stars(fields):
    science, truth, sources = fields[0]
    widths = np.sqrt(0.5 * (sources["Ixx"] + sources["Iyy"]))
    stars = select(sources, science)
    starWidth = np.median(np.sqrt(0.5 * (stars["Ixx"] + stars["Iyy"])))
    assert starWidth == pytest.approx(science.psf.sigma(), rel=0.05)
    assert np.nanmax(widths) > 2 * starWidth          # the galaxies are there


def test_catalog_errors_and_config_checks(fields):
    science, _, sources = fields[0]
    lacking = Table(sources, copy=True)
    lacking.remove_column("flag_cr")
    with pytest.raises(InputError, match="flag_cr"):
        select(lacking, science)
    with pytest.raises(InputError, match="myFlux"):
        select(sources, science, sourceFluxField="myFlux")
    with pytest.raises(ConfigError, match="fluxMax"):
        select(sources, science, fluxMin=1e5, fluxMax=1e4)
    with pytest.raises(ConfigError, match="widthMax"):
        select(sources, science, widthMin=3.0, widthMax=2.0)
