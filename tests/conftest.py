"""Shared fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest

from diffim.fits_io import writeExposure
from diffim.testing.simulate import simulatePair


@pytest.fixture
def write_yaml(tmp_path):
    """Write a YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def pair(tmp_path_factory) -> dict[str, Path]:
    """A 256 x 256 simulated science/template pair (5 transients) written as diffim FITS
    files once per session; modules that need other images define their own ``pair``."""
    folder = tmp_path_factory.mktemp("pair")
    science, template, _ = simulatePair(size=256, seed=4, nTransients=5)
    return {"science": writeExposure(science, folder / "science.fits"),
            "template": writeExposure(template, folder / "template.fits")}
