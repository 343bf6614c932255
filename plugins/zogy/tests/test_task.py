"""The zogy plugin inside ImageDifferenceTask (warped template, sanitised inputs)."""
from __future__ import annotations

import numpy as np
import pytest

from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask
from diffim.task_config import ImageDifferenceConfig
from zogy_testing import psfFlux


def test_task_runs_zogy_on_a_shifted_template():
    science, template, truth = simulatePair(size=512, seeingRatio=1.3, seed=51,
                                            offset=(0.3, 0.2), nTransients=20)
    config = ImageDifferenceConfig()
    config.subtract.select("zogy")
    for flag in ("doDecorrelation", "doDetection", "doMeasurement", "doMerge",
                 "doForcedMeasurement", "doApCorr", "doSkySources"):
        config.set(flag, False)
    result = ImageDifferenceTask(config).run(exposure=science, templateExposure=template)
    difference = result.subtractedExposure
    assert result.metadata["psfMatchingAlgorithm"] == "zogy"
    assert result.metadata["zogyFluxScalingSource"] == "photoCalib"
    assert result.scoreExposure is not None and result.matchedExposure is None
    assert difference.photoCalib == science.photoCalib
    assert np.isfinite(difference.image[difference.mask == 0]).all()
    bright = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] > 20)]
    fluxes = np.array([psfFlux(difference, x, y)[0] for x, y in zip(bright["x"], bright["y"])])
    assert np.nanmedian(fluxes / bright["differenceFlux"]) == pytest.approx(1.0, abs=0.03)
