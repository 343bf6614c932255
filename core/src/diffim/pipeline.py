"""YAML pipelines: choose a plugin per slot and override configs, with imports.

A pipeline file is a mapping. Its keys are ``description``, ``imports`` (files
applied first, relative to the importing file), ``parameters`` (named values
that other values reference as ``${name}``), any ImageDifferenceConfig field,
``connections``, and any slot. A slot takes a plugin name or a mapping
``{plugin: NAME, FIELD: VALUE, ...}``. Files are read with ``yaml.safe_load``
only.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .config.suggest import suggest
from .errors import ConfigError, PluginError
from .shipped_pipelines import resolvePipeline
from .task_config import FLAG_SLOTS, ImageDifferenceConfig

RESERVED = ("description", "imports", "parameters")
_PARAMETER = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_UNKNOWN_TAG = re.compile(r"could not determine a constructor for the tag '([^']*)'")


def _refusedTag(exc: yaml.YAMLError) -> str | None:
    """The tag a safe loader refused (e.g. a Python object tag), or None for other errors."""
    match = _UNKNOWN_TAG.search(getattr(exc, "problem", None) or "")
    return match.group(1).replace("tag:yaml.org,2002:", "!!") if match else None


def _override(text: str) -> str:
    """How an override appears in messages: ``-c TEXT``, quoted if it holds a line break
    or another unprintable character (messages are one line)."""
    return f"-c {text}" if text.isprintable() else f"-c {text!r}"


def _located(exc: ConfigError | PluginError, where: str) -> ConfigError | PluginError:
    """The same error with ``where`` (a file or an override) in front of its message."""
    exc.args = (f"{where}: {exc}",)
    return exc


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: pipeline file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML text file (byte {exc.object[exc.start]:#04x} at "
                          f"offset {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read pipeline file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        tag = _refusedTag(exc)
        if tag:
            problem = (f"tag {tag} is refused: pipelines are plain YAML (yaml.safe_load); "
                       "write the plain value")
        else:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline must be a mapping of keys to values, got "
                          f"{type(data).__name__}")
    return data


def _substitute(value: Any, parameters: dict[str, Any], path: Path) -> Any:
    if isinstance(value, str):
        match = _PARAMETER.match(value)
        if match:
            name = match.group(1)
            if name not in parameters:
                raise ConfigError(f"{path}: unknown parameter ${{{name}}}"
                                  f"{suggest(name, parameters)}")
            return parameters[name]
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, parameters, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, parameters, path) for v in value]
    return value


def _collect(path: Path, chain: tuple[Path, ...]) -> tuple[list[tuple[Path, dict]], dict]:
    """Return the (file, body) blocks to apply in order, and the merged parameters."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ConfigError(f"{path}: import cycle ({cycle})")
    data = _read_yaml(path)
    imports = data.get("imports") or []
    if isinstance(imports, str):
        imports = [imports]
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ConfigError(f"{path}: 'imports' must be a list of file names")
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ConfigError(f"{path}: 'parameters' must be a mapping of names to values")
    blocks: list[tuple[Path, dict]] = []
    merged: dict[str, Any] = {}
    for name in imports:
        sub_blocks, sub_params = _collect(path.parent / name, (*chain, path))
        blocks.extend(sub_blocks)
        merged.update(sub_params)
    merged.update(parameters)
    body = {k: v for k, v in data.items() if k not in RESERVED}
    blocks.append((path, body))
    return blocks, merged


def _apply_block(config: ImageDifferenceConfig, body: dict, source: str) -> None:
    known = [*config.fieldNames(), *config._nested, *config._slots]
    for key, value in body.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key {key!r}; expected a task field, a slot "
                              f"or one of {', '.join(RESERVED)}{suggest(str(key), known)}")
        try:
            config.set(key, value, source=source)
        except (ConfigError, PluginError) as exc:
            raise _located(exc, source) from None


def parse_override(text: str) -> tuple[str, Any]:
    """Split a ``-c`` override ``path=value`` (value parsed as a YAML scalar or list).

    A value that is not valid YAML is taken as the literal string; one with a
    tag a safe loader refuses (such as ``!!python/name:...``) is an error.
    """
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"override {text!r}: expected FIELD=VALUE, e.g. "
                          "detection.thresholdValue=5.0")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        tag = _refusedTag(exc)
        if tag:
            raise ConfigError(f"{_override(text)}: YAML tag {tag} is refused: values are "
                              "plain YAML (read with yaml.safe_load); write the plain value"
                              ) from None
        value = raw
    return path.strip(), value


def _validatePlugins(config: ImageDifferenceConfig) -> None:
    """Run the own checks of each plugin the run will call (its ``do*`` flag is on; the
    astrometer when kernel stars come from the reference catalog)."""
    used = [name for flag, name in FLAG_SLOTS.items() if getattr(config, flag)]
    if config.kernelSourcesFromRef and config.doSelectSources:
        used.append("astrometer")
    for name in dict.fromkeys(used):
        slot = getattr(config, name)
        if not slot.available:
            continue
        try:
            slot.config.validate()
        except ConfigError as exc:
            raise ConfigError(f"{name} ({slot.name}): {exc}") from None


def load_pipeline(path: str | Path, overrides: Iterable[str] = (),
                  overrideFiles: Iterable[str | Path] = (), freeze: bool = True
                  ) -> ImageDifferenceConfig:
    """Build the config a pipeline file describes.

    Parameters
    ----------
    path : str or Path
        The pipeline YAML file, or the name of a pipeline shipped with diffim
        (:func:`diffim.shipped_pipelines.resolvePipeline`).
    overrides : iterable of str
        ``FIELD=VALUE`` overrides (``slot.FIELD`` or LSST's ``slot:FIELD``), applied last.
    overrideFiles : iterable of path
        Files in pipeline format applied after the pipeline, before ``overrides``.
    freeze : bool
        Validate the result (the task's rules and every selected plugin's own checks)
        and freeze it.

    Returns
    -------
    ImageDifferenceConfig
    """
    config = ImageDifferenceConfig()
    blocks, parameters = _collect(resolvePipeline(path), ())
    for file, body in blocks:
        _apply_block(config, _substitute(body, parameters, file), str(file))
    for extra in overrideFiles:
        extra_blocks, extra_params = _collect(Path(extra), ())
        for file, body in extra_blocks:
            _apply_block(config, _substitute(body, {**parameters, **extra_params}, file),
                         str(file))
    for text in overrides:
        key, value = parse_override(text)
        try:
            config.setPath(key, value, source=f"-c {text}")
        except (ConfigError, PluginError) as exc:
            raise _located(exc, _override(text)) from None
    if freeze:
        config.validate()
        _validatePlugins(config)
        config.freeze()
    return config


def _comment(text: str, indent: str) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) > 88 - len(indent):
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "".join(f"{indent}# {ln}\n" for ln in lines)


def _value_yaml(key: str, value: Any, indent: str) -> str:
    text = yaml.safe_dump({key: value}, default_flow_style=True, sort_keys=False, width=1000)
    return indent + text.strip().removeprefix("{").removesuffix("}") + "\n"


def dump_config(config: ImageDifferenceConfig) -> str:
    """The fully resolved config as commented YAML (a valid pipeline file)."""
    out = ["# Fully resolved diffim config; every field with its documentation.\n"]
    cls = type(config)
    for name in config.fieldNames():
        out.append(_comment(cls._fields[name].doc, ""))
        out.append(_value_yaml(name, getattr(config, name), ""))
    for name, nested in cls._nested.items():
        out.append(_comment(nested.doc, ""))
        out.append(f"{name}:\n")
        sub = getattr(config, name)
        for field in sub.fieldNames():
            out.append(_comment(type(sub)._fields[field].doc, "  "))
            out.append(_value_yaml(field, getattr(sub, field), "  "))
    for name, slot_field in cls._slots.items():
        slot = getattr(config, name)
        out.append(_comment(slot_field.doc, ""))
        if slot.config is None:
            out.append(f"# {name}: {slot.name}  (default implementation; not installed)\n")
            continue
        out.append(f"{name}:\n")
        out.append(_value_yaml("plugin", slot.name, "  "))
        for field in slot.config.fieldNames():
            out.append(_comment(type(slot.config)._fields[field].doc, "  "))
            out.append(_value_yaml(field, getattr(slot.config, field), "  "))
    return "".join(out)
