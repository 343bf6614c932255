"""The ``skyObjects`` implementation of the ``skySources`` slot."""
from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.morphology import growMask

from .config import SkyObjectsConfig
from .placement import placeCircles


def avoidedPixels(exposure: Exposure, config: SkyObjectsConfig) -> np.ndarray:
    """Pixels with an ``avoidMask`` plane set, grown by ``growMask`` pixels (a disc)."""
    return growMask(exposure.maskedPixels(*config.avoidMask, context="skySources.avoidMask"),
                    config.growMask, "euclidean")


def skyObjects(exposure: Exposure, config: SkyObjectsConfig, rng: np.random.Generator) -> Table:
    """Sky-source positions and radii; see :meth:`SkyObjects.diffim_skySources`."""
    nTrials = config.nSources * config.nTrialSourcesMultiplier
    x, y, trials = placeCircles(avoidedPixels(exposure, config), config.sourceRadius,
                                config.nSources, nTrials, rng)
    table = Table([
        Column(x, name="x", unit=u.pix, description="column of the sky source's centre pixel"),
        Column(y, name="y", unit=u.pix, description="row of the sky source's centre pixel"),
        Column(np.full(len(x), config.sourceRadius), name="radius", unit=u.pix,
               description="radius of the circular footprint (pixels whose centres lie within "
                           "it)"),
    ])
    table.meta["nTrials"] = trials
    return table


class SkyObjects:
    """Place sky sources in empty sky (LSST ``SkyObjectsTask``)."""

    ConfigClass = SkyObjectsConfig

    @hookimpl
    def diffim_skySources(self, exposure: Exposure, config: SkyObjectsConfig,
                          rng: np.random.Generator) -> Table:
        """Choose positions in empty sky, avoiding detected and masked pixels.

        1. Avoided pixels: any ``avoidMask`` plane set, grown by ``growMask`` (a disc).
        2. Up to ``nSources * nTrialSourcesMultiplier`` times, draw an integer
           centre uniformly in the image shrunk by ``int(sourceRadius) + 1`` pixels
           (x first, then y, from ``rng``); accept it when its circle of
           ``sourceRadius`` touches no avoided pixel and no earlier sky source.
        3. Stop once ``nSources`` are accepted.

        Parameters
        ----------
        exposure : Exposure
            The detection exposure, with DETECTED / DETECTED_NEGATIVE set; not modified.
        config : SkyObjectsConfig
            Avoided planes, radius and counts.
        rng : numpy.random.Generator
            The only source of randomness: the same generator state gives the same sky sources.

        Returns
        -------
        astropy.table.Table
            ``x``, ``y`` (0-based integer pixel centres, float64) and ``radius``
            (pixels) of each sky source, in the order drawn; ``meta["nTrials"]``
            holds the number of positions tried. Planes of ``avoidMask`` the
            exposure lacks count as empty.
        """
        return skyObjects(exposure, config, rng)
