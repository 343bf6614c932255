"""A crowded 2048² field: every transient its own diaSource, next to stars and to each other.

5000 stars, 150 transients away from stars and 100 placed 3-15 px from a star or from
another transient. Detection splits merged footprints at their significant peaks, splits
a source that two point sources fit significantly better than one (two transients under
one peak), and keeps a point-like peak beside a saturated star, so a transient whose
light joins a neighbour's is still reported.
"""
from __future__ import annotations

import numpy as np
import pytest
from diffim.matching import matchPixels, nearestDistance
from diffim.pipeline import load_pipeline
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair

from paths import PIPELINES

SIZE = 2048


@pytest.fixture(scope="module")
def crowded():
    return simulatePair(size=SIZE, nStars=5000, nTransients=150, nNeighbourTransients=100,
                        seed=21)


def _run(pair, pipeline, *overrides):
    science, template, truth = pair
    config = load_pipeline(PIPELINES / pipeline, overrides=list(overrides))
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)
    return result.diaSources, truth


def _recovery(sources, truth):
    """Which truth objects have a diaSource of their own (one-to-one within 2.5 px)."""
    found = np.zeros(len(truth), dtype=bool)
    found[matchPixels(sources["x"], sources["y"], truth["x"], truth["y"], 2.5,
                      method="oneToOne").index2] = True
    return found


def _transients(truth, minSnr):
    return ((truth["kind"] == "transient") & (truth["differenceSnr"] >= minSnr)
            & ~truth["saturated"])


@pytest.mark.parametrize("pipeline", ["default.yaml", "zogy.yaml"])
def test_every_transient_of_a_crowded_field_is_its_own_diaSource(crowded, pipeline):
    sources, truth = _run(crowded, pipeline)
    found = _recovery(sources, truth)
    near = nearestDistance(np.column_stack([truth["x"], truth["y"]])) <= 15.0
    assert found[_transients(truth, 10)].mean() >= 0.97     # measured 0.984 al and zogy
    # the one S/N >= 50 transient missed (S/N 89) lies 5.4 px from a saturated star, on the
    # steep edge of its 240-sigma residual: no peak of its own, smoothed or not
    assert (~found[_transients(truth, 50)]).sum() <= 1      # measured 1 of 53, al and zogy
    assert found[_transients(truth, 10) & near].mean() >= 0.95     # 0.979 al and zogy
    matched = matchPixels(sources["x"], sources["y"], truth["x"], truth["y"], 3.0)
    assert len(matched.index2) - len(set(matched.index2)) <= 1     # no object split in two
    assert (len(sources) - len(set(matched.index1))) / (SIZE * SIZE / 1e6) <= 0.5
    split = sources[sources["parent"] > 0]
    assert len(split) > 20 and (split["deblend_nChild"] >= 2).all()


def test_without_deblending_merged_footprints_lose_transients(crowded):
    sources, truth = _run(crowded, "default.yaml", "detection.doDeblend=false")
    assert _recovery(sources, truth)[_transients(truth, 10)].mean() < 0.85   # measured 0.786
