"""Make input exposures safe for every plugin before any of them sees them."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

from .errors import InputError
from .exposure import Exposure

#: Mask planes whose pixels hold no usable data.
UNUSABLE_PLANES = ("NO_DATA", "BAD", "SAT")


def invalidPixels(exposure: Exposure) -> np.ndarray:
    """Pixels whose value cannot be used: image NaN or infinite, variance not finite and > 0.

    Parameters
    ----------
    exposure : Exposure
        An exposure with a variance plane.

    Returns
    -------
    numpy.ndarray
        Boolean ``[y, x]`` array, True at the invalid pixels.
    """
    variance = exposure.variance
    return ~np.isfinite(exposure.image) | ~np.isfinite(variance) | ~(variance > 0)


def checkUsable(exposure: Exposure, role: str) -> None:
    """Raise InputError unless ``exposure`` can be processed at all.

    It needs a variance plane, a PSF model and at least one pixel that is
    valid (:func:`invalidPixels`) and not masked NO_DATA, BAD or SAT.

    Parameters
    ----------
    exposure : Exposure
        Input exposure (not modified).
    role : str
        ``"science"``, ``"template"`` or ``"difference"``, for error messages.
    """
    if exposure.variance is None:
        raise InputError(f"{role} exposure has no variance plane: give one (or GAIN/RDNOISE "
                         "keys when reading a plain FITS image)")
    if exposure.psf is None:
        why = exposure.metadata.get("PSFNOTE")
        raise InputError(f"{role} exposure has no PSF model" + (f" ({why})" if why else
                                                                  ": attach one to the exposure"))
    unusable = invalidPixels(exposure)
    unusable |= exposure.maskedPixels(*UNUSABLE_PLANES, context="sanitize")
    if unusable.all():
        raise InputError(f"{role} exposure has no usable pixels: each is NaN or infinite, has "
                         "variance <= 0, or is masked NO_DATA, BAD or SAT")


def checkSubtractionPair(science: Exposure, template: Exposure, algorithm: str) -> None:
    """Raise InputError unless a subtraction plugin can take the pair as given.

    Both exposures must be on the same pixel grid and carry a PSF and a variance
    plane (the task warps the template and sanitises both; a plugin called
    directly checks here).

    Parameters
    ----------
    science, template : Exposure
        The pair (not modified).
    algorithm : str
        The plugin's name, for error messages.
    """
    if science.shape != template.shape:
        raise InputError(f"template shape {template.shape} differs from science shape "
                         f"{science.shape}; the {algorithm} subtraction needs the template on "
                         f"the science pixel grid")
    for role, exposure in (("science", science), ("template", template)):
        if exposure.psf is None:
            raise InputError(f"the {role} exposure has no PSF; the {algorithm} subtraction "
                             f"needs the PSFs of both images")
        if exposure.variance is None:
            raise InputError(f"the {role} exposure has no variance plane; the {algorithm} "
                             f"subtraction weights and propagates the noise with it")


def sanitize(exposure: Exposure, role: str, share: bool = False) -> Exposure:
    """Return a clean copy of ``exposure`` (the input is not modified).

    Non-finite image pixels and non-positive or non-finite variance become
    NO_DATA (image 0, variance +inf would poison FFTs, so it is set to the
    median variance), and the planes every plugin expects exist.

    Parameters
    ----------
    exposure : Exposure
        Input exposure.
    role : str
        ``"science"``, ``"template"`` or ``"difference"``, for error messages.
    share : bool
        When nothing needs repairing, return planes that are read-only views of
        the input's instead of copies (saves three full-frame planes; a step
        that would write into them fails instead of changing the input).

    Raises
    ------
    InputError
        If the exposure cannot be processed at all (see :func:`checkUsable`).
    """
    checkUsable(exposure, role)
    bad = invalidPixels(exposure)
    repair = bool(bad.any())
    clean = _readOnlyView(exposure) if share and not repair else exposure.clone()
    for name in ("NO_DATA", "EDGE", "DETECTED", "DETECTED_NEGATIVE", "SAT", "BAD"):
        clean.maskPlanes.add(name)
    if repair:
        clean.setMask(bad, "NO_DATA")
        clean.image[bad] = 0.0
        clean.variance[bad] = np.median(clean.variance[~bad])
    return clean


def _readOnlyView(exposure: Exposure) -> Exposure:
    """A copy of ``exposure`` whose planes are read-only views of the input's.

    A clean input is not copied (three full-frame planes of memory): the views
    make any step that would write into the caller's arrays fail loudly instead.
    """
    def frozen(array: np.ndarray) -> np.ndarray:
        view = array.view()
        view.flags.writeable = False
        return view

    return dataclasses.replace(
        exposure, image=frozen(exposure.image), mask=frozen(exposure.mask),
        variance=frozen(exposure.variance),
        psf=None if exposure.psf is None else exposure.psf.copy(),
        wcs=None if exposure.wcs is None else exposure.wcs.deepcopy(),
        metadata=copy.deepcopy(exposure.metadata), maskPlanes=exposure.maskPlanes.copy())
