"""Neighbours hidden in a star's wings, found in the residual of a PSF fit.

Detection cannot split a faint star or a cosmic ray off the wing of a bright
star a few PSF widths away, and moments barely notice it. Subtracting the
fitted PSF model uncovers it: the residual, filtered with the PSF and divided
by the sky noise (:func:`diffim.sourcefinding.matchedFilter`), shows a
significant bump where the neighbour is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.exposure import Exposure
from diffim.photometry import shiftedPsf
from diffim.psf import Psf
from diffim.sourcefinding import localMaxima, matchedFilter

from .config import StarSelectorConfig
from .sky import SkySubtracted, subtractSky

#: Residuals closer than this many PSF sigmas to a star's centre are not searched
#: for neighbours (there the residual is PSF-model and centring error).
CORE_RADIUS_SIGMAS = 1.5


@dataclass
class ResidualSignificance:
    """Per star: the largest residual significance beyond the core, and the star's own.

    Attributes
    ----------
    neighbour : numpy.ndarray
        Highest local maximum of the PSF-filtered residual, in sky sigmas,
        between the core radius and the search radius (0 if none; a
        neighbour farther out whose wing reaches inside is not a local
        maximum there); NaN where the star's stamp leaves the image or holds
        no usable pixel.
    star : numpy.ndarray
        Significance of the star itself in the same filtered units.
    """

    neighbour: np.ndarray
    star: np.ndarray


def residualSignificance(sky: SkySubtracted, psf: Psf, x: np.ndarray, y: np.ndarray,
                         radius: float, coreRadius: float) -> ResidualSignificance:
    """Fit the PSF amplitude at each star and measure what the fit leaves within ``radius``.

    Parameters
    ----------
    sky : SkySubtracted
        Sky-subtracted science pixels and sky noise.
    psf : Psf
        Science PSF model.
    x, y : numpy.ndarray
        Star centres (0-based pixels).
    radius : float
        Search radius (pixels).
    coreRadius : float
        Residuals closer than this to the centre (PSF-model and centring errors)
        are not searched.

    Returns
    -------
    ResidualSignificance
    """
    n = len(x)
    neighbour = np.full(n, np.nan)
    star = np.full(n, np.nan)
    height, width = sky.data.shape
    for k in range(n):
        model, ix, iy = shiftedPsf(psf, float(x[k]), float(y[k]))
        half = model.shape[0] // 2 + int(np.ceil(radius))
        if iy - half < 0 or ix - half < 0 or iy + half >= height or ix + half >= width:
            continue
        cut = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
        valid = ~sky.excluded[cut]
        placed = np.zeros(valid.shape)
        inner = half - model.shape[0] // 2
        placed[inner:inner + model.shape[0], inner:inner + model.shape[1]] = model
        norm = float(np.sum(placed[valid] ** 2))
        if not norm > 0:
            continue
        data = sky.data[cut]
        flux = float(np.sum(placed[valid] * data[valid])) / norm
        kernel = psf.at(float(x[k]), float(y[k]))
        skyVariance = float(sky.skyVariance[iy, ix])
        filtered = matchedFilter(data - flux * placed, np.full(valid.shape, skyVariance),
                                 ~valid, kernel).significance
        px, py = localMaxima(filtered, exclude=~valid)
        r = np.hypot(px - half + ix - x[k], py - half + iy - y[k])
        ring = (r > coreRadius) & (r <= radius)
        neighbour[k] = float(filtered[py[ring], px[ring]].max()) if ring.any() else 0.0
        star[k] = flux * np.sqrt(float(np.sum(kernel ** 2)) / skyVariance)
    return ResidualSignificance(neighbour, star)


def cleanSurroundings(exposure: Exposure, x: np.ndarray, y: np.ndarray,
                      config: StarSelectorConfig) -> np.ndarray:
    """True for stars whose PSF-fit residual shows no neighbour within ``isolationRadius``.

    The limit is ``max(neighbourThreshold, psfResidualFraction * star significance)``.
    A star too close to the image edge for its surroundings to be checked fails.
    Every star passes when the exposure has no PSF, ``neighbourThreshold`` is
    None or ``isolationRadius`` is 0.
    """
    if (exposure.psf is None or config.neighbourThreshold is None
            or config.isolationRadius <= 0 or len(x) == 0):
        return np.ones(len(x), dtype=bool)
    sky = subtractSky(exposure, config.backgroundBinSize)
    significance = residualSignificance(sky, exposure.psf, x, y, config.isolationRadius,
                                        CORE_RADIUS_SIGMAS * exposure.psf.sigma())
    limit = np.maximum(config.neighbourThreshold,
                       config.psfResidualFraction * significance.star)
    with np.errstate(invalid="ignore"):
        return significance.neighbour <= limit
