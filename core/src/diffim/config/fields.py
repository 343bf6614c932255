"""Typed config fields: type, default, documentation and validation.

Modelled on LSST pex_config: a field is declared on a :class:`Config`
subclass, knows its type and default, checks every value assigned to it and
documents it for the user.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError

_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}


class Declared:
    """Something declared on a Config class: it learns its name and reads its value."""

    name = "?"

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return instance._values[self.name]


class Field(Declared):
    """A typed config value.

    Parameters
    ----------
    doc : str
        What the field means; shown by ``diffim config`` (the user's documentation).
    dtype : type
        One of bool, int, float, str.
    default : object
        Default value (None only when ``optional``).
    optional : bool
        Whether None is allowed.
    check : callable, optional
        ``check(value) -> bool``; a False answer rejects the value.
    deprecated : str, optional
        Why the field is deprecated; setting it logs a warning.
    """

    def __init__(self, doc: str, dtype: type, default: Any = None, optional: bool = False,
                 check: Callable[[Any], bool] | None = None, deprecated: str | None = None):
        if dtype not in _TYPE_NAMES:
            raise TypeError(f"unsupported field type {dtype!r}")
        self.doc = doc
        self.dtype = dtype
        self.optional = optional
        self.check = check
        self.deprecated = deprecated
        self.default = None if default is None and optional else self.coerce(default)

    @property
    def typeName(self) -> str:
        return _TYPE_NAMES[self.dtype]

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to the field type, or raise ConfigError."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"field {self.name!r} may not be None (expected {self.typeName})")
        value = self._convert(value, self.dtype)
        self._check(value)
        return value

    def _convert(self, value: Any, dtype: type) -> Any:
        if dtype is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
        elif dtype is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                try:
                    return int(value)
                except ValueError:
                    pass
        elif dtype is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
        elif dtype is str and isinstance(value, str):
            return value
        raise ConfigError(f"field {self.name!r} expects {_TYPE_NAMES[dtype]}, got "
                          f"{type(value).__name__} {value!r}")

    def _check(self, value: Any) -> None:
        if self.check is not None and not self.check(value):
            raise ConfigError(f"field {self.name!r}: value {value!r} fails its check "
                              f"({self.doc.split('.')[0]})")

    def describe(self) -> str:
        """One-line type description for documentation."""
        return self.typeName


class RangeField(Field):
    """A number restricted to ``[min, max]`` (either bound may be None)."""

    def __init__(self, doc: str, dtype: type, default: Any = None, min: float | None = None,
                 max: float | None = None, inclusiveMin: bool = True, inclusiveMax: bool = True,
                 **kwargs):
        self.min, self.max = min, max
        self.inclusiveMin, self.inclusiveMax = inclusiveMin, inclusiveMax
        super().__init__(doc, dtype, default, **kwargs)

    def _check(self, value: Any) -> None:
        low_ok = self.min is None or (value >= self.min if self.inclusiveMin else value > self.min)
        high_ok = self.max is None or (value <= self.max if self.inclusiveMax else value < self.max)
        if not (low_ok and high_ok):
            raise ConfigError(f"field {self.name!r}: {value!r} is outside {self.describe()}")
        super()._check(value)

    def describe(self) -> str:
        lo = "(-inf" if self.min is None else ("[" if self.inclusiveMin else "(") + f"{self.min}"
        hi = "inf)" if self.max is None else f"{self.max}" + ("]" if self.inclusiveMax else ")")
        return f"{self.typeName} in {lo}, {hi}"


class ChoiceField(Field):
    """A value from a fixed set; ``allowed`` maps each value to its meaning."""

    def __init__(self, doc: str, dtype: type, allowed: dict[Any, str], default: Any = None,
                 **kwargs):
        self.allowed = dict(allowed)
        super().__init__(doc, dtype, default, **kwargs)

    def _check(self, value: Any) -> None:
        if value not in self.allowed:
            choices = ", ".join(repr(v) for v in self.allowed)
            raise ConfigError(f"field {self.name!r}: {value!r} is not one of {choices}")
        super()._check(value)

    def describe(self) -> str:
        return f"{self.typeName}, one of {', '.join(repr(v) for v in self.allowed)}"


class AutoField(Field):
    """A value of ``dtype`` that may also be ``"auto"`` (decided at run time)."""

    AUTO = "auto"

    def coerce(self, value: Any) -> Any:
        if isinstance(value, str) and value.lower() == self.AUTO:
            return self.AUTO
        return super().coerce(value)

    def describe(self) -> str:
        return f"{self.typeName} or 'auto'"


class ListField(Field):
    """A list of values of one type (a tuple, so it cannot change under a frozen config)."""

    def __init__(self, doc: str, dtype: type, default: Sequence | None = None,
                 minLength: int | None = None, maxLength: int | None = None,
                 itemCheck: Callable[[Any], bool] | None = None, **kwargs):
        self.minLength, self.maxLength, self.itemCheck = minLength, maxLength, itemCheck
        super().__init__(doc, dtype, tuple(default or ()), **kwargs)

    def coerce(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"field {self.name!r} expects a list of {self.typeName}, "
                              f"got {type(value).__name__} {value!r}")
        items = tuple(self._convert(v, self.dtype) for v in value)
        if self.minLength is not None and len(items) < self.minLength:
            raise ConfigError(f"field {self.name!r} needs at least {self.minLength} items")
        if self.maxLength is not None and len(items) > self.maxLength:
            raise ConfigError(f"field {self.name!r} takes at most {self.maxLength} items")
        if self.itemCheck is not None:
            for item in items:
                if not self.itemCheck(item):
                    raise ConfigError(f"field {self.name!r}: item {item!r} fails its check")
        self._check(items)
        return items

    def describe(self) -> str:
        return f"list of {self.typeName}"


class ConfigField(Declared):
    """A nested config (one level of structure inside a config).

    Parameters
    ----------
    doc : str
        What the nested config holds.
    configClass : type
        A :class:`diffim.config.Config` subclass.
    """

    def __init__(self, doc: str, configClass: type) -> None:
        self.doc = doc
        self.configClass = configClass
