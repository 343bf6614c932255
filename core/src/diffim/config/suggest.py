"""'Did you mean' suggestions for misspelt names."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or an empty string.

    Case is ignored when comparing, so ``AL`` suggests ``al``.
    """
    folded: dict[str, str] = {}
    for candidate in candidates:
        folded.setdefault(str(candidate).lower(), str(candidate))
    close = difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


def suggestOrList(name: str, candidates: Iterable[str], what: str) -> str:
    """``"; did you mean 'x'?"``, or, when nothing is close, ``"; <what> are: a, b, ..."``."""
    candidates = list(candidates)
    close = suggest(name, candidates)
    if close or not candidates:
        return close
    return f"; {what} are: {', '.join(candidates)}"
