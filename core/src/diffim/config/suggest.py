"""'Did you mean' suggestions for misspelt names."""
from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Longest list of names (characters) an error message gives in full.
MAX_LISTING = 60


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or an empty string.

    Case is ignored when comparing, so ``AL`` suggests ``al``.
    """
    folded: dict[str, str] = {}
    for candidate in candidates:
        folded.setdefault(str(candidate).lower(), str(candidate))
    close = difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


def closest(name: str, candidates: Iterable[str]) -> list[str]:
    """``candidates`` ordered by likeness to ``name`` (case ignored), most alike first."""
    def likeness(candidate: str) -> float:
        return difflib.SequenceMatcher(None, str(name).lower(), candidate.lower()).ratio()

    return sorted((str(c) for c in candidates), key=lambda c: (-likeness(c), c))


def listing(name: str, candidates: Iterable[str], width: int = MAX_LISTING) -> str:
    """``candidates`` joined by commas, in their order when that fits in ``width``
    characters; otherwise as many of those closest to ``name`` as fit, and how many
    there are."""
    candidates = [str(c) for c in candidates]
    whole = ", ".join(candidates)
    if len(whole) <= width:
        return whole
    shown: list[str] = []
    for candidate in closest(name, candidates):
        if shown and len(", ".join([*shown, candidate])) > width:
            break
        shown.append(candidate)
    return f"{', '.join(shown)} (the closest of {len(candidates)})"


def suggestOrList(name: str, candidates: Iterable[str], what: str) -> str:
    """``"; did you mean 'x'?"``, or, when nothing is close, ``"; <what> are: a, b, ..."``.

    A list longer than :data:`MAX_LISTING` characters gives its entries closest to
    ``name``, so that the message stays one short line.
    """
    candidates = list(candidates)
    close = suggest(name, candidates)
    if close or not candidates:
        return close
    return f"; {what} are: {listing(name, candidates)}"
