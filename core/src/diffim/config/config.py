"""The Config base class: a set of typed fields with history, validation and freezing."""
from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ConfigError
from .fields import ConfigField, Field
from .slot import Slot, SlotField, slot_fields
from .suggest import suggest, suggestOrList


class Config:
    """Base of every config: the task's and each plugin's.

    Subclasses declare :class:`~diffim.config.fields.Field` attributes and may
    override :meth:`setDefaults` and :meth:`validate`. Values are checked when
    set; :meth:`freeze` makes the config read-only. Every assignment is recorded
    in :attr:`history` with where it came from.
    """

    _fields: ClassVar[dict[str, Field]] = {}
    _nested: ClassVar[dict[str, ConfigField]] = {}
    _slots: ClassVar[dict[str, SlotField]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        nested: dict[str, ConfigField] = {}
        for base in reversed(cls.__mro__):
            for key, value in vars(base).items():
                if isinstance(value, Field):
                    fields[key] = value
                elif isinstance(value, ConfigField):
                    nested[key] = value
        cls._fields = fields
        cls._nested = nested
        cls._slots = slot_fields(cls)

    def __init__(self, **overrides: Any) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_frozen", False)
        object.__setattr__(self, "history", {})
        for name, fld in self._fields.items():
            self._set(name, fld.default, "default")
        for name, nested in self._nested.items():
            self._values[name] = nested.configClass()
        for name, slot in self._slots.items():
            self._values[name] = Slot(slot.slot, slot.default)
        object.__setattr__(self, "_assignSource", "setDefaults")
        self.setDefaults()
        object.__setattr__(self, "_assignSource", "python")
        for name, value in overrides.items():
            self.set(name, value, source="constructor")

    def setDefaults(self) -> None:
        """Override field defaults for this config class (called once at construction)."""

    def validate(self) -> None:
        """Check relations between fields; raise :class:`ConfigError` if illegal."""

    # --- access -----------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}"
                             f"{suggest(name, self._fields)}")

    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value, source=self._assignSource)

    def set(self, name: str, value: Any, source: str = "python") -> None:
        """Set field ``name`` to ``value``, recording ``source`` in the history.

        A nested config or a slot takes a mapping (a slot also a plugin name).
        """
        if name in self._nested or name in self._slots:
            if self._frozen:
                raise ConfigError(f"config is frozen: cannot set {name!r}")
            if name in self._nested and not isinstance(value, dict):
                raise ConfigError(f"{name!r} expects a mapping of its fields, got "
                                  f"{type(value).__name__}")
            self._values[name].update(value, source)
            return
        if name not in self._fields:
            known = [*self._fields, *self._nested, *self._slots]
            raise ConfigError(f"unknown field {name!r} in {type(self).__name__}"
                              f"{suggestOrList(name, known, 'its fields')}")
        self._set(name, value, source)

    def setPath(self, path: str, value: Any, source: str) -> None:
        """Set a dotted field path such as ``detection.thresholdValue``.

        LSST's ``detection:thresholdValue`` spelling is accepted too.
        """
        head, _, rest = path.replace(":", ".").partition(".")
        if not rest:
            self.set(head, value, source)
            return
        if head in self._slots:
            slot = self._values[head]
            if "." in rest:
                raise ConfigError(f"{path!r}: slot fields are one level deep ({head}.FIELD)")
            slot.set(rest, value, source)
        elif head in self._nested:
            self._values[head].setPath(rest, value, source)
        elif head in self._fields:
            raise ConfigError(f"{path!r}: {head!r} is a plain field, not a slot or nested "
                              f"config; write {head}=VALUE")
        else:
            known = [*self._slots, *self._nested]
            raise ConfigError(f"{path!r}: unknown slot {head!r}"
                              f"{suggestOrList(head, known, 'slots and nested configs')}")

    def slots(self) -> dict[str, Slot]:
        """The slot selections of this config, by slot name."""
        return {name: self._values[name] for name in self._slots}

    def _set(self, name: str, value: Any, source: str) -> None:
        if self._frozen:
            raise ConfigError(f"config is frozen: cannot set {name!r}")
        value = self._fields[name].coerce(value)
        self._values[name] = value
        self.history.setdefault(name, []).append((value, source))

    def fieldNames(self) -> list[str]:
        return list(self._fields)

    def isDefault(self, name: str) -> bool:
        """True when field ``name`` holds its default value (after setDefaults)."""
        history = self.history.get(name, [])
        defaults = [value for value, source in history if source in ("default", "setDefaults")]
        return bool(defaults) and self._values[name] == defaults[-1]

    # --- lifecycle --------------------------------------------------------
    def freeze(self) -> None:
        """Make the config read-only (nested configs and slots too)."""
        for name in [*self._nested, *self._slots]:
            self._values[name].freeze()
        object.__setattr__(self, "_frozen", True)

    @property
    def frozen(self) -> bool:
        return self._frozen

    # --- serialisation ----------------------------------------------------
    def toDict(self) -> dict[str, Any]:
        """Plain dict of every field (lists as lists), for YAML dumping."""
        out = {}
        for name, value in self._values.items():
            if isinstance(value, (Config, Slot)):
                value = value.toDict()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    def update(self, values: dict[str, Any], source: str) -> None:
        """Set several fields from a mapping (e.g. a YAML block)."""
        for name, value in values.items():
            self.set(name, value, source=source)

    def copy(self) -> "Config":
        """An unfrozen copy with the same values and history."""
        new = type(self).__new__(type(self))
        object.__setattr__(new, "_frozen", False)
        object.__setattr__(new, "_assignSource", "python")
        object.__setattr__(new, "history", {k: list(v) for k, v in self.history.items()})
        values = {k: v.copy() if isinstance(v, (Config, Slot)) else v
                  for k, v in self._values.items()}
        object.__setattr__(new, "_values", values)
        return new

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.toDict() == self.toDict()

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({body})"
