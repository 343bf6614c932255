"""Resampled inputs: noise correlated between pixels, which per-pixel variances do not describe.

Detection measures the noise of its own (PSF-filtered) image and thresholds in those
units, so correlated noise gives no flood of false detections; the correction reaches
the flux errors and the quality block.
"""
from __future__ import annotations

import numpy as np
import pytest
from diffim.matching import matchPixels
from diffim.pipeline import load_pipeline
from diffim.statistics import madSigma
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair

from paths import PIPELINES

SIZE = 1024


@pytest.fixture(scope="module")
def pairs():
    """White-noise and resampled (bilinear, half-pixel) versions of one simulated pair."""
    return {noise: simulatePair(size=SIZE, seed=5, nTransients=40, resampledNoise=noise)
            for noise in (0.0, 0.5)}


def _run(pair, pipeline, *overrides):
    science, template, truth = pair
    result = ImageDifferenceTask(config=load_pipeline(PIPELINES / pipeline,
                                                      overrides=list(overrides))).run(
        exposure=science, templateExposure=template)
    return result, truth


def _falsePerMpix(result, truth) -> float:
    sources = result.diaSources
    real = matchPixels(sources["x"], sources["y"], truth["x"], truth["y"], 3.0)
    return (len(sources) - len(set(real.index1))) / (SIZE * SIZE / 1e6)


@pytest.mark.parametrize("pipeline", ["default.yaml", "zogy.yaml"])
def test_correlated_noise_gives_no_flood_of_false_detections(pairs, pipeline):
    white, _ = _run(pairs[0.0], pipeline)
    result, truth = _run(pairs[0.5], pipeline)
    quality = result.metadata["quality"]
    assert result.metadata["detection.noiseRatio"] > 1.7          # measured, not assumed
    assert _falsePerMpix(result, truth) <= 1.0
    assert quality["largestFootprint"] < 0.01
    assert quality["filteredNoiseRatio"] == pytest.approx(1.0, abs=0.1)
    assert quality["status"] == "ok", quality["reasons"]
    assert len(result.diaSources) >= len(white.diaSources) - 2
    # without the measured correction the same pair floods (the behaviour it replaces)
    flooded, _ = _run(pairs[0.5], pipeline, "detection.doScaleToMeasuredNoise=false")
    assert _falsePerMpix(flooded, truth) > 100
    assert flooded.metadata["quality"]["status"] == "suspect"


def test_sky_flux_errors_hold_on_correlated_noise(pairs):
    result, _ = _run(pairs[0.5], "default.yaml", "doSkySources=true",
                        "skySources.nSources=300")
    sky = result.diaSources[result.diaSources["sky_source"]]
    pulls = np.asarray(sky["base_PsfFlux_instFlux"] / sky["base_PsfFlux_instFluxErr"])
    assert madSigma(pulls[np.isfinite(pulls)]) == pytest.approx(1.0, abs=0.1)
