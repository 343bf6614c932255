"""Paths the tests use: the repository, its pipelines and the project's shared folder.

The shared folder (``../shared`` beside the repository: the LSST seed document and the
real image pairs) exists on the project's machines only; tests that read it skip with
:data:`needs_seed` or :data:`needs_real_data` in a bare clone.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "pipelines"
SHARED = REPO.parent / "shared"
REAL_DATA = SHARED / "data" / "real"
SEED = SHARED / "seed" / "ImageDifferenceTask.txt"

needs_seed = pytest.mark.skipif(not SEED.is_file(),
                                reason=f"the LSST seed document {SEED} is not present")
needs_real_data = pytest.mark.skipif(not REAL_DATA.is_dir(),
                                     reason=f"the real pairs folder {REAL_DATA} is not present")


def shownAs(path: Path | str) -> tuple[str, ...]:
    """How an error line may name ``path``: whole, or cut to its last folders to fit."""
    from diffim.messages import shortenPaths
    return tuple(dict.fromkeys((str(path), shortenPaths(str(path), 2),
                                shortenPaths(str(path), 1))))


def startsWithPath(line: str, path: Path | str, rest: str = "") -> bool:
    """Whether ``line`` starts with ``path`` (in any form :func:`shownAs` gives) + ``rest``."""
    return any(line.startswith(shown + rest) for shown in shownAs(path))
