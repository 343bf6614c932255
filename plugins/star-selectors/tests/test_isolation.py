"""Isolation in a crowded field: catalog neighbours, image peaks and PSF-fit residuals."""
import pytest
from astropy.table import Table

from diffim.testing.simulate import simulatePair
from diffim_star_selectors import (ObjectSizeStarSelector, ScienceStarSelector,
                                   SourceMeasurementConfig, measureSources)


@pytest.fixture(scope="module")
def crowded():
    """A field four times denser than the default (about 2000 stars on 1024²)."""
    science, _, truth = simulatePair(size=1024, nTransients=0, seed=3, nStars=2000)
    truth = Table({"kind": truth["kind"], "x": truth["x"], "y": truth["y"],
                   "flux": truth["scienceFlux"]})
    return science, truth, measureSources(science, SourceMeasurementConfig())


@pytest.mark.parametrize("selector", [ObjectSizeStarSelector, ScienceStarSelector])
def test_each_isolation_check_removes_blends(crowded, judgeSelection, selector):
    science, truth, sources = crowded
    catalogOnly = Table(sources, copy=True)
    catalogOnly.remove_column("neighbourDistance")

    def purity(catalog, **overrides):
        config = selector.ConfigClass(**overrides)
        stars = selector().diffim_sourceSelector(sources=catalog, exposure=science,
                                                 config=config, references=None)
        return judgeSelection(stars, truth, science)["good"].mean(), len(stars)

    full, n = purity(sources)
    none, _ = purity(sources, isolationRadius=0.0)
    neighboursOnly, _ = purity(catalogOnly, neighbourThreshold=None)
    assert n >= 100
    assert full >= 0.95
    assert none <= full - 0.1
    assert neighboursOnly <= full - 0.05
