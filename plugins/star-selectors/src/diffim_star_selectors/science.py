"""The ``science`` selector: isolated, unsaturated point sources of high signal to noise."""
from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.moments import stampMoments
from diffim.psf import Psf

from .config import ScienceStarSelectorConfig
from .cuts import isolatedSources, positions, signalToNoise, unflagged, widths
from .measurement import scienceSources
from .residuals import cleanSurroundings

log = logging.getLogger("diffim.sourceSelector.science")


def psfWidths(psf: Psf, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Adaptive-moment width ``sqrt((Ixx + Iyy) / 2)`` of the PSF model at each position.

    Measured exactly as the sources are (:func:`diffim.moments.stampMoments`,
    centre iterated, a moment above the stamp half-width squared failing), so a
    star's width equals its PSF's whatever the profile (Gaussian, Moffat).
    """
    if len(x) == 0:
        return np.empty(0)
    if psf.isSpatiallyVarying:
        stamps = np.array([psf.at(float(px), float(py)) for px, py in zip(x, y)])
    else:
        stamps = psf.at(*psf.averagePosition)[None]
    n, half = len(stamps), stamps.shape[1] // 2
    moments = stampMoments(stamps, np.ones(stamps.shape, dtype=bool), np.zeros(n), np.zeros(n),
                           np.full(n, psf.sigma()), fixCentre=False,
                           maxMoment=float(half * half))
    return np.broadcast_to(moments.width, (len(x),)).copy()


def selectScienceStars(sources: Table, exposure: Exposure,
                       config: ScienceStarSelectorConfig) -> np.ndarray:
    """Indices of the selected rows of ``sources``, highest signal to noise first.

    See :meth:`ScienceStarSelector.diffim_sourceSelector`.
    """
    if exposure.psf is None:
        raise InputError("the science star selector needs the science PSF (its size cut is "
                         "relative to the PSF), but exposure.psf is None")
    x, y = positions(sources)
    snr = signalToNoise(sources, config.fluxField, config.fluxErrField)
    width = widths(sources)
    good = (unflagged(sources, config.badFlags) & np.isfinite(snr) & np.isfinite(width)
            & (snr >= config.signalToNoiseMin) & isolatedSources(sources, config.isolationRadius))
    candidates = np.flatnonzero(good)
    ratio = width[candidates] / psfWidths(exposure.psf, x[candidates], y[candidates])
    chosen = candidates[np.abs(ratio - 1.0) <= config.sizeTolerance]
    chosen = chosen[cleanSurroundings(exposure, x[chosen], y[chosen], config)]
    chosen = chosen[np.argsort(-snr[chosen], kind="stable")]
    if config.maxCount > 0:
        chosen = chosen[:config.maxCount]
    log.info("science: %d stars of %d bright, clean, isolated candidates", len(chosen),
             len(candidates))
    return chosen


class ScienceStarSelector:
    """Kernel stars: isolated, unflagged point sources of high S/N, sized like the PSF."""

    ConfigClass = ScienceStarSelectorConfig

    @hookimpl
    def diffim_sourceSelector(self, sources: Table | None, exposure: Exposure,
                              config: ScienceStarSelectorConfig,
                              references: Table | None) -> Table:
        """Select point sources by signal to noise, PSF size, flags and isolation.

        1. Without a catalog, detect and measure the sources of ``exposure``
           (:func:`diffim_star_selectors.measureSources`).
        2. Keep sources with no ``badFlags`` flag (saturated ones included), a
           signal to noise ``fluxField / fluxErrField`` of at least
           ``signalToNoiseMin`` and no other source (nor, for a catalog
           measured here, image peak) within ``isolationRadius`` pixels.
        3. Keep those whose width ``sqrt((Ixx + Iyy) / 2)`` is within
           ``sizeTolerance`` (fractional) of the adaptive-moment width of
           ``exposure.psf`` at their position: cosmic rays and hot pixels are
           narrower, galaxies and unresolved blends wider.
        4. Fit the PSF amplitude at each star; drop the star if the residual,
           filtered with the PSF, has a local maximum above
           ``max(neighbourThreshold, psfResidualFraction * the star's own
           significance)`` sky sigmas between 1.5 PSF sigmas and
           ``isolationRadius`` from its centre, or if it is too close to the
           edge for that check.
        5. Return the ``maxCount`` of highest signal to noise.

        Parameters
        ----------
        sources : astropy.table.Table or None
            Science sources with ``id``, ``x``, ``y``, ``Ixx``, ``Iyy``, the flux
            columns the config names and the ``badFlags`` columns; None to
            measure them here.
        exposure : Exposure
            The science exposure, with its PSF model; not modified.
        config : ScienceStarSelectorConfig
            The selector's config.
        references : astropy.table.Table or None
            Ignored.

        Returns
        -------
        astropy.table.Table
            The selected rows of the source catalog, highest signal to noise first.

        Raises
        ------
        diffim.errors.InputError
            If the exposure has no PSF or the catalog lacks a column the cuts need.
        """
        config.validate()
        catalog = scienceSources(sources, exposure, config)
        return catalog[selectScienceStars(catalog, exposure, config)]
