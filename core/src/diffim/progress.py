"""Progress display for long steps: a bar on a terminal, silence otherwise."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar when stderr is a terminal.

    Parameters
    ----------
    iterable : iterable
        The work items.
    desc : str
        Short description shown before the bar.
    total : int, optional
        Number of items, if ``iterable`` has no length.
    """
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=not sys.stderr.isatty())
