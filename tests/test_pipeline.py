"""YAML pipelines: imports, parameters, overrides, errors, and the dumped config."""
from __future__ import annotations

import pytest
import yaml

from diffim.errors import ConfigError, PluginError
from diffim.pipeline import dump_config, load_pipeline, parse_override

from paths import PIPELINES


def test_default_pipeline_loads_and_freezes():
    config = load_pipeline(PIPELINES / "default.yaml")
    assert config.frozen
    assert config.subtract.name == "al"
    assert config.detection.thresholdValue == 5.0


def test_command_line_override_wins(tmp_path):
    config = load_pipeline(PIPELINES / "default.yaml",
                           overrides=["detection.thresholdValue=6.5", "subtract:kernelSizeMax=31"])
    assert config.detection.thresholdValue == 6.5
    assert config.subtract.kernelSizeMax == 31


def test_import_then_override(write_yaml):
    write_yaml(f"imports: [{PIPELINES / 'default.yaml'}]\n"
               "parameters: {threshold: 7.0}\n", "base.yaml")
    child = write_yaml("imports: [base.yaml]\n"
                       "detection: {thresholdValue: '${threshold}'}\n"
                       "growFootprint: 3\n", "child.yaml")
    config = load_pipeline(child)
    assert config.detection.thresholdValue == 7.0
    assert config.growFootprint == 3
    assert config.convolveTemplate == "auto"  # from default.yaml


def test_third_party_plugin_selected_by_name(write_yaml):
    path = write_yaml(f"imports: [{PIPELINES / 'default.yaml'}]\n"
                      "subtract: gaussianMatch\n")
    config = load_pipeline(path)
    assert config.subtract.name == "gaussianMatch"
    assert config.subtract.fitFluxScale is True


def test_unknown_plugin_lists_installed_and_suggests(write_yaml):
    path = write_yaml("subtract: gausianMatch\n")
    with pytest.raises(PluginError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert "\n" not in message
    assert "installed subtract plugins: al, gaussianMatch" in message
    assert "did you mean 'gaussianMatch'" in message


@pytest.mark.parametrize("text,pattern", [
    ("subtract: [al\n", r"malformed YAML at line 2"),
    ("- a\n- b\n", r"must be a mapping"),
    ("doMerge: !!python/object/apply:os.system ['true']\n", r"malformed YAML"),
    ("detecton: threshold\n", r"unknown key 'detecton'.*did you mean 'detection'"),
    ("detection: {thresholdValu: 3}\n", r"did you mean 'thresholdValue'"),
    ("growFootprint: two\n", r"growFootprint.*expects int"),
    ("imports: [missing.yaml]\n", r"missing.yaml: pipeline file not found"),
    ("detection: {thresholdValue: '${nope}'}\n", r"unknown parameter"),
])
def test_malformed_pipelines_give_one_line_errors(write_yaml, text, pattern):
    path = write_yaml(text)
    with pytest.raises((ConfigError, PluginError)) as info:
        load_pipeline(path)
    assert "\n" not in str(info.value)
    assert pytest.importorskip("re").search(pattern, str(info.value)), str(info.value)


def test_import_cycle_is_reported(write_yaml):
    write_yaml("imports: [b.yaml]\n", "a.yaml")
    path = write_yaml("imports: [a.yaml]\n", "b.yaml")
    with pytest.raises(ConfigError, match="import cycle"):
        load_pipeline(path)


@pytest.mark.parametrize("text,expected", [("a.b=5", ("a.b", 5)), ("x=5.0", ("x", 5.0)),
                                           ("x=true", ("x", True)), ("x=[1, 2]", ("x", [1, 2]))])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


def test_override_without_equals_is_refused():
    with pytest.raises(ConfigError, match="expected FIELD=VALUE"):
        parse_override("detection.thresholdValue")


def test_dumped_config_has_every_field_and_reloads(tmp_path):
    config = load_pipeline(PIPELINES / "default.yaml", overrides=["growFootprint=4"])
    text = dump_config(config)
    data = yaml.safe_load(text)
    for name in config.fieldNames():
        assert name in data
    assert data["detection"]["plugin"] == "threshold"
    assert "thresholdValue" in data["detection"]
    dumped = tmp_path / "resolved.yaml"
    dumped.write_text(text)
    again = load_pipeline(dumped)
    assert again.toDict() == config.toDict()
