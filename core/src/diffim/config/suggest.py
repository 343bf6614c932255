"""'Did you mean' suggestions for misspelt names."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def suggestOrList(name: str, candidates: Iterable[str], what: str) -> str:
    """``"; did you mean 'x'?"``, or, when nothing is close, ``"; <what> are: a, b, ..."``."""
    candidates = list(candidates)
    close = suggest(name, candidates)
    if close or not candidates:
        return close
    return f"; {what} are: {', '.join(candidates)}"
