"""Fake plugin distributions for the tests: written into a folder that goes on sys.path."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stevedore import ExtensionManager

from diffim import plugins


def writeDistribution(site: Path, name: str, version: str, entryPoints: str,
                      modules: dict[str, str] | None = None) -> None:
    """Write a distribution into ``site``: its modules and its dist-info.

    Parameters
    ----------
    site : pathlib.Path
        The folder (a stand-in for site-packages).
    name, version : str
        Distribution name and version.
    entryPoints : str
        The ``entry_points.txt`` text.
    modules : dict, optional
        Module name -> source of the modules it installs.
    """
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entryPoints)


def installSite(monkeypatch: pytest.MonkeyPatch, site: Path,
                modules: tuple[str, ...]) -> Iterator[None]:
    """Put ``site`` on sys.path for one test, with the plugin caches cleared around it.

    A generator for a fixture to ``yield from``; the ``modules`` imported from the
    site are forgotten afterwards.
    """
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})  # stevedore's process cache
    plugins.load.cache_clear()
    yield
    plugins.load.cache_clear()
    for module in modules:
        sys.modules.pop(module, None)
