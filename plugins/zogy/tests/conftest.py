"""Shared simulated pairs and subtractions (built once per session).

The helpers live in ``zogy_testing`` (a unique name: the suite runs in pytest's
importlib mode with every plugin's tests together); this directory is put on
``sys.path`` for it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from zogy_testing import simulated, subtract  # noqa: E402


@pytest.fixture(scope="session")
def worsePair():
    """1024², science seeing 1.3x the template's, 50 transients, 10 variable stars."""
    return simulated(1024, seeingRatio=1.3, seed=11, nVariables=10)


@pytest.fixture(scope="session")
def worseResult(worsePair):
    science, template, _ = worsePair
    return subtract(science, template)
