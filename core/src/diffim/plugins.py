"""Plugin discovery (stevedore, by entry point) and the pluggy plugin manager.

An implementation of slot ``S`` named ``N`` is an entry point ``N`` in the
group ``diffim.S`` pointing at a class. The class has a ``ConfigClass``
attribute and implements the hook ``diffim_S`` (see :mod:`diffim.hookspecs`);
a ``subtract`` class may declare its :class:`~diffim.results.SubtractionTraits`
as the attribute ``traits``.
"""
from __future__ import annotations

import functools
import importlib.metadata as metadata
import logging
from dataclasses import dataclass

import pluggy
from stevedore import ExtensionManager

from . import hookspecs
from .config.config import Config
from .config.suggest import listing, suggest
from .errors import PluginError
from .results import SubtractionTraits

GROUP_PREFIX = "diffim."
OBSERVER_GROUP = "diffim.observers"
SLOTS: tuple[str, ...] = tuple(hookspecs.SLOT_HOOKS)

log = logging.getLogger("diffim.plugins")


@dataclass(frozen=True)
class PluginInfo:
    """One installed implementation: where it is declared and by whom."""

    slot: str
    name: str
    target: str
    distribution: str | None
    version: str | None


def group(slot: str) -> str:
    """Entry-point group of ``slot``."""
    return GROUP_PREFIX + slot


def installed(slot: str) -> dict[str, PluginInfo]:
    """Implementations of ``slot`` declared by installed distributions, by name."""
    found = {}
    for ep in metadata.entry_points(group=group(slot)):
        dist = getattr(ep, "dist", None)
        found[ep.name] = PluginInfo(slot, ep.name, ep.value, _owner(ep),
                                    dist.version if dist else None)
    return dict(sorted(found.items()))


def broken(slot: str) -> dict[str, str]:
    """Implementations of ``slot`` whose entry point fails to load, with the reason."""
    failures: dict[str, str] = {}

    def record(_manager, entry_point, exc):
        failures[entry_point.name] = f"{type(exc).__name__}: {exc}"

    ExtensionManager(group(slot), invoke_on_load=False, on_load_failure_callback=record)
    return failures


def _unknown(slot: str, name: str) -> PluginError:
    names = list(installed(slot))
    known = listing(name, names) if names else "none"
    return PluginError(slot, name, f"not installed; installed {slot} plugins: {known}"
                       f"{suggest(name, names)}")


@functools.lru_cache(maxsize=None)
def load(slot: str, name: str) -> type:
    """Load and check the implementation class ``name`` of ``slot``.

    Raises
    ------
    PluginError
        If the slot is unknown, the name is not installed or is declared by more
        than one distribution, the entry point fails to import, or the class does
        not honour the contract.
    """
    if slot not in SLOTS:
        raise PluginError(slot, name, f"unknown slot {slot!r}; slots are: {', '.join(SLOTS)}"
                          f"{suggest(slot, SLOTS)}")
    declared = list(metadata.entry_points(group=group(slot), name=name))
    if not declared or name not in installed(slot):
        raise _unknown(slot, name)
    owners = [_owner(ep) for ep in declared]
    if len(declared) > 1:
        raise PluginError(slot, name, f"declared by {len(declared)} distributions "
                          f"({', '.join(o or '?' for o in owners)}); uninstall all but one")
    entryPoint, owner = declared[0], owners[0]
    try:
        cls = entryPoint.load()
    except Exception as exc:
        raise PluginError(slot, name, f"fails to load: {_describe(exc)}", owner) from exc
    _check_contract(slot, name, cls, owner)
    return cls


def _owner(entryPoint: metadata.EntryPoint) -> str | None:
    """Name of the distribution that declares ``entryPoint`` (None if unknown).

    Entry points that stevedore hands back carry no distribution; it is looked up.
    """
    dist = getattr(entryPoint, "dist", None)
    if dist is None:
        same = [ep for ep in metadata.entry_points(group=entryPoint.group, name=entryPoint.name)
                if ep.value == entryPoint.value]
        dist = getattr(same[0], "dist", None) if same else None
    return dist.metadata["Name"] if dist else None


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line (its lines joined by `` / ``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {' / '.join(lines)}"


def _check_contract(slot: str, name: str, cls, distribution: str | None) -> None:
    hook = hookspecs.SLOT_HOOKS[slot]
    if not isinstance(cls, type):
        raise PluginError(slot, name, f"entry point must name a class, got {cls!r}", distribution)
    config_class = getattr(cls, "ConfigClass", None)
    if not (isinstance(config_class, type) and issubclass(config_class, Config)):
        raise PluginError(slot, name, "class needs a ConfigClass attribute, a subclass of "
                          "diffim.config.Config", distribution)
    if not callable(getattr(cls, hook, None)):
        raise PluginError(slot, name, f"class does not implement the hook {hook}", distribution)
    others = [h for s, h in hookspecs.SLOT_HOOKS.items() if s != slot and hasattr(cls, h)]
    if others:
        raise PluginError(slot, name, f"class implements hooks of other slots "
                          f"({', '.join(others)}); register one class per slot", distribution)
    traits = getattr(cls, "traits", None)
    if slot == "subtract" and traits is not None and not isinstance(traits, SubtractionTraits):
        raise PluginError(slot, name, f"class attribute traits is a {type(traits).__name__}; "
                          "expected a diffim.results.SubtractionTraits", distribution)


def subtractionTraits(name: str) -> SubtractionTraits:
    """What the ``subtract`` implementation ``name`` declares it produces (its ``traits``).

    A class that declares nothing gets the defaults of
    :class:`~diffim.results.SubtractionTraits`.

    Raises
    ------
    PluginError
        As :func:`load`.
    """
    return getattr(load("subtract", name), "traits", None) or SubtractionTraits()


def distribution(slot: str, name: str) -> str | None:
    """Distribution that provides ``name`` in ``slot`` (None if unknown)."""
    info = installed(slot).get(name)
    return info.distribution if info else None


def new_manager() -> pluggy.PluginManager:
    """A pluggy manager holding diffim's hook specifications."""
    pm = pluggy.PluginManager("diffim")
    pm.add_hookspecs(hookspecs)
    return pm


def observers() -> list[object]:
    """Instances of every installed observer plugin (group ``diffim.observers``).

    An observer that fails to load or to instantiate is skipped with a logged
    warning naming it and its distribution: observers only listen, so the run goes on.
    """
    def skip(_manager, entryPoint, exc):
        owner = _owner(entryPoint)
        log.warning("observer plugin %r%s skipped: entry point %s fails to load: %s",
                    entryPoint.name, f" (from {owner})" if owner else "", entryPoint.value,
                    _describe(exc))

    manager = ExtensionManager(OBSERVER_GROUP, invoke_on_load=True,
                               on_load_failure_callback=skip)
    return [ext.obj for ext in manager.extensions]
