"""Both plugins honour diffim's measurement-slot contract and run through pluggy."""
import math

import numpy as np
import pytest
from astropy.table import Table

from diffim import Exposure, GaussianPsf, plugins
from diffim.errors import ConfigError, InputError
from diffim_measurement import (DIPOLE_SCHEMA, DipoleMeasurement, DipoleMeasurementConfig,
                                PsfMeasurement, PsfMeasurementConfig, baseSchema)


@pytest.fixture(scope="module")
def field():
    from diffim.testing.plugins import detectSources
    rng = np.random.default_rng(5)
    image = rng.normal(0.0, 10.0, (128, 128))
    yy, xx = np.mgrid[:128, :128]
    for x, y, f in ((40.3, 50.6, 3000.0), (90.0, 80.0, -2500.0), (60.0, 100.0, 2000.0),
                    (63.0, 100.0, -2000.0)):
        image += f * np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / 4.0) / (8.0 * np.pi)
    exposure = Exposure(image=image, variance=np.full(image.shape, 100.0), psf=GaussianPsf(2.0))
    result = detectSources(exposure)
    return exposure, result


def test_entry_points_load_the_checked_classes():
    assert plugins.load("measurement", "dipole") is DipoleMeasurement
    assert plugins.load("measurement", "psf") is PsfMeasurement
    assert plugins.distribution("measurement", "dipole") == "diffim-measurement"


def test_dipole_defaults_are_lsst_values():
    config = DipoleMeasurementConfig()
    assert config.fitAllDiaSources is False
    assert config.maxSeparation == 5.0
    assert config.relWeight == 0.5
    assert config.tolerance == 1e-7
    assert config.fitBackground == 1
    assert config.fitSeparateNegParams is False
    assert config.minSn == pytest.approx(math.sqrt(2.0) * 5.0)
    assert config.maxFluxRatio == 0.65
    assert config.badMaskPlanes == ("NO_DATA",)
    with pytest.raises(ConfigError):
        DipoleMeasurementConfig(fitBackground=3)
    with pytest.raises(ConfigError):
        DipoleMeasurementConfig(maxFluxRatio=0.4)
    with pytest.raises(ConfigError):
        PsfMeasurementConfig(apertureRadii=[3.0, -1.0])


@pytest.mark.parametrize("cls", [DipoleMeasurement, PsfMeasurement])
def test_called_through_pluggy_adds_columns_and_keeps_rows(field, cls):
    exposure, detection = field
    manager = plugins.new_manager()
    manager.register(cls())
    config = cls.ConfigClass()
    config.freeze()
    before = detection.diaSources.copy()
    out = manager.hook.diffim_measurement(
        diaSources=detection.diaSources, footprints=detection.footprints, difference=exposure,
        science=exposure, matchedTemplate=None, config=config, doDipoleFitting=True)
    assert isinstance(out, Table) and len(out) == len(before) == 3
    for name in before.colnames:                       # input untouched, copied unchanged
        assert np.array_equal(out[name], before[name], equal_nan=True)
        assert np.array_equal(detection.diaSources[name], before[name], equal_nan=True)
    specs = baseSchema(config.apertureRadii) + (DIPOLE_SCHEMA if cls is DipoleMeasurement
                                                else ())
    assert list(out.colnames) == list(before.colnames) + [spec.name for spec in specs]
    for spec in specs:
        assert out[spec.name].dtype == np.dtype(spec.dtype)
        assert out[spec.name].unit == spec.unit and out[spec.name].description
    assert "base_CircularApertureFlux_4_5_instFlux" in out.colnames
    # the dipole (the merged +/- pair) is fitted, and only it
    fitted = ~out["ip_diffim_DipoleFit_flag"] if cls is DipoleMeasurement else None
    if fitted is not None:
        assert list(fitted) == list(out["isDipoleCandidate"])


def test_no_dipole_columns_without_dipole_fitting(field):
    exposure, detection = field
    out = DipoleMeasurement().diffim_measurement(detection.diaSources, detection.footprints,
                                                 exposure, exposure, None,
                                                 DipoleMeasurementConfig(), False)
    assert not any(name.startswith("ip_diffim_DipoleFit") for name in out.colnames)
    assert "base_PsfFlux_instFlux" in out.colnames


def test_empty_catalog_gets_every_column(field):
    exposure, detection = field
    empty = detection.diaSources[:0]
    out = DipoleMeasurement().diffim_measurement(empty, np.zeros_like(detection.footprints),
                                                 exposure, exposure, None,
                                                 DipoleMeasurementConfig(), True)
    assert len(out) == 0 and "ip_diffim_DipoleFit_flag" in out.colnames


def test_user_errors_name_what_is_wrong(field):
    exposure, detection = field
    plugin = DipoleMeasurement()
    with pytest.raises(InputError, match="x and y"):
        plugin.diffim_measurement(detection.diaSources[["id"]], detection.footprints, exposure,
                                  exposure, None, DipoleMeasurementConfig(), True)
    with pytest.raises(InputError, match="labels go up to"):
        plugin.diffim_measurement(detection.diaSources[:1], detection.footprints, exposure,
                                  exposure, None, DipoleMeasurementConfig(), True)
    # a plane the difference lacks counts as empty
    absent = plugin.diffim_measurement(detection.diaSources, detection.footprints, exposure,
                                       exposure, None,
                                       DipoleMeasurementConfig(badMaskPlanes=["NO_DATA", "NOPE"]),
                                       True)
    present = plugin.diffim_measurement(detection.diaSources, detection.footprints, exposure,
                                        exposure, None, DipoleMeasurementConfig(), True)
    np.testing.assert_array_equal(absent["base_PsfFlux_instFlux"],
                                  present["base_PsfFlux_instFlux"])

    noPsf = Exposure(image=exposure.image, variance=exposure.variance)
    with pytest.raises(InputError, match="science exposure's PSF"):
        plugin.diffim_measurement(detection.diaSources, detection.footprints, exposure, noPsf,
                                  None, DipoleMeasurementConfig(), True)
    # a difference-only fit does not need the science PSF
    out = plugin.diffim_measurement(detection.diaSources, detection.footprints, exposure, noPsf,
                                    None, DipoleMeasurementConfig(relWeight=0.0), True)
    assert (~out["ip_diffim_DipoleFit_flag"]).sum() == 1
