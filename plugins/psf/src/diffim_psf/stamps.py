"""Star stamps centred to a fraction of a pixel, with other objects blanked."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from diffim.morphology import growMask

from .stars import PsfStars

#: Pixels added around a stamp before the sub-pixel shift, cropped afterwards.
SHIFT_PAD = 3


def cutStamps(data: np.ndarray, variance: np.ndarray, bad: np.ndarray, segmentation: np.ndarray,
              stars: PsfStars, size: int, grow: int) -> tuple[np.ndarray, np.ndarray]:
    """Stamps centred on the stars to sub-pixel accuracy, and their variance; NaN where unusable.

    Each cut-out (with a margin of :data:`SHIFT_PAD`) is shifted by the star's
    sub-pixel offset with a cubic spline; masked pixels and pixels of other
    objects (their segments grown by ``grow`` pixels, to take their wings too) are
    zeroed before the shift, and every output pixel the shift drew from them is
    blanked. The variance stamps are cut without the shift.

    Parameters
    ----------
    data, variance : numpy.ndarray
        Sky-subtracted image and its variance.
    bad : numpy.ndarray
        Pixels never used.
    segmentation : numpy.ndarray
        Object labels (the star's own is ``stars.label``).
    stars : PsfStars
        The stars (at least :data:`SHIFT_PAD` + ``size // 2`` + 1 pixels from the border).
    size : int
        Stamp width (odd).
    grow : int
        Pixels by which other objects are grown before blanking.

    Returns
    -------
    stamps, variances : numpy.ndarray
        ``(n, size, size)`` each.
    """
    half = size // 2
    big = half + SHIFT_PAD
    stamps = np.empty((len(stars), size, size))
    variances = np.empty_like(stamps)
    crop = (slice(SHIFT_PAD, -SHIFT_PAD),) * 2
    for i in range(len(stars)):
        xi, yi = int(round(stars.x[i])), int(round(stars.y[i]))
        box = (slice(yi - big, yi + big + 1), slice(xi - big, xi + big + 1))
        labels = segmentation[box]
        others = growMask((labels != 0) & (labels != stars.label[i]), grow, metric="taxicab")
        invalid = bad[box] | others
        shift = (yi - stars.y[i], xi - stars.x[i])
        values = ndimage.shift(np.where(invalid, 0.0, data[box]), shift, order=3, mode="nearest")
        weight = ndimage.shift((~invalid).astype(np.float64), shift, order=1, mode="constant")
        usable = weight[crop] > 0.999
        stamps[i] = np.where(usable, values[crop], np.nan)
        variances[i] = np.where(usable, variance[box][crop], np.nan)
    return stamps, variances


def stampSize(fwhm: float, shape: tuple[int, int], minimum: int = 11, maximum: int = 65) -> int:
    """``2*ceil(3*FWHM)+1``, clamped to [minimum, maximum] and to fit in the image."""
    size = 2 * int(np.ceil(3.0 * fwhm)) + 1
    size = int(np.clip(size, minimum, maximum))
    fits = min(shape) - 2 * SHIFT_PAD - 4
    if size > fits:
        size = fits - (1 - fits % 2)
    return size
