"""Shared pairs and registrations (built once per session: detection and warping cost seconds).

The helpers live in ``register_testing`` (a unique name: the suite runs in pytest's
importlib mode with every plugin's tests together); this directory is put on ``sys.path``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from register_testing import damagedWcs, simulatedPair  # noqa: E402

from diffim_register import SipRegisterConfig  # noqa: E402

#: Real pairs copied into the shared data folder (absent outside the project's machines).
REAL_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def config() -> SipRegisterConfig:
    """The default, frozen config."""
    frozen = SipRegisterConfig()
    frozen.freeze()
    return frozen


@pytest.fixture(scope="session")
def pair():
    """1024x1024 simulated pair (science, template, truth), both with a true TAN WCS."""
    return simulatedPair()


@pytest.fixture(scope="session")
def damagedTemplate(pair):
    """The template of ``pair`` with a WCS 1 arcsec off and rotated by 0.5 degree."""
    template = pair[1].clone()
    template.wcs = damagedWcs(template.wcs, 1.0, 0.5)
    return template


@pytest.fixture(scope="session")
def realData() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip("shared/data/real is not present")
    return REAL_DATA
