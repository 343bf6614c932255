"""The sky level under the science pixels, removed (on a copy) before the forced PSF fit."""
from __future__ import annotations

import numpy as np
import sep
from scipy import ndimage

#: Detection threshold (per-pixel S/N) of the sources masked out of the sky estimate.
SOURCE_THRESHOLD = 3.0


def skyModel(image: np.ndarray, exclude: np.ndarray, binSize: int) -> np.ndarray:
    """Smooth sky: sep's (SExtractor's) clipped-mode estimate in ``binSize`` cells.

    The mode (``2.5 median - 1.5 mean`` of the clipped pixels) is what photometry
    wants: the faint undetected sources and the far wings of bright ones, which
    raise a mean, barely move it. Cell values are 3×3 median filtered and
    spline-interpolated.
    """
    data = np.ascontiguousarray(np.where(exclude, 0.0, image), dtype=np.float32)
    return sep.Background(data, mask=exclude, bw=binSize, bh=binSize).back(dtype=np.float64)


def skySubtracted(image: np.ndarray, variance: np.ndarray, exclude: np.ndarray, binSize: int,
                  grow: int) -> np.ndarray:
    """Return ``image`` minus a smooth sky estimated away from the sources.

    A first sky (:func:`skyModel`) is subtracted, sources are detected on the
    result with sep (at least 5 connected pixels above ``SOURCE_THRESHOLD``
    sigma), and the sky is re-estimated with their pixels, grown by ``grow``
    pixels, left out.

    Parameters
    ----------
    image, variance : numpy.ndarray
        Science image and variance.
    exclude : numpy.ndarray
        True for pixels that must not enter the sky estimate (masked, non-finite);
        at least one pixel must be usable.
    binSize : int
        Sky cell size in pixels.
    grow : int
        Pixels by which detected sources are grown before masking (their wings).

    Returns
    -------
    numpy.ndarray
        float64 sky-subtracted copy of ``image``.
    """
    image = np.asarray(image, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    data = np.where(exclude, 0.0, image)
    noise = np.sqrt(np.where(exclude, np.median(variance[~exclude]), variance))
    sky = skyModel(data, exclude, binSize)
    if sep.get_extract_pixstack() < data.size:
        sep.set_extract_pixstack(data.size)
    segmentation = sep.extract(data - sky, SOURCE_THRESHOLD, err=noise, mask=exclude,
                               minarea=5, segmentation_map=True)[1]
    sources = segmentation > 0
    if grow > 0:
        sources = ndimage.binary_dilation(sources, iterations=int(grow))
    return image - skyModel(data, exclude | sources, binSize)
