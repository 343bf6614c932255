"""The error raised when the template cannot be registered to the science image."""
from __future__ import annotations

from diffim.errors import DiffimError


class InsufficientMatchesError(DiffimError):
    """Too few stars are common to the science image and the template.

    Parameters
    ----------
    nMatches : int
        Matched stars found (after outlier rejection).
    required : int
        Fewest accepted (``minMatches``).
    nScience, nTemplate : int
        Usable stars detected in each exposure.
    """

    def __init__(self, nMatches: int, required: int, nScience: int, nTemplate: int):
        self.nMatches = nMatches
        self.required = required
        self.nScience = nScience
        self.nTemplate = nTemplate
        super().__init__(
            f"registration matched {nMatches} stars between the science image ({nScience} usable "
            f"stars) and the template ({nTemplate} usable stars), at least {required} are needed: "
            f"check that the images overlap, or lower register.minMatches or register.minSnr")
