"""doAddMetrics: kernel-candidate QA, NFalsePositives and registration offsets in the metadata."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from scipy.spatial import cKDTree

from diffim.false_positives import falsePositiveCounts
from diffim.kernel_candidates import joinKernelCandidates
from diffim.pipeline import load_pipeline
from diffim.psf import GaussianPsf
from diffim.exposure import Exposure
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair

from paths import PIPELINES

#: Science minus template position of every star of the pair (pixels).
OFFSET = (2.4, -1.7)


@pytest.fixture(scope="module")
def field():
    """A 768-pixel pair shifted by OFFSET with 8 transients and 10 variables, registered
    from its stars, with the template's stars as template sources."""
    science, template, truth = simulatePair(size=768, nTransients=8, nVariables=10, seed=1,
                                            offset=OFFSET)
    stars = truth[np.isin(truth["kind"], ["star", "variable"])]
    templateSources = Table({"id": stars["id"], "ra": stars["ra"], "dec": stars["dec"]})
    config = load_pipeline(PIPELINES / "default.yaml", ["doSelectSources=true",
                                                        "doAddMetrics=true",
                                                        "doUseRegister=true"])
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template,
                                                    templateSources=templateSources)
    return science, truth, templateSources, result


def _nearest(table, truth):
    """Distance to, and row of, the nearest truth object of each row of ``table``."""
    distance, index = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([table["x"], table["y"]]))
    return distance, truth[index]


def test_kernel_candidate_qa_in_kernel_sources_and_metadata(field):
    _, truth, _, result = field
    metrics = result.metadata["quality"]["metrics"]
    assert metrics["nKernelCandidates"] >= 15
    assert metrics["KCDiffimStDev_LOCAL"] == pytest.approx(1.0, abs=0.05)
    assert metrics["KCDiffimStDev_SPATIAL"] == pytest.approx(metrics["KCDiffimStDev_LOCAL"],
                                                             abs=0.1)
    assert abs(metrics["KCDiffimMean_SPATIAL"]) < 0.1
    stars = result.kernelSources
    assert np.all(np.isnan(stars["KCDiffimMean_LOCAL"][stars["isControl"]]))
    fitted = stars[np.isfinite(stars["KCDiffimStDev_LOCAL"])]
    assert len(fitted) == metrics["nKernelCandidates"]
    assert np.median(fitted["KCDiffimStDev_LOCAL"]) == pytest.approx(
        metrics["KCDiffimStDev_LOCAL"], abs=1e-4)
    kind = _nearest(fitted, truth)[1]["kind"]
    variable = fitted[kind == "variable"]
    assert len(variable) >= 2
    assert np.all(variable["KCDiffimStDev_LOCAL"] < 1.3)
    assert np.all(np.abs(variable["KCDiffimMean_SPATIAL"]) > 0.25)
    assert np.all(variable["KCDiffimStDev_SPATIAL"] > 1.5)
    good = fitted[(kind == "star") & fitted["KCUsed"]]
    assert len(good) >= 10
    assert np.all(np.abs(good["KCDiffimMean_SPATIAL"]) < 0.1)
    assert np.all(good["KCDiffimStDev_SPATIAL"] < 1.1)


def test_false_positives_add_up_and_transients_are_unassociated(field):
    science, truth, templateSources, result = field
    metrics = result.metadata["quality"]["metrics"]
    total = metrics["NFalsePositivesTotal"]
    assert "sky_source" not in result.diaSources.colnames and total == len(result.diaSources)
    assert metrics["NFalsePositivesRefAssociated"] is None           # no reference catalog
    assert total == metrics["NFalsePositivesSrcAssociated"] + metrics[
        "NFalsePositivesUnassociated"]
    real = result.diaSources
    distance, nearest = _nearest(real, truth)
    onTransient = real[(distance < 2.0) & (nearest["kind"] == "transient")]
    onVariable = real[(distance < 2.0) & (nearest["kind"] == "variable")]
    assert len(onTransient) == 8 and len(onVariable) >= 5
    counts = falsePositiveCounts(onTransient, science, [templateSources])
    assert counts["NFalsePositivesUnassociated"] == len(onTransient)
    counts = falsePositiveCounts(onVariable, science, [templateSources])
    assert counts["NFalsePositivesSrcAssociated"] == len(onVariable)
    assert metrics["NFalsePositivesUnassociated"] >= len(onTransient)
    assert metrics["NFalsePositivesSrcAssociated"] >= len(onVariable)


def test_false_positive_classes_are_exclusive():
    """Reference match first, then a known source within one FWHM (3.53 px), else none."""
    science = Exposure(image=np.zeros((64, 64), np.float32), psf=GaussianPsf(1.5))
    sources = Table({"x": [10.0, 20.0, 30.0, 40.0, 50.0, 5.0],
                     "y": [10.0] * 5 + [5.0],
                     "refMatchId": [7, 8, -1, -1, -1, -1],
                     "sky_source": [False] * 5 + [True]})
    known = [Table({"x": [10.5, 31.0]}), Table({"x": [43.0]})]
    for table in known:
        table["y"] = 10.0
    counts = falsePositiveCounts(sources, science, known)
    assert counts == {"NFalsePositivesTotal": 5, "NFalsePositivesRefAssociated": 2,
                      "NFalsePositivesSrcAssociated": 2, "NFalsePositivesUnassociated": 1}
    counts = falsePositiveCounts(sources, science, [])
    assert counts["NFalsePositivesSrcAssociated"] is None
    assert counts["NFalsePositivesUnassociated"] == 3


def test_kernel_candidates_join_the_star_at_their_pixel():
    stars = Table({"id": [1, 2, 3], "x": [10.4, 20.0, 30.0], "y": [10.4, 20.0, 30.0]})
    candidates = Table({"x": [10.0, 30.0], "y": [10.0, 31.5], "KCUsed": [True, True],
                        "KCDiffimMean_LOCAL": [0.1, 0.2]})
    joined = joinKernelCandidates(stars, candidates)
    assert list(joined["KCUsed"]) == [True, False, False]
    assert joined["KCDiffimMean_LOCAL"][0] == 0.1
    assert np.isnan(joined["KCDiffimMean_LOCAL"][1:]).all()


def test_registration_offsets_are_the_injected_shift(field):
    metrics = field[3].metadata["quality"]["metrics"]
    assert metrics["registerOffset"] == pytest.approx(OFFSET, abs=0.05)
    assert metrics["registerOffsetMean"] == pytest.approx(OFFSET, abs=0.05)
    assert metrics["registerRms"] < 0.2
