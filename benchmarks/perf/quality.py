"""Quality figures of a difference image against the pair's truth, the same for every method.

* completeness: transients of true S/N >= 10 (``truth["differenceSnr"]``), not saturated
  and with no SAT pixel of either image within FWHM/2 of their centre, that have a
  source of their own within 2.5 px (one-to-one), as ``tests/test_crowded_field.py``;
* false detections per Mpix: sources with no truth object of any kind within 3 px
  (``tests/test_crowded_field.py``);
* noise ratio: robust width (MAD) of ``D / sqrt(V)`` over source-free pixels (farther
  than 4 FWHM from every truth object, unmasked; ``tests/test_end_to_end.py``), where
  ``V`` is the variance the method itself states for its difference.

The *common detector* runs on every difference alike, diffim's included, and needs no
variance: the difference is filtered with a Gaussian of the science PSF's width, its
noise is the MAD of the filtered image over the source-free pixels, and sources are the
local extrema (5×5) beyond 5 times that noise, both signs, away from missing data and
from saturated pixels of either image (grown by the filter's reach).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from diffim.matching import matchPixels
from diffim.psf import FWHM_PER_SIGMA
from diffim.statistics import madSigma

#: Common detector threshold (sigma of the filtered difference).
THRESHOLD = 5.0

#: Truth S/N from which completeness is counted, and the matching radii (pixels).
COMPLETE_SNR = 10.0
FOUND_RADIUS = 2.5
FALSE_RADIUS = 3.0


def sourceFree(truth, bad: np.ndarray, fwhm: float) -> np.ndarray:
    """Pixels farther than 4 FWHM from every truth object and not ``bad``."""
    free = ~bad
    height, width = bad.shape
    yy, xx = np.ogrid[:height, :width]
    radius = int(np.ceil(4 * fwhm))
    for x, y in zip(np.asarray(truth["x"]), np.asarray(truth["y"])):
        x0, y0 = int(round(x)), int(round(y))
        ys = slice(max(y0 - radius, 0), max(y0 + radius + 1, 0))
        xs = slice(max(x0 - radius, 0), max(x0 + radius + 1, 0))
        free[ys, xs] &= (yy[ys] - y) ** 2 + (xx[:, xs] - x) ** 2 > radius ** 2
    return free


def _clipped(sat: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """True where a SAT pixel lies within ``radius`` of ``(x, y)``."""
    reach = int(np.ceil(radius))
    out = np.zeros(len(x), dtype=bool)
    height, width = sat.shape
    for k, (xk, yk) in enumerate(zip(x, y)):
        ix, iy = int(round(xk)), int(round(yk))
        rows, cols = np.mgrid[iy - reach:iy + reach + 1, ix - reach:ix + reach + 1]
        inside = (np.hypot(cols - xk, rows - yk) <= radius) & (rows >= 0) & (cols >= 0) \
            & (rows < height) & (cols < width)
        out[k] = sat[rows[inside], cols[inside]].any()
    return out


def scoredTransients(truth, science, template) -> np.ndarray:
    """Transients counted in the completeness (see the module docstring)."""
    chosen = (np.asarray(truth["kind"] == "transient")
              & (np.asarray(truth["differenceSnr"]) >= COMPLETE_SNR)
              & ~np.asarray(truth["saturated"], dtype=bool))
    index = np.flatnonzero(chosen)
    x, y = np.asarray(truth["x"])[index], np.asarray(truth["y"])[index]
    tx, ty = template.wcs.world_to_pixel_values(*science.wcs.pixel_to_world_values(x, y))
    clipped = (_clipped(science.maskedPixels("SAT"), x, y, 0.5 * science.psf.fwhm())
               | _clipped(template.maskedPixels("SAT"), tx, ty, 0.5 * template.psf.fwhm()))
    chosen[index] = ~clipped
    return chosen


def detectionFigures(x: np.ndarray, y: np.ndarray, truth, scored: np.ndarray,
                     shape: tuple[int, int]) -> dict:
    """Completeness at S/N >= 10 and false detections per Mpix of sources at ``(x, y)``."""
    found = np.zeros(len(truth), dtype=bool)
    if len(x):
        found[matchPixels(x, y, truth["x"], truth["y"], FOUND_RADIUS,
                          method="oneToOne").index2] = True
        matched = matchPixels(x, y, truth["x"], truth["y"], FALSE_RADIUS)
        nFalse = len(x) - len(set(matched.index1.tolist()))
    else:
        nFalse = 0
    nScored = int(scored.sum())
    return {"nSources": int(len(x)), "nScored": nScored,
            "completeness": float(found[scored].mean()) if nScored else float("nan"),
            "falsePerMpix": nFalse / (shape[0] * shape[1] / 1e6)}


def noiseRatio(image: np.ndarray, variance: np.ndarray | float, free: np.ndarray) -> float:
    """Robust width of ``image / sqrt(variance)`` over the ``free`` pixels."""
    variance = np.broadcast_to(variance, image.shape)
    use = free & np.isfinite(image) & np.isfinite(variance) & (variance > 0)
    if use.sum() < 100:
        return float("nan")
    return float(madSigma(image[use] / np.sqrt(variance[use])))


def commonDetect(image: np.ndarray, free: np.ndarray, excluded: np.ndarray,
                 psfSigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(x, y)`` of the common detector's sources (see the module docstring)."""
    valid = np.isfinite(image)
    filled = np.where(valid, image, 0.0).astype(np.float32)
    filtered = ndimage.gaussian_filter(filled, psfSigma, truncate=4.0)
    reach = int(np.ceil(3 * psfSigma))
    unusable = ndimage.binary_dilation(~valid | excluded, iterations=reach)
    sigma = madSigma(filtered[free & ~unusable])
    peaks = []
    for sign in (1.0, -1.0):
        signed = sign * filtered
        local = (signed == ndimage.maximum_filter(signed, size=5)) \
            & (signed > THRESHOLD * sigma) & ~unusable
        peaks.append(np.nonzero(local))
    rows = np.concatenate([p[0] for p in peaks])
    cols = np.concatenate([p[1] for p in peaks])
    return cols.astype(float), rows.astype(float)


def fwhmOf(psfSigma: float) -> float:
    """FWHM of a Gaussian of width ``psfSigma``."""
    return FWHM_PER_SIGMA * psfSigma
