"""Make input exposures safe for every plugin before any of them sees them."""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .exposure import Exposure


def sanitize(exposure: Exposure, role: str) -> Exposure:
    """Return a clean copy of ``exposure`` (the input is not modified).

    Non-finite image pixels and non-positive or non-finite variance become
    NO_DATA (image 0, variance +inf would poison FFTs, so it is set to the
    median variance), and the planes every plugin expects exist.

    Parameters
    ----------
    exposure : Exposure
        Input exposure.
    role : str
        ``"science"`` or ``"template"``, for error messages.
    """
    if exposure.variance is None:
        raise InputError(f"{role} exposure has no variance plane: give one (or GAIN/RDNOISE "
                         "keys when reading a plain FITS image)")
    if exposure.psf is None:
        why = exposure.metadata.get("PSFNOTE")
        raise InputError(f"{role} exposure has no PSF model" + (f" ({why})" if why else
                                                                  ": attach one to the exposure"))
    clean = exposure.clone()
    for name in ("NO_DATA", "EDGE", "DETECTED", "DETECTED_NEGATIVE", "SAT", "BAD"):
        clean.maskPlanes.add(name)
    bad = ~np.isfinite(clean.image) | ~np.isfinite(clean.variance) | (clean.variance <= 0)
    if bad.all():
        raise InputError(f"{role} exposure has no valid pixels (all NaN, or variance <= 0)")
    if bad.any():
        clean.setMask(bad, "NO_DATA")
        clean.image[bad] = 0.0
        clean.variance[bad] = np.median(clean.variance[~bad])
    return clean
