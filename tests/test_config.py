"""The config system: every seed field, typed values, validation rules, freezing."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diffim.config import Config, Field, ListField, RangeField
from diffim.errors import ConfigError
from diffim.task_config import ImageDifferenceConfig
from paths import SEED, needs_seed


def _seed_entries(section: str, end: str) -> dict[str, str]:
    """Parse the seed's 'name / (blank) / Default|Data type / value' blocks of one section."""
    text = SEED.read_text().split(section, 1)[1].split(end, 1)[0]
    lines = [ln.strip() for ln in text.splitlines()]
    return {lines[i - 2]: lines[i + 1] for i, line in enumerate(lines)
            if line in ("Default", "Data type") and i >= 2 and lines[i - 1] == ""}


def _seed_fields() -> dict[str, str]:
    return _seed_entries("Configuration fields", "Python API reference")


def _seed_subtasks() -> list[str]:
    return list(_seed_entries("Retargetable subtasks", "Configuration fields"))


@needs_seed
def test_seed_is_parsed():
    assert len(_seed_fields()) == 40
    assert len(_seed_subtasks()) == 12
    assert "subtract" in _seed_subtasks() and "detection" in _seed_subtasks()


@needs_seed
def test_every_seed_field_exists_with_the_seed_default():
    config = ImageDifferenceConfig()
    for name, default in _seed_fields().items():
        if name == "connections":
            assert config.connections is not None
            continue
        value = getattr(config, name)
        expected = {"True": True, "False": False}.get(default)
        if expected is None:
            expected = type(value)(default.strip("'"))
        assert value == expected, name


def test_every_retargetable_subtask_is_a_slot():
    config = ImageDifferenceConfig()
    slots = config.slots()
    for name in ["applyApCorr", "astrometer", "decorrelate", "detection", "forcedMeasurement",
                 "getTemplate", "measurement", "register", "scaleVariance", "skySources",
                 "sourceSelector", "subtract"]:
        assert name in slots
    assert config.subtract.name == "al"


@needs_seed
def test_every_seed_subtask_is_a_slot():
    assert set(_seed_subtasks()) <= set(ImageDifferenceConfig().slots())


def test_al_effective_defaults_are_imagedifference_overrides():
    config = ImageDifferenceConfig()
    assert config.subtract.fitForBackground is True
    assert config.subtract.spatialKernelOrder == 1
    assert config.subtract.spatialBgOrder == 2
    assert config.detection.thresholdValue == 5.0
    assert config.detection.thresholdPolarity == "both"
    assert config.detection.thresholdType == "pixel_stdev"


def test_unknown_field_suggests_the_closest():
    config = ImageDifferenceConfig()
    with pytest.raises(ConfigError, match=r"did you mean 'doDetection'"):
        config.set("doDetectoin", True)


@pytest.mark.parametrize("name,value", [("doMerge", "maybe"), ("growFootprint", 2.5),
                                        ("growFootprint", -1), ("requiredTemplateFraction", 1.5),
                                        ("coaddName", 3), ("controlStepSize", 0)])
def test_wrong_type_or_range_is_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        ImageDifferenceConfig().set(name, value)


def _runnable() -> ImageDifferenceConfig:
    """A config whose slots are all installed (steps without plugins switched off)."""
    config = ImageDifferenceConfig()
    for flag in ("doDecorrelation", "doMeasurement", "doForcedMeasurement", "doApCorr"):
        config.set(flag, False)
    return config


def test_runnable_config_validates():
    _runnable().validate()


@pytest.mark.parametrize("changes,message", [
    ({"doSubtract": False, "doDetection": False, "doMerge": False}, "nothing to do"),
    ({"doDetection": False}, "doMerge=True requires doDetection"),
    ({"doAddMetrics": True}, "doAddMetrics=True requires doSelectSources"),
    ({"doSubtract": False, "doDetection": False}, "nothing to do"),
])
def test_lsst_validation_rules(changes, message):
    config = _runnable()
    for key, value in changes.items():
        config.set(key, value)
    with pytest.raises(ConfigError, match=message):
        config.validate()


def test_scaling_both_variances_warns(caplog):
    config = _runnable()
    config.doScaleTemplateVariance = True
    config.validate()
    assert "doScaleDiffimVariance and doScaleTemplateVariance are both True" in caplog.text


def test_convolve_template_accepts_auto():
    config = ImageDifferenceConfig()
    config.set("convolveTemplate", "auto")
    assert config.convolveTemplate == "auto"
    config.set("convolveTemplate", "false")
    assert config.convolveTemplate is False
    with pytest.raises(ConfigError, match="convolveTemplate"):
        config.set("convolveTemplate", "sometimes")


def test_flag_without_installed_slot_names_the_slot(monkeypatch):
    from diffim import plugins

    real = plugins.installed
    monkeypatch.setattr(plugins, "installed",
                        lambda slot: {} if slot == "decorrelate" else real(slot))
    plugins.load.cache_clear()
    try:
        config = ImageDifferenceConfig()
        with pytest.raises(ConfigError, match=r"doDecorrelation=True needs the decorrelate slot, "
                                              r"but decorrelate plugin 'al': not installed"):
            config.validate()
    finally:
        plugins.load.cache_clear()


def test_frozen_config_refuses_changes():
    config = ImageDifferenceConfig()
    config.freeze()
    with pytest.raises(ConfigError, match="frozen"):
        config.doMerge = False
    with pytest.raises(ConfigError, match="frozen"):
        config.detection.thresholdValue = 3.0


def test_history_records_sources():
    config = ImageDifferenceConfig()
    config.set("growFootprint", 4, source="-c growFootprint=4")
    assert config.history["growFootprint"][-1] == (4, "-c growFootprint=4")
    assert not config.isDefault("growFootprint")
    assert config.isDefault("doMerge")


def test_copy_is_independent():
    config = ImageDifferenceConfig()
    other = config.copy()
    other.detection.thresholdValue = 7.0
    assert config.detection.thresholdValue == 5.0


class _Sample(Config):
    number = RangeField("a number", float, 1.0, min=0.0, max=10.0)
    count = Field("a count", int, 3)
    flag = Field("a flag", bool, False)
    names = ListField("names", str, ["a"])


@given(st.floats(min_value=0.0, max_value=10.0, allow_nan=False))
def test_range_field_accepts_in_range(value):
    sample = _Sample()
    sample.number = value
    assert sample.number == value


@given(st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                 st.floats(min_value=10.000001, allow_nan=False)))
def test_range_field_rejects_out_of_range(value):
    with pytest.raises(ConfigError, match=re.escape("'number'")):
        _Sample().number = value


@given(st.one_of(st.text(), st.lists(st.integers()), st.floats(allow_nan=True)))
def test_int_field_rejects_non_integers(value):
    try:
        int(value) if isinstance(value, str) else None
        if isinstance(value, str):
            return  # a numeric string is a valid command-line spelling
    except ValueError:
        pass
    with pytest.raises(ConfigError):
        _Sample().count = value


@given(st.lists(st.text(max_size=5), max_size=5))
def test_list_field_round_trips(values):
    sample = _Sample()
    sample.names = values
    assert sample.toDict()["names"] == values
