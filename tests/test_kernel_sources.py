"""Kernel-star selection, control sample and kernel-quality metrics; registration in the task."""
from __future__ import annotations

import numpy as np
import pytest

from diffim.pipeline import load_pipeline
from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask

from paths import PIPELINES


def _run(science, template, *overrides):
    config = load_pipeline(PIPELINES / "default.yaml", overrides)
    return ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)


@pytest.fixture(scope="module")
def pair():
    return simulatePair(size=1024, nTransients=10, seed=12)


def test_selected_stars_are_split_into_kernel_and_control(pair):
    science, template, _ = pair
    result = _run(science, template, "doSelectSources=true", "doAddMetrics=true")
    stars = result.kernelSources
    control = stars[stars["isControl"]]
    assert len(control) == result.metadata["nControlSources"] > 5
    assert set(control["controlReason"]) == {"sample"}
    assert set(stars["controlReason"][~stars["isControl"]]) == {"none"}
    assert result.metadata["nKernelSources"] == pytest.approx(4 * len(control), abs=4)
    assert result.metadata["ALCandidateSource"] != "detected"
    assert abs(result.metadata["controlSampleResidualMean"]) < 0.2
    assert result.metadata["controlSampleResidualRms"] < 0.5


def test_control_metric_is_worse_for_a_wrong_kernel(pair):
    science, template, _ = pair
    good = _run(science, template, "doSelectSources=true")
    wrong = _run(science, template, "doSelectSources=true", "subtract=gaussianMatch",
                 "subtract.fitFluxScale=false", "doDecorrelation=false")
    assert wrong.metadata["controlSampleResidualRms"] > 5 * good.metadata[
        "controlSampleResidualRms"]
    # without doAddMetrics: no kernel-candidate columns and no metrics block
    assert "KCUsed" not in good.kernelSources.colnames
    assert "metrics" not in good.metadata["quality"]


def test_control_sample_is_reproducible_and_seeded(pair):
    science, template, _ = pair
    first = _run(science, template, "doSelectSources=true", "doAddMetrics=true")
    again = _run(science, template, "doSelectSources=true", "doAddMetrics=true")
    other = _run(science, template, "doSelectSources=true", "doAddMetrics=true",
                 "controlRandomSeed=11")
    ids = lambda r: sorted(r.kernelSources["id"][r.kernelSources["isControl"]])  # noqa: E731
    assert ids(first) == ids(again)
    assert ids(first) != ids(other)


def test_registration_recovers_a_wrong_template_wcs(pair):
    science, template, _ = pair
    damaged = template.clone()
    damaged.wcs.wcs.crval = damaged.wcs.wcs.crval + [1.0 / 3600, 0.5 / 3600]
    theta = np.deg2rad(0.5)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    damaged.wcs.wcs.cd = rotation @ damaged.wcs.wcs.cd
    aligned = _run(science, template)
    registered = _run(science, damaged, "doUseRegister=true")
    # The fit rms is star-centroid noise; the alignment itself is checked by the
    # difference (no extra dipoles, same noise) and, against truth, in the register plugin.
    assert registered.metadata["registerRms"] < 0.2

    def noise(result):
        d = result.subtractedExposure
        good = ~d.maskedPixels("NO_DATA", "EDGE", "SAT", "DETECTED", "DETECTED_NEGATIVE")
        z = d.image[good] / np.sqrt(d.variance[good])
        return 1.4826 * np.median(np.abs(z - np.median(z)))

    assert noise(registered) == pytest.approx(noise(aligned), rel=0.05)
    assert len(registered.diaSources) <= len(aligned.diaSources) + 3


def test_template_sources_restrict_the_kernel_stars(pair):
    from astropy.table import Table

    science, template, truth = pair
    half = truth[(truth["kind"] == "star") & (truth["x"] < 512)]
    templateSources = Table({"id": np.asarray(half["id"]), "ra": half["ra"], "dec": half["dec"]})
    config = load_pipeline(PIPELINES / "default.yaml", ["doSelectSources=true",
                                                        "doAddMetrics=true"])
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template,
                                                    templateSources=templateSources)
    assert result.metadata["nKernelSourcesInTemplate"] > 5
    assert np.all(result.kernelSources["x"] < 512 + 2)
