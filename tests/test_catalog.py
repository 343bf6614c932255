"""Sky-source injection and diaSource-to-source matching in the task."""
from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from diffim.catalog import appendSkySources, matchToSources


def _sources() -> Table:
    table = Table({"id": np.array([11, 12], dtype=np.int64), "x": [10.0, 40.0], "y": [10.0, 20.0],
                   "psfFlux": [5.0, -3.0], "isPositive": [True, False]})
    table["psfFlux"].unit = u.ct
    table["psfFlux"].description = "PSF flux"
    return table


def test_sky_sources_are_appended_flagged_and_painted():
    labels = np.zeros((50, 60), dtype=np.int32)
    labels[9:12, 9:12] = 1
    labels[19:22, 39:42] = 2
    sky = Table({"x": [25.0, 50.0], "y": [30.0, 40.0], "radius": [3.0, 2.0]})
    table, painted = appendSkySources(_sources(), labels, sky, np.array([13, 14]))
    assert list(table["sky_source"]) == [False, False, True, True]
    assert list(table["id"]) == [11, 12, 13, 14]
    assert np.isnan(table["psfFlux"][2]) and not table["isPositive"][3]
    assert table["psfFlux"].unit == u.ct and table["psfFlux"].description == "PSF flux"
    assert (painted == 3).sum() == 29  # pixels of a radius-3 disc
    assert painted[30, 25] == 3 and painted[40, 50] == 4
    assert (labels == painted)[labels > 0].all() and (labels > 2).sum() == 0


@pytest.mark.parametrize("onSky", [True, False])
def test_match_within_radius(onSky):
    dia = _sources()
    src = Table({"id": np.array([7, 8, 9]), "x": [10.1, 40.0 + 3.0, 100.0],
                 "y": [10.0, 20.0, 100.0]})
    scale = 0.2
    if onSky:
        for t in (dia, src):
            t["ra"] = 150.0 + np.asarray(t["x"]) * scale / 3600.0
            t["dec"] = 2.0 + np.asarray(t["y"]) * scale / 3600.0
    out = matchToSources(dia, src, radiusArcsec=0.5, pixelScale=scale)
    assert list(out["srcMatchId"]) == [7, -1]
    assert out["srcMatchDistance"][0] == pytest.approx(0.1 * scale, rel=0.05)
    assert np.isnan(out["srcMatchDistance"][1])
    assert "srcMatchId" not in dia.colnames


def test_reference_matches_keep_the_nearest_within_radius():
    from diffim.catalog import addReferenceMatches

    matches = Table({"id": [11, 11, 12], "refId": [5, 6, 7], "distance": [0.4, 0.2, 0.9]})
    out = addReferenceMatches(_sources(), matches, radiusArcsec=0.5)
    assert list(out["refMatchId"]) == [6, -1]
    assert out["refMatchDistance"][0] == pytest.approx(0.2)
    assert out["refMatchDistance"].unit == u.arcsec
