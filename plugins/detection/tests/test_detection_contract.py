"""The plugin honours diffim's slot contract and runs through pluggy."""
import numpy as np

from diffim import Exposure, GaussianPsf, plugins
from diffim.results import DetectionResult
from diffim_detection import DIA_SOURCE_SCHEMA, ThresholdDetection, ThresholdDetectionConfig


def test_entry_point_loads_the_checked_class():
    assert plugins.load("detection", "threshold") is ThresholdDetection
    assert plugins.distribution("detection", "threshold") == "diffim-detection"


def test_defaults_are_the_image_difference_task_values():
    config = ThresholdDetectionConfig()
    assert config.thresholdValue == 5.0
    assert config.thresholdType == "pixel_stdev"
    assert config.thresholdPolarity == "both"
    assert config.includeThresholdMultiplier == 1.0
    assert config.minPixels == 1
    assert config.nSigmaToGrow == 2.4
    assert config.isotropicGrow is False and config.combinedGrow is True
    assert config.nSigmaForKernel == 7.0
    assert config.statsMask == ("BAD", "SAT", "EDGE", "NO_DATA")


def test_called_through_pluggy_with_a_frozen_config():
    manager = plugins.new_manager()
    manager.register(ThresholdDetection())
    config = ThresholdDetectionConfig(thresholdValue=50.0)
    config.freeze()
    image = np.zeros((40, 40), np.float32)
    image[20, 20] = 100.0
    exposure = Exposure(image=image, variance=np.ones_like(image), psf=GaussianPsf(1.5))
    result = manager.hook.diffim_detection(exposure=exposure, config=config, doSmooth=False,
                                           doMerge=True, growFootprint=2)
    assert isinstance(result, DetectionResult)
    assert list(result.diaSources.colnames) == [spec.name for spec in DIA_SOURCE_SCHEMA]
    assert len(result.diaSources) == 1 and result.diaSources["peak_x"][0] == 20
    assert result.metadata["nSources"] == 1


def test_empty_catalog_has_the_full_schema():
    image = np.zeros((40, 40), np.float32)
    exposure = Exposure(image=image, variance=np.ones_like(image), psf=GaussianPsf(1.5))
    result = ThresholdDetection().diffim_detection(exposure, ThresholdDetectionConfig(), True,
                                                   True, 2)
    assert len(result.diaSources) == 0
    for spec in DIA_SOURCE_SCHEMA:
        column = result.diaSources[spec.name]
        assert column.dtype == np.dtype(spec.dtype) and column.description == spec.description
        assert column.unit == spec.unit
    assert not result.footprints.any()
