"""A simulated 512² pair and a repository holding its template as 3×3 overlapping patches.

The helpers live in ``get_template_testing`` (a unique name: the suite runs in pytest's
importlib mode with every plugin's tests together); this directory is put on ``sys.path``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from get_template_testing import writePatches  # noqa: E402

from diffim.testing.simulate import simulatePair  # noqa: E402
from diffim_get_template import GetCoaddAsTemplateConfig  # noqa: E402

#: Side of the simulated images (pixels) and the science-to-template offset (pixels).
SIZE, OFFSET = 512, (0.3, 0.2)


@pytest.fixture(scope="session")
def pair():
    """``(science, template, truth)`` of a 512² simulated pair in band r (do not modify)."""
    return simulatePair(size=SIZE, offset=OFFSET, seed=3)


@pytest.fixture(scope="session")
def repository(pair, tmp_path_factory) -> Path:
    """A repository with the template as deepCoadd/r/patch_<i>_<j>.fits (3×3, 20 px strips)."""
    root = tmp_path_factory.mktemp("repository")
    writePatches(pair[1], root / "deepCoadd" / "r", nx=3, ny=3, overlap=10)
    return root


@pytest.fixture
def config() -> GetCoaddAsTemplateConfig:
    """The default config, frozen."""
    frozen = GetCoaddAsTemplateConfig()
    frozen.freeze()
    return frozen


@pytest.fixture
def readsCounted(monkeypatch) -> list[Path]:
    """The paths whose pixels the plugin reads, in order (``readExposure`` is wrapped)."""
    import diffim_get_template.assemble as assemble

    paths: list[Path] = []
    original = assemble.readExposure

    def counting(path, *args, **kwargs):
        paths.append(Path(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(assemble, "readExposure", counting)
    return paths
