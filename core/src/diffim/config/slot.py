"""Slot fields: choose a plugin by name for a retargetable subtask and hold its config."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, PluginError
from .fields import Declared

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config


class Slot:
    """The selected implementation of one slot and its config.

    Field access is forwarded to the implementation's config, so that
    ``config.detection.thresholdValue`` reads as in LSST. ``name`` is the
    selected implementation; ``config`` is None when it is not installed
    (using the slot then fails with an error listing what is installed).

    Parameters
    ----------
    slot : str
        Slot name, e.g. ``"detection"``.
    name : str
        Implementation name, e.g. ``"threshold"``.
    """

    def __init__(self, slot: str, name: str, source: str = "default") -> None:
        object.__setattr__(self, "slot", slot)
        object.__setattr__(self, "_frozen", False)
        object.__setattr__(self, "nameHistory", [])
        self.select(name, source)

    def select(self, name: str, source: str = "python") -> None:
        """Choose implementation ``name`` (resets its config to the plugin's defaults)."""
        from .. import plugins

        if self._frozen:
            raise ConfigError(f"config is frozen: cannot change slot {self.slot!r}")
        config = None
        error = None
        try:
            config = plugins.load(self.slot, name).ConfigClass()
        except PluginError as exc:
            error = exc
            if source != "default":
                raise
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "loadError", error)
        self.nameHistory.append((name, source))

    @property
    def available(self) -> bool:
        """True when the selected implementation is installed and loads."""
        return self.config is not None

    def require(self, why: str) -> "Config":
        """Return the config, or raise the load error explaining ``why`` the slot is needed."""
        if self.config is None:
            raise ConfigError(f"{why} needs the {self.slot} slot, but {self.loadError}")
        return self.config

    def implementation(self):
        """Instantiate the selected implementation (its hook receives ``config`` per call)."""
        from .. import plugins

        self.require(f"using {self.slot}")
        return plugins.load(self.slot, self.name)()

    def set(self, field: str, value: Any, source: str = "python") -> None:
        """Set a field of the implementation's config."""
        if field in ("plugin", "name"):
            self.select(str(value), source)
            return
        config = self.require(f"setting {self.slot}.{field}")
        try:
            config.set(field, value, source)
        except ConfigError as exc:
            raise ConfigError(f"{self.slot} ({self.name}): {exc}") from None

    def __getattr__(self, name: str) -> Any:
        config = object.__getattribute__(self, "config")
        if config is None:
            raise AttributeError(f"slot {self.slot!r}: {self.loadError}")
        return getattr(config, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)
        if self.config is not None:
            self.config.freeze()

    def toDict(self) -> dict[str, Any]:
        """``{"plugin": name, **fields}`` for YAML dumping."""
        out: dict[str, Any] = {"plugin": self.name}
        if self.config is not None:
            out.update(self.config.toDict())
        return out

    def update(self, values: dict[str, Any] | str, source: str) -> None:
        """Apply a YAML block: a plugin name, or ``{"plugin": name, field: value, ...}``."""
        if isinstance(values, str):
            self.select(values, source)
            return
        if not isinstance(values, dict):
            raise ConfigError(f"slot {self.slot!r} expects a plugin name or a mapping, got "
                              f"{type(values).__name__}")
        values = dict(values)
        if "plugin" in values:
            self.select(str(values.pop("plugin")), source)
        for field, value in values.items():
            self.set(field, value, source)

    def copy(self) -> "Slot":
        new = Slot.__new__(Slot)
        object.__setattr__(new, "slot", self.slot)
        object.__setattr__(new, "_frozen", False)
        object.__setattr__(new, "nameHistory", list(self.nameHistory))
        object.__setattr__(new, "name", self.name)
        object.__setattr__(new, "config", None if self.config is None else self.config.copy())
        object.__setattr__(new, "loadError", self.loadError)
        return new

    def __repr__(self) -> str:
        return f"Slot({self.slot}={self.name!r}, config={self.config!r})"


class SlotField(Declared):
    """Declares a retargetable subtask on a task config.

    Parameters
    ----------
    doc : str
        What the subtask does.
    slot : str
        Slot name (entry-point group ``diffim.<slot>``).
    default : str
        Name of the default implementation.
    """

    def __init__(self, doc: str, slot: str, default: str) -> None:
        self.doc, self.slot, self.default = doc, slot, default
        self.name = slot


def slot_fields(config_class) -> dict[str, SlotField]:
    """The SlotField declarations of a config class, in declaration order."""
    out = {}
    for klass in reversed(config_class.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, SlotField):
                out[key] = value
    return out

