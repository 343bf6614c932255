"""Circular-aperture fluxes (LSST's base_CircularApertureFlux) with photutils."""
from __future__ import annotations

import warnings

import numpy as np
from photutils.aperture import CircularAperture, aperture_photometry

from .schema import apertureName


def apertureFluxes(image: np.ndarray, variance: np.ndarray, usable: np.ndarray, x: np.ndarray,
                   y: np.ndarray, radii: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Sums of the image in circles of the given radii around each position.

    Pixels are weighted by their exact overlap with the circle; unusable pixels
    are left out (and flag the aperture). The error is the square root of the
    overlap-weighted sum of the variance.

    Parameters
    ----------
    image, variance : numpy.ndarray
        Difference image and its variance.
    usable : numpy.ndarray
        True where a pixel may be used.
    x, y : numpy.ndarray
        Centres (0-based pixels); non-finite ones give NaN and the flag.
    radii : tuple of float
        Aperture radii (pixels).

    Returns
    -------
    dict
        The ``base_CircularApertureFlux_<r>_*`` columns of :func:`.schema.apertureSchema`.
    """
    n = len(x)
    height, width = image.shape
    placed = np.isfinite(x) & np.isfinite(y)
    columns: dict[str, np.ndarray] = {}
    sums = errors = unusable = None
    if placed.any() and radii:
        positions = np.column_stack([x[placed], y[placed]])
        data, sigma, holes = _nearPositions(image, variance, usable, positions, max(radii))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flux = aperture_photometry(data, [CircularAperture(positions, r=radius)
                                              for radius in radii],
                                       error=sigma, method="exact")
        sums = [np.asarray(flux[f"aperture_sum_{k}"], dtype=np.float64) for k in range(len(radii))]
        errors = [np.asarray(flux[f"aperture_sum_err_{k}"], dtype=np.float64)
                  for k in range(len(radii))]
        unusable = [_holdsUnusable(usable, holes, positions, radius) for radius in radii]
    for k, radius in enumerate(radii):
        name = apertureName(radius)
        value = np.full(n, np.nan)
        error = np.full(n, np.nan)
        holes = np.zeros(n, dtype=bool)
        if sums is not None:
            value[placed], error[placed], holes[placed] = sums[k], errors[k], unusable[k]
        truncated = ((x - radius < -0.5) | (x + radius > width - 0.5) | (y - radius < -0.5)
                     | (y + radius > height - 0.5))
        columns[f"{name}_instFlux"] = value
        columns[f"{name}_instFluxErr"] = error
        columns[f"{name}_flag_apertureTruncated"] = truncated & placed
        columns[f"{name}_flag"] = truncated | holes | ~np.isfinite(value)
    return columns


def _nearPositions(image: np.ndarray, variance: np.ndarray, usable: np.ndarray,
                   positions: np.ndarray, radius: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planes the apertures are summed on, filled only where an aperture can reach.

    Returns the image and the noise (``sqrt(variance)``), 0 where not ``usable``, in
    their own dtypes, and 1.0 on the unusable pixels, all 0 farther than ``radius``
    plus two pixels from every position: photutils reads only the apertures' bounding
    boxes, so the sums are those of the whole planes without computing them whole.
    """
    data = np.zeros(image.shape, dtype=image.dtype)
    sigma = np.zeros(variance.shape, dtype=variance.dtype)
    holes = np.zeros(usable.shape)
    reach = int(np.ceil(radius)) + 2
    for xc, yc in np.floor(positions + 0.5).astype(np.int64):
        box = (slice(max(yc - reach, 0), max(yc + reach + 1, 0)),
               slice(max(xc - reach, 0), max(xc + reach + 1, 0)))
        good = usable[box]
        data[box] = np.where(good, image[box], 0.0)
        sigma[box] = np.sqrt(np.where(good, variance[box], 0.0))
        holes[box] = ~good
    return data, sigma, holes


def _holdsUnusable(usable: np.ndarray, holes: np.ndarray, positions: np.ndarray,
                   radius: float) -> np.ndarray:
    """True where a circle overlaps an unusable pixel (with a positive overlap area).

    Only circles whose bounding box holds an unusable pixel are checked exactly, on
    ``holes`` (1.0 on the unusable pixels around every position).
    """
    height, width = usable.shape
    x0 = np.clip(np.floor(positions[:, 0] - radius + 0.5).astype(np.int64), 0, width)
    x1 = np.clip(np.floor(positions[:, 0] + radius + 0.5).astype(np.int64) + 1, 0, width)
    y0 = np.clip(np.floor(positions[:, 1] - radius + 0.5).astype(np.int64), 0, height)
    y1 = np.clip(np.floor(positions[:, 1] + radius + 0.5).astype(np.int64) + 1, 0, height)
    inBox = np.array([not usable[b:t, l:r].all() for l, r, b, t in zip(x0, x1, y0, y1)],
                     dtype=bool)
    result = np.zeros(len(positions), dtype=bool)
    check = np.flatnonzero(inBox)
    if check.size:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            overlap = aperture_photometry(holes, CircularAperture(positions[check], r=radius),
                                          method="exact")
        result[check] = np.asarray(overlap["aperture_sum"], dtype=np.float64) > 0
    return result
