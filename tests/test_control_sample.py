"""Control stars from the reference catalog: doSelectDcrCatalog and doSelectVariableCatalog."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from scipy.spatial import cKDTree

from diffim.catalog import referenceControlReasons, splitControlSample
from diffim.errors import ConfigError, InputError
from diffim.pipeline import load_pipeline
from diffim.sanitize import sanitize
from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask

from paths import PIPELINES

#: Colours of the reference catalog: extreme stars are bluer than BLUE or redder than RED.
BLUE, RED = 0.0, 1.5

BOTH_FLAGS = ("doSelectDcrCatalog=true", "dcrColorField=g_r", f"dcrColorMin={BLUE}",
              f"dcrColorMax={RED}", "doSelectVariableCatalog=true", "variableField=variable")


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """A simulated pair with 10 variables, its truth and a reference catalog of its stars.

    Every third star (by truth id) has an extreme g - r, alternately blue and
    red; the others lie well inside [BLUE, RED]. The catalog flags the truth
    variables.
    """
    science, template, truth = simulatePair(size=768, nTransients=5, nVariables=10, seed=1)
    stars = truth[np.isin(truth["kind"], ["star", "variable"])]
    color = np.random.default_rng(0).uniform(0.2, 1.2, len(stars))
    extreme = np.asarray(stars["id"]) % 3 == 0
    color[extreme] = np.where(np.asarray(stars["id"])[extreme] % 2 == 0, -0.4, 1.9)
    path = tmp_path_factory.mktemp("refcat") / "refcat.fits"
    Table({"id": np.asarray(stars["id"]) + 10_000, "ra": stars["ra"], "dec": stars["dec"],
           "mag": 28.0 - 2.5 * np.log10(np.asarray(stars["templateFlux"]) / 3.6),
           "g_r": color, "variable": np.asarray(stars["kind"]) == "variable"}).write(path)
    templateSources = Table({"id": stars["id"], "ra": stars["ra"], "dec": stars["dec"]})
    return science, template, truth, templateSources, path


def _run(field, *overrides, templateSources=True, selectSources=None, refCatalog=None):
    science, template, _, sources, path = field
    config = load_pipeline(PIPELINES / "default.yaml",
                           ["doSelectSources=true", "doAddMetrics=true",
                            f"astrometer.refCatalog={refCatalog or path}", *overrides])
    return ImageDifferenceTask(config=config).run(
        exposure=science, templateExposure=template, selectSources=selectSources,
        templateSources=sources if templateSources else None)


def _truthRows(stars, truth):
    """Row of the truth table nearest each star (all within 1 pixel)."""
    distance, index = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([stars["x"], stars["y"]]))
    assert np.all(distance < 1.0)
    return truth[index]


def _isExtreme(truthRows):
    return np.asarray(truthRows["id"]) % 3 == 0


@pytest.fixture(scope="module")
def flagsOff(field):
    return _run(field)


@pytest.fixture(scope="module")
def flagsOn(field):
    return _run(field, *BOTH_FLAGS)


def test_every_selected_variable_is_a_control_star_and_none_a_kernel_star(field, flagsOff,
                                                                           flagsOn):
    truth = field[2]
    before = flagsOff.kernelSources
    variableBefore = _truthRows(before, truth)["kind"] == "variable"
    stars = flagsOn.kernelSources
    reason = np.asarray(stars["controlReason"])
    assert sorted(stars["id"][reason == "variable"]) == sorted(before["id"][variableBefore])
    assert flagsOn.metadata["nControlVariable"] == variableBefore.sum() >= 5
    assert np.all(stars["isControl"][reason == "variable"])
    kinds = _truthRows(stars, truth)["kind"]
    assert not np.any(kinds[reason != "variable"] == "variable")
    # The same stars in both runs: the flag moves stars, it does not add or lose any.
    assert sorted(stars["id"]) == sorted(before["id"])


def test_variables_leave_residuals_that_kernel_and_random_control_stars_do_not(flagsOn):
    metadata = flagsOn.metadata
    assert metadata["variableSampleResidualRms"] > 1.5
    assert metadata["variableSampleResidualRms"] > 10 * metadata["kernelSampleResidualRms"]
    assert metadata["variableSampleResidualRms"] > 10 * metadata["controlSampleResidualRms"]


def test_extreme_colour_stars_are_control_stars_and_never_kernel_stars(field, flagsOff,
                                                                       flagsOn):
    truth = field[2]
    before = flagsOff.kernelSources
    beforeTruth = _truthRows(before, truth)
    wanted = _isExtreme(beforeTruth) & (beforeTruth["kind"] != "variable")
    stars = flagsOn.kernelSources
    reason = np.asarray(stars["controlReason"])
    assert sorted(stars["id"][reason == "dcr"]) == sorted(before["id"][wanted])
    assert flagsOn.metadata["nControlDcr"] == wanted.sum() >= 5
    extreme = _isExtreme(_truthRows(stars, truth))
    assert not np.any(extreme[~stars["isControl"]])
    assert not np.any(extreme[reason == "sample"])
    # No DCR in the simulation: extreme-colour stars subtract like any other star.
    assert flagsOn.metadata["dcrSampleResidualRms"] < 1.0


def test_flags_off_give_the_selector_stars_split_as_before(field, flagsOff):
    from diffim_star_selectors import ObjectSizeStarSelector, ObjectSizeStarSelectorConfig

    science, template, _, _, _ = field
    result = _run(field, templateSources=False)
    selected = ObjectSizeStarSelector().diffim_sourceSelector(
        sources=None, exposure=sanitize(science, "science"),
        config=ObjectSizeStarSelectorConfig(), references=None)
    kernel, control = splitControlSample(selected, 5, 10)
    stars = result.kernelSources
    isKernel = ~np.asarray(stars["isControl"])
    for name in ("id", "x", "y"):
        assert np.array_equal(stars[name][isKernel], kernel[name])
        assert np.array_equal(stars[name][~isKernel], control[name])
    assert set(stars["controlReason"][~isKernel]) == {"sample"}
    assert set(stars["controlReason"][isKernel]) == {"none"}
    assert "nControlDcr" not in result.metadata and "nControlVariable" not in result.metadata


def test_flags_on_without_flagged_stars_change_nothing(field, tmp_path):
    science, template, _, _, path = field
    neutral = Table.read(path)
    neutral["g_r"] = 0.5
    neutral["variable"] = False
    neutralPath = tmp_path / "neutral.fits"
    neutral.write(neutralPath)
    off = _run(field, templateSources=False)
    on = _run(field, *BOTH_FLAGS, templateSources=False, refCatalog=neutralPath)
    assert on.metadata["nControlDcr"] == on.metadata["nControlVariable"] == 0
    for name in ("id", "x", "y", "isControl", "controlReason"):
        assert np.array_equal(on.kernelSources[name], off.kernelSources[name])
    assert np.array_equal(on.subtractedExposure.image, off.subtractedExposure.image,
                          equal_nan=True)


def test_catalog_selector_colour_range_and_variable_flag_define_the_controls(field):
    """Without task-level columns, the catalog selector's colour range and variable flag
    are used: its kernel stars are ordinary, the controls those it would exclude."""
    from diffim_star_selectors import SourceMeasurementConfig, measureSources

    science, _, truth, _, _ = field
    sources = measureSources(sanitize(science, "science"), SourceMeasurementConfig())
    result = _run(field, "kernelSourcesFromRef=true", "sourceSelector=catalog",
                  "sourceSelector.magField=mag", "sourceSelector.magMax=18",
                  "sourceSelector.colorField=g_r", f"sourceSelector.colorMin={BLUE}",
                  f"sourceSelector.colorMax={RED}", "sourceSelector.variableField=variable",
                  "doSelectDcrCatalog=true", "doSelectVariableCatalog=true",
                  selectSources=sources)
    stars = result.kernelSources
    reason = np.asarray(stars["controlReason"])
    rows = _truthRows(stars, truth)
    isVariable, extreme = rows["kind"] == "variable", _isExtreme(rows)
    assert np.array_equal(reason == "variable", isVariable)
    assert np.array_equal(reason == "dcr", extreme & ~isVariable)
    color = np.asarray(stars["g_r"])
    assert np.all((color[reason == "dcr"] < BLUE) | (color[reason == "dcr"] > RED))
    assert result.metadata["nControlDcr"] >= 5 and result.metadata["nControlVariable"] >= 5
    assert result.metadata["nKernelSources"] >= 8


@pytest.mark.parametrize("overrides, message", [
    (["doSelectDcrCatalog=true", "dcrColorField=g_r", "dcrColorMax=1.5"],
     r"^doSelectDcrCatalog=True .* astrometer\.refCatalog is not set"),
    (["doSelectVariableCatalog=true", "variableField=variable"],
     r"^doSelectVariableCatalog=True .* astrometer\.refCatalog is not set"),
])
def test_missing_reference_catalog_is_a_one_line_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_pipeline(PIPELINES / "default.yaml", ["doSelectSources=true", *overrides])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("overrides, message", [
    (["doSelectVariableCatalog=true", "variableField=variable"],
     "doSelectVariableCatalog=True requires doSelectSources=True"),
    (["doSelectSources=true", "doSelectDcrCatalog=true", "dcrColorMax=1.5"],
     "set dcrColorField"),
    (["doSelectSources=true", "doSelectDcrCatalog=true", "dcrColorField=g_r"],
     "needs a colour limit"),
    (["doSelectSources=true", "doSelectDcrCatalog=true", "dcrColorField=g_r",
      "dcrColorMin=1.5", "dcrColorMax=0.5"], "dcrColorMax must be at least dcrColorMin"),
    (["doSelectSources=true", "doSelectVariableCatalog=true"], "set variableField"),
    (["subtract=zogy", "doDecorrelation=false", "doSelectVariableCatalog=true"],
     "zogy does not allow doSelectVariableCatalog=True"),
])
def test_incomplete_control_settings_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(PIPELINES / "default.yaml", ["astrometer.refCatalog=ref.fits", *overrides])


def test_missing_colour_column_names_it(field):
    with pytest.raises(InputError, match=r"lack column\(s\) u_g .* they have: .*g_r"):
        _run(field, "doSelectDcrCatalog=true", "dcrColorField=u_g", "dcrColorMax=1.0")


def test_reasons_use_the_closest_match_and_put_variability_first():
    stars = Table({"id": [1, 2, 3, 4, 5]})
    matches = Table({"id": [1, 1, 2, 3, 4],
                     "distance": [0.6, 0.1, 0.2, 0.3, 0.4],
                     "g_r": MaskedColumn([0.5, 2.0, -0.3, 2.0, 0.5],
                                         mask=[False, False, False, False, True]),
                     "variable": MaskedColumn([True, False, False, True, True],
                                              mask=[False, False, False, False, True])})
    reasons = referenceControlReasons(stars, matches, ("g_r", 0.0, 1.5), "variable")
    assert list(reasons) == ["dcr", "dcr", "variable", "none", "none"]
    assert list(referenceControlReasons(stars, matches, ("g_r", None, 1.5), None)) == \
        ["dcr", "none", "dcr", "none", "none"]
