"""Cosmic rays left unmasked in the science image are flagged ip_diffim_flag_sharp.

A 1024² simulated pair with 80 transients and 150 cosmic rays (single pixels and
tracks up to 8 pixels, 8-300 sigma per pixel) added to the science image after it
was made, unmasked. Where the science image is not convolved (seeing ratio 1.3 and
1.0), at least 90 % of the diaSources on a cosmic ray are flagged and at most 2 % of
those on a real transient.
"""
from __future__ import annotations

import numpy as np
import pytest
from diffim.matching import matchPixels
from diffim.pipeline import load_pipeline
from diffim.task import ImageDifferenceTask
from diffim.testing.cosmics import addCosmicRays
from diffim.testing.simulate import simulatePair

from paths import PIPELINES


@pytest.fixture(scope="module", params=[1.3, 1.0], ids=["science-broader", "equal-seeing"])
def hitPair(request):
    science, template, truth = simulatePair(size=1024, seed=7, nTransients=80,
                                            seeingRatio=request.param)
    cosmics = addCosmicRays(science, 150, np.random.default_rng(3))
    return science, template, truth, cosmics


def _matched(sources, x, y) -> np.ndarray:
    return np.unique(matchPixels(sources["x"], sources["y"], x, y, 3.0).index1)


@pytest.mark.parametrize("pipeline", ["default.yaml", "zogy.yaml"])
def test_cosmic_rays_are_flagged_and_transients_are_not(hitPair, pipeline):
    science, template, truth, cosmics = hitPair
    result = ImageDifferenceTask(config=load_pipeline(PIPELINES / pipeline)).run(
        exposure=science, templateExposure=template)
    sources = result.diaSources
    sharp = np.asarray(sources["ip_diffim_flag_sharp"])
    onCosmic = _matched(sources, cosmics["x"], cosmics["y"])
    transients = truth[truth["kind"] == "transient"]
    onTransient = np.setdiff1d(_matched(sources, transients["x"], transients["y"]), onCosmic)
    assert len(onCosmic) > 100 and len(onTransient) > 50
    assert sharp[onCosmic].mean() >= 0.9
    assert sharp[onTransient].mean() <= 0.02
