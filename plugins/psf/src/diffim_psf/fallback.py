"""The size of the most compact sources: a seeing estimate when too few stars make a PSF."""
from __future__ import annotations

import numpy as np
import sep

from .stars import PreparedImage

#: FWHM range (pixels) of a source that can be a star: narrower ones are cosmic
#: rays or hot pixels, wider ones galaxies.
MIN_FWHM, MAX_FWHM = 1.5, 10.0

#: Lowest detection S/N of a source whose size is trusted.
MIN_SNR = 10.0


def compactSourceFwhm(image: PreparedImage) -> float | None:
    """Rough FWHM (pixels) of the most compact sources: twice their half-light radius.

    For images with too few stars for a PSF (small cut-outs). Sources are skipped
    when cut by the image edge, with masked pixels in their core, or detected at an
    S/N below :data:`MIN_SNR`. Of the rest, those with a FWHM in
    [:data:`MIN_FWHM`, :data:`MAX_FWHM`] are kept, and since stars are the most
    compact sources the result is the median FWHM of the three most compact (or of
    all, if fewer).

    Returns
    -------
    float or None
        The FWHM, or None when no usable source is found.
    """
    objects = image.objects
    if len(objects) == 0:
        return None
    x, y = objects["x"], objects["y"]
    label = np.arange(1, len(objects) + 1, dtype=np.int32)
    size = np.sqrt(objects["a"] * objects["b"])
    rmax = np.maximum(5.0 * size, 3.0)
    fwhm = 2.0 * sep.flux_radius(image.data, x, y, rmax, 0.5, mask=image.bad,
                                 segmap=image.segmentation, seg_id=label)[0]
    flux, fluxErr, _ = sep.sum_circle(image.data, x, y, rmax, err=image.noise, mask=image.bad,
                                      segmap=image.segmentation, seg_id=label)
    core = np.maximum(2.0 * size, 1.5)
    badInCore = sep.sum_circle(image.bad.astype(np.float64), x, y, core, subpix=0)[0] > 0
    usable = (((objects["flag"] & sep.OBJ_TRUNC) == 0) & ~badInCore
              & (flux >= MIN_SNR * fluxErr) & (fwhm >= MIN_FWHM) & (fwhm <= MAX_FWHM))
    if not usable.any():
        return None
    return float(np.median(np.sort(fwhm[usable])[:3]))
