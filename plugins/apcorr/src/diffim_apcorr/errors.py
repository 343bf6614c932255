"""The error raised when an image has too few stars to measure its aperture correction."""
from __future__ import annotations

from diffim.errors import DiffimError


class InsufficientApCorrStarsError(DiffimError):
    """Too few bright, isolated, unsaturated stars to fit the aperture correction.

    Parameters
    ----------
    n : int
        Stars usable for the fit.
    required : int
        Stars the fit needs (its number of terms plus ``minDegreesOfFreedom``).
    """

    def __init__(self, n: int, required: int):
        self.n = n
        self.required = required
        super().__init__(f"only {n} stars usable for the aperture correction, at least "
                         f"{required} needed; lower applyApCorr.fitOrder or "
                         f"minSignalToNoise, or set doApCorr=False")
