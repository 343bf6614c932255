"""A crowded 2048² field: every transient its own diaSource, next to stars and to each other.

5000 stars, 150 transients away from stars and 100 placed 3-15 px from a star or from
another transient. Detection splits merged footprints at their significant peaks, splits
a source that two point sources fit significantly better than one (two transients under
one peak), and keeps a point-like peak beside a saturated star, so a transient whose
light joins a neighbour's is still reported. Transients with a saturated pixel within
FWHM/2 of their centre (2 of 187 at S/N >= 10, one of them at S/N 89, 5.4 px from a
3.6e6-count star on the edge of its 240-sigma residual) are left out like saturated ones.
"""
from __future__ import annotations

import numpy as np
import pytest
from diffim.matching import matchPixels, nearestDistance
from diffim.pipeline import load_pipeline
from diffim.psf import FWHM_PER_SIGMA
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


def _clipped(exposure, x, y):
    """True where a SAT pixel of ``exposure`` lies within FWHM/2 of ``(x, y)`` (its pixels)."""
    sat = exposure.maskedPixels("SAT")
    radius = 0.5 * FWHM_PER_SIGMA * exposure.psf.sigma()
    reach = int(np.ceil(radius))
    out = np.zeros(len(x), dtype=bool)
    for k, (xk, yk) in enumerate(zip(x, y)):
        ix, iy = int(round(xk)), int(round(yk))
        rows, cols = np.mgrid[iy - reach:iy + reach + 1, ix - reach:ix + reach + 1]
        inside = (np.hypot(cols - xk, rows - yk) <= radius) & (rows >= 0) & (cols >= 0) \
            & (rows < sat.shape[0]) & (cols < sat.shape[1])
        out[k] = sat[rows[inside], cols[inside]].any()
    return out


def _transients(pair, minSnr):
    """Unsaturated transients of S/N >= minSnr whose light no saturated pixel clips.

    A transient with a SAT pixel of either image within FWHM/2 of its centre (next to a
    saturated star) has part of its light clipped: its flux cannot be measured and its
    measurement would carry the saturated flag, so it is left out like a saturated one.
    """
    science, template, truth = pair
    chosen = ((truth["kind"] == "transient") & (truth["differenceSnr"] >= minSnr)
              & ~truth["saturated"])
    index = np.flatnonzero(chosen)
    x, y = np.asarray(truth["x"])[index], np.asarray(truth["y"])[index]
    tx, ty = template.wcs.world_to_pixel_values(*science.wcs.pixel_to_world_values(x, y))
    chosen[index] = ~(_clipped(science, x, y) | _clipped(template, tx, ty))
    return chosen


@pytest.mark.parametrize("pipeline", ["default.yaml", "zogy.yaml"])
def test_every_transient_of_a_crowded_field_is_its_own_diaSource(crowded, pipeline):
    sources, truth = _run(crowded, pipeline)
    found = _recovery(sources, truth)
    near = nearestDistance(np.column_stack([truth["x"], truth["y"]])) <= 15.0
    assert found[_transients(crowded, 10)].mean() >= 0.97     # 184 of 185, al and zogy
    assert found[_transients(crowded, 50)].all()              # 52 of 52, al and zogy
    assert found[_transients(crowded, 10) & near].mean() >= 0.95     # 137 of 138, al and zogy
    matched = matchPixels(sources["x"], sources["y"], truth["x"], truth["y"], 3.0)
    assert len(matched.index2) - len(set(matched.index2)) <= 1     # no object split in two
    assert (len(sources) - len(set(matched.index1))) / (SIZE * SIZE / 1e6) <= 0.5
    split = sources[sources["parent"] > 0]
    assert len(split) > 20 and (split["deblend_nChild"] >= 2).all()


def test_without_deblending_merged_footprints_lose_transients(crowded):
    sources, truth = _run(crowded, "default.yaml", "detection.doDeblend=false")
    assert _recovery(sources, truth)[_transients(crowded, 10)].mean() < 0.85   # measured 0.795
