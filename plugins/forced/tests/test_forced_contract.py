"""The plugin honours diffim's forcedMeasurement contract and runs through pluggy."""
import numpy as np
import pytest
from astropy.table import Table

from diffim import Exposure, GaussianPsf, plugins
from diffim.errors import InputError
from diffim_forced import FORCED_SCHEMA, PsfForcedMeasurement, PsfForcedMeasurementConfig


def test_entry_point_loads_the_checked_class():
    assert plugins.load("forcedMeasurement", "psf") is PsfForcedMeasurement
    assert plugins.distribution("forcedMeasurement", "psf") == "diffim-forced"


def test_called_through_pluggy_adds_columns_and_leaves_inputs_alone(makePointSources, catalog):
    rng = np.random.default_rng(5)
    science = makePointSources((64, 64), [20.3, 40.6], [30.2, 25.7], [5000.0, 800.0], 2.0,
                               10.0, rng)
    before = science.image.copy()
    sources = catalog([40.6, 20.3], [25.7, 30.2])
    manager = plugins.new_manager()
    manager.register(PsfForcedMeasurement())
    config = PsfForcedMeasurementConfig(doSubtractBackground=False)
    config.freeze()
    out = manager.hook.diffim_forcedMeasurement(diaSources=sources, science=science,
                                                config=config)
    assert isinstance(out, Table) and out is not sources
    assert sources.colnames == ["id", "x", "y", "psfFlux"]
    assert out.colnames == sources.colnames + [spec.name for spec in FORCED_SCHEMA]
    assert list(out["id"]) == [1, 2] and list(out["psfFlux"]) == list(sources["psfFlux"])
    np.testing.assert_array_equal(science.image, before)
    flux = out["ip_diffim_forced_PsfFlux_instFlux"]
    error = out["ip_diffim_forced_PsfFlux_instFluxErr"]
    assert abs(flux[0] - 800.0) < 4 * error[0] and abs(flux[1] - 5000.0) < 4 * error[1]
    for spec in FORCED_SCHEMA:
        assert out[spec.name].dtype == np.dtype(spec.dtype)
        assert out[spec.name].unit == spec.unit and out[spec.name].description
    assert not out["ip_diffim_forced_PsfFlux_flag"].any()


def test_empty_catalog_gets_the_columns(makePointSources, catalog):
    science = makePointSources((32, 32), [], [], [], 1.5, 1.0, np.random.default_rng(1))
    out = PsfForcedMeasurement().diffim_forcedMeasurement(catalog([], []), science,
                                                          PsfForcedMeasurementConfig())
    assert len(out) == 0 and all(spec.name in out.colnames for spec in FORCED_SCHEMA)


def test_user_errors_are_one_line_diffim_errors(makePointSources, catalog):
    science = makePointSources((32, 32), [], [], [], 1.5, 1.0, np.random.default_rng(1))
    plugin = PsfForcedMeasurement()
    with pytest.raises(InputError, match="columns x and y"):
        plugin.diffim_forcedMeasurement(Table({"x": [1.0]}), science,
                                        PsfForcedMeasurementConfig())
    # a plane the exposure lacks counts as empty
    absent = plugin.diffim_forcedMeasurement(catalog([5.0], [5.0]), science,
                                             PsfForcedMeasurementConfig(badMaskPlanes=["NOPE"]))
    none = plugin.diffim_forcedMeasurement(catalog([5.0], [5.0]), science,
                                           PsfForcedMeasurementConfig(badMaskPlanes=[]))
    assert absent["ip_diffim_forced_PsfFlux_instFlux"][0] == \
        none["ip_diffim_forced_PsfFlux_instFlux"][0]
    noPsf = Exposure(image=science.image, variance=science.variance)
    with pytest.raises(InputError, match="science.psf is None"):
        plugin.diffim_forcedMeasurement(catalog([5.0], [5.0]), noPsf,
                                        PsfForcedMeasurementConfig())
    noVariance = Exposure(image=science.image, psf=GaussianPsf(1.5))
    with pytest.raises(InputError, match="variance"):
        plugin.diffim_forcedMeasurement(catalog([5.0], [5.0]), noVariance,
                                        PsfForcedMeasurementConfig())
