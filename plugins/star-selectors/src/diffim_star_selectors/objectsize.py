"""The ``objectSize`` selector: LSST's ObjectSizeStarSelector, plus an isolation cut."""
from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl

from .clustering import kMeansWidths, refineCluster
from .config import ObjectSizeStarSelectorConfig
from .cuts import column, isolatedSources, requireColumns, signalToNoise, unflagged, widths
from .measurement import scienceSources
from .residuals import cleanSurroundings

log = logging.getLogger("diffim.sourceSelector.objectSize")


def clusterCandidates(sources: Table, config: ObjectSizeStarSelectorConfig) -> np.ndarray:
    """Rows that enter the width clustering: unflagged, finite, within the flux, S/N and
    width ranges."""
    width = widths(sources)
    good = unflagged(sources, config.badFlags) & np.isfinite(width)
    good &= (width >= config.widthMin) & (width <= config.widthMax)
    if config.doFluxLimit:
        requireColumns(sources, [config.sourceFluxField], "sourceSelector.sourceFluxField")
        flux = column(sources, config.sourceFluxField)
        good &= np.isfinite(flux) & (flux >= config.fluxMin)
        if config.fluxMax > 0:
            good &= flux <= config.fluxMax
    if config.doSignalToNoiseLimit:
        snr = signalToNoise(sources, config.signalToNoiseFluxField, config.signalToNoiseErrField)
        good &= np.isfinite(snr) & (snr >= config.signalToNoiseMin)
        if config.signalToNoiseMax > 0:
            good &= snr <= config.signalToNoiseMax
    return good


def selectByObjectSize(sources: Table, exposure: Exposure,
                       config: ObjectSizeStarSelectorConfig) -> np.ndarray:
    """Boolean mask of the rows of ``sources`` that are isolated stars.

    See :meth:`ObjectSizeStarSelector.diffim_sourceSelector`.
    """
    candidates = clusterCandidates(sources, config)
    stars = np.zeros(len(sources), dtype=bool)
    if not candidates.any():
        return stars
    width = widths(sources)[candidates]
    _, clusterId = kMeansWidths(width, config.widthStdAllowed)
    members = refineCluster(width, clusterId == 0, config.nSigmaClip, config.widthStdAllowed)
    stars[np.flatnonzero(candidates)[members]] = True
    if members.any():
        log.info("objectSize: star width %.3f px; %d of %d candidates in the star cluster",
                 float(np.median(width[members])), int(members.sum()), int(candidates.sum()))
    stars &= isolatedSources(sources, config.isolationRadius)
    chosen = np.flatnonzero(stars)
    stars[chosen] = cleanSurroundings(exposure, column(sources, "x")[chosen],
                                      column(sources, "y")[chosen], config)
    return stars


class ObjectSizeStarSelector:
    """Kernel stars as the narrowest cluster of object widths (LSST ``ObjectSizeStarSelector``)."""

    ConfigClass = ObjectSizeStarSelectorConfig

    @hookimpl
    def diffim_sourceSelector(self, sources: Table | None, exposure: Exposure,
                              config: ObjectSizeStarSelectorConfig,
                              references: Table | None) -> Table:
        """Select stars as the cluster of smallest widths among bright, clean sources.

        1. Without a catalog, detect and measure the sources of ``exposure``
           (:func:`diffim_star_selectors.measureSources`).
        2. Width ``sqrt((Ixx + Iyy) / 2)``. Reject sources with a ``badFlags``
           flag, a non-finite width or flux, a width outside
           [``widthMin``, ``widthMax``], a flux outside [``fluxMin``, ``fluxMax``]
           (``doFluxLimit``) or a signal to noise outside the S/N limits
           (``doSignalToNoiseLimit``).
        3. One-dimensional k-means with four clusters and median updates on the
           widths, the centres starting at the 10th-percentile width ``c0`` and
           spaced by ``2 * widthStdAllowed * c0``.
        4. Refine cluster 0 (the narrowest): keep members within ``nSigmaClip``
           robust sigmas of its median, at most 10 times (see
           :func:`diffim_star_selectors.clustering.refineCluster`).
        5. Stars are the members of cluster 0 that are isolated: no other
           source of the catalog (nor, for a catalog measured here, image
           peak) within ``isolationRadius`` pixels, and, when the exposure has
           a PSF, no neighbour in the residual of a PSF fit (see
           ``neighbourThreshold``; stars too close to the edge for that check
           are dropped).

        Parameters
        ----------
        sources : astropy.table.Table or None
            Science sources with ``id``, ``x``, ``y``, ``Ixx``, ``Iyy``, the flux
            columns the config names and the ``badFlags`` columns; None to
            measure them here.
        exposure : Exposure
            The science exposure; not modified.
        config : ObjectSizeStarSelectorConfig
            The selector's config.
        references : astropy.table.Table or None
            Ignored: object sizes need no reference catalog.

        Returns
        -------
        astropy.table.Table
            The selected rows of the source catalog (all its columns).

        Raises
        ------
        diffim.errors.InputError
            If the catalog lacks a column the cuts need.
        diffim.errors.ConfigError
            If a flux, signal-to-noise or width range is empty.
        """
        config.validate()
        catalog = scienceSources(sources, exposure, config)
        return catalog[selectByObjectSize(catalog, exposure, config)]
