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
        data = np.where(usable, image, 0.0)
        sigma = np.sqrt(np.where(usable, variance, 0.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flux = aperture_photometry(data, [CircularAperture(positions, r=radius)
                                              for radius in radii],
                                       error=sigma, method="exact")
        sums = [np.asarray(flux[f"aperture_sum_{k}"], dtype=np.float64) for k in range(len(radii))]
        errors = [np.asarray(flux[f"aperture_sum_err_{k}"], dtype=np.float64)
                  for k in range(len(radii))]
        table = _summedAreaTable(~usable)
        unusable = [_holdsUnusable(usable, table, positions, radius) for radius in radii]
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


def _summedAreaTable(flags: np.ndarray) -> np.ndarray:
    """``table[y, x]`` = number of True pixels in ``flags[:y, :x]``."""
    table = np.zeros((flags.shape[0] + 1, flags.shape[1] + 1), dtype=np.int32)
    table[1:, 1:] = np.cumsum(np.cumsum(flags, axis=0, dtype=np.int32), axis=1)
    return table


def _holdsUnusable(usable: np.ndarray, table: np.ndarray, positions: np.ndarray,
                   radius: float) -> np.ndarray:
    """True where a circle overlaps an unusable pixel (with a positive overlap area).

    Only circles whose bounding box holds an unusable pixel (counted with the
    summed-area table of the unusable pixels) are checked exactly.
    """
    height, width = usable.shape
    x0 = np.clip(np.floor(positions[:, 0] - radius + 0.5).astype(np.int64), 0, width)
    x1 = np.clip(np.floor(positions[:, 0] + radius + 0.5).astype(np.int64) + 1, 0, width)
    y0 = np.clip(np.floor(positions[:, 1] - radius + 0.5).astype(np.int64), 0, height)
    y1 = np.clip(np.floor(positions[:, 1] + radius + 0.5).astype(np.int64) + 1, 0, height)
    inBox = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    result = np.zeros(len(positions), dtype=bool)
    check = np.flatnonzero(inBox > 0)
    if check.size:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            overlap = aperture_photometry((~usable).astype(np.float64),
                                          CircularAperture(positions[check], r=radius),
                                          method="exact")
        result[check] = np.asarray(overlap["aperture_sum"], dtype=np.float64) > 0
    return result
