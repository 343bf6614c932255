"""Paths the tests use: the repository, its pipelines and the shared real data."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "pipelines"
REAL_DATA = REPO.parent / "shared" / "data" / "real"
