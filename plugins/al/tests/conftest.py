"""Shared synthetic pairs and subtraction results (built once per session: they are slow).

The helpers live in ``al_testing`` (a unique name: the suite runs in pytest's importlib
mode with every plugin's tests together); this directory is put on ``sys.path`` for it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from al_testing import makePair, subtract  # noqa: E402


@pytest.fixture(scope="session")
def pair():
    """512x512, template sigma 1.6, science 1.3x wider, flux ratio 1.2, 4 transients,
    3 variable stars."""
    return makePair(512, nStars=200, seed=1, nVariables=3)


@pytest.fixture(scope="session")
def result(pair):
    science, template, _ = pair
    return subtract(science, template)


@pytest.fixture(scope="session")
def swappedPair():
    """Like ``pair`` but the template has the wider PSF (sigma 2.08 vs 1.6)."""
    return makePair(512, nStars=200, seed=2, templateSigma=2.08, scienceSigma=1.6)


@pytest.fixture(scope="session")
def scienceConvolved(swappedPair):
    science, template, _ = swappedPair
    return subtract(science, template, convolveTemplate=False)


@pytest.fixture(scope="session")
def varyingPair():
    """1024x1024 with the science sigma varying by 20% across the image in x."""
    return makePair(1024, nStars=500, seed=3, scienceSigmaGradient=0.2, fluxRange=(5e3, 3e5))
