"""The catalog selector: reference matches filtered by magnitude, colour and variability."""
import numpy as np
import pytest
from astropy.table import Table
from scipy.spatial import cKDTree

from diffim import plugins
from diffim.errors import ConfigError, InputError
from diffim_star_selectors import CatalogStarSelector, CatalogStarSelectorConfig


def select(sources, exposure, references, **overrides):
    config = CatalogStarSelectorConfig(**overrides)
    config.freeze()
    return CatalogStarSelector().diffim_sourceSelector(sources=sources, exposure=exposure,
                                                       config=config, references=references)


@pytest.fixture
def matched(fields):
    """A field, its sources and reference matches of the sources that are stars.

    The reference table is what the astrometer returns: the source id, refId,
    distance, refRa, refDec, a magnitude ``r``, a colour ``g_r`` and a
    ``variable`` flag; its positions are the true star positions.
    """
    science, truth, sources = fields[0]
    stars = truth[truth["kind"] == "star"]
    distance, index = cKDTree(np.column_stack([stars["x"], stars["y"]])).query(
        np.column_stack([sources["x"], sources["y"]]))
    rows = np.flatnonzero(distance < 0.5)
    rng = np.random.default_rng(8)
    refRa, refDec = science.wcs.pixel_to_world_values(stars["x"][index[rows]],
                                                      stars["y"][index[rows]])
    references = Table({
        "id": np.asarray(sources["id"])[rows], "refId": 5000 + index[rows],
        "distance": distance[rows] * 0.2, "refRa": refRa, "refDec": refDec,
        "r": 28.0 - 2.5 * np.log10(np.asarray(stars["flux"])[index[rows]]),
        "g_r": rng.normal(0.7, 0.4, len(rows)), "variable": rng.uniform(size=len(rows)) < 0.2})
    return science, truth, sources, references


def test_entry_point_and_references_are_required(fields):
    assert plugins.load("sourceSelector", "catalog") is CatalogStarSelector
    science, _, sources = fields[0]
    with pytest.raises(ConfigError, match="kernelSourcesFromRef") as info:
        select(sources, science, None)
    assert "\n" not in str(info.value)


def test_stars_from_the_catalog_pass_flags_isolation_and_limits(matched, judgeSelection):
    science, truth, sources, references = matched
    everything = select(sources, science, references)
    assert len(everything) >= 60
    assert set(everything["refId"]) <= set(references["refId"])
    assert judgeSelection(everything, truth, science)["good"].mean() >= 0.95
    assert not np.any(everything["flag_saturated"] | everything["flag_edge"])
    limited = select(sources, science, references, magField="r", magMin=16.0, magMax=18.5,
                     colorField="g_r", colorMax=1.2, variableField="variable")
    assert 10 <= len(limited) < len(everything)
    assert np.all((limited["r"] >= 16.0) & (limited["r"] <= 18.5) & (limited["g_r"] <= 1.2))
    assert not np.any(limited["variable"])
    expected = everything[(everything["r"] >= 16.0) & (everything["r"] <= 18.5)
                          & (everything["g_r"] <= 1.2) & ~everything["variable"]]
    assert set(limited["id"]) == set(expected["id"])


def test_without_a_catalog_references_are_placed_by_position(matched):
    science, _, sources, references = matched
    byId = select(sources, science, references)
    byPosition = select(None, science, references)
    assert set(byPosition["refId"]) == set(byId["refId"])
    np.testing.assert_allclose(np.sort(byPosition["x"]), np.sort(byId["x"]), atol=1e-6)


def test_user_errors(matched):
    science, _, sources, references = matched
    with pytest.raises(InputError, match="'mag'|mag"):
        select(sources, science, references, magField="mag", magMax=20.0)
    with pytest.raises(ConfigError, match="magField"):
        select(sources, science, references, magMax=20.0)
    with pytest.raises(InputError, match="refId"):
        select(sources, science, Table({"id": [1]}))
