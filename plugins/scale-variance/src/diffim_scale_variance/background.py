"""The background model subtracted (on a copy) before the noise is measured."""
from __future__ import annotations

import numpy as np
import sep


def subtractBackground(image: np.ndarray, ignore: np.ndarray, binSize: int) -> np.ndarray:
    """Return ``image`` minus a binned background model estimated without ``ignore`` pixels.

    The model is sep's (SExtractor's) clipped-mode estimate in ``binSize``-pixel
    square bins, bicubic-spline interpolated, with no median filtering of the bins
    (as the LSST background used by ScaleVarianceTask); bins with mostly ignored
    pixels are interpolated from their neighbours.

    Parameters
    ----------
    image : numpy.ndarray
        Image to model; not modified.
    ignore : numpy.ndarray
        True for pixels to leave out of the model (they may be non-finite).
    binSize : int
        Bin width and height in pixels.

    Returns
    -------
    numpy.ndarray
        float32 background-subtracted copy (ignored pixels hold 0 minus the model).
    """
    data = np.where(ignore, np.float32(0.0), image).astype(np.float32)
    model = sep.Background(data, mask=ignore, bw=binSize, bh=binSize, fw=1, fh=1)
    return data - model.back()
