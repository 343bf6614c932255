"""NFalsePositives: diaSources counted by what they lie on (doAddMetrics, as in LSST).

LSST's metric assumes the pair holds no real change, so every diaSource is a
false positive; where it lies says why. Each real (not sky) diaSource falls in
exactly one class, in this order:

* ``RefAssociated`` -- matched to a reference-catalog object (``refMatchId >= 0``,
  from doMatchSources with an astrometer reference catalog);
* ``SrcAssociated`` -- within one science PSF FWHM of a known source: a science
  source (``selectSources``) or a template source (``templateSources``);
* ``Unassociated`` -- neither: on empty sky in both catalogs.

so that ``Total = RefAssociated + SrcAssociated + Unassociated``. A class whose
catalog was not given is None (and its sources count as unassociated).
"""
from __future__ import annotations

import numpy as np
from astropy.table import Table

from .catalog import matchToSources
from .exposure import Exposure

#: Prefix of the counts' names (LSST's metadata keys).
PREFIX = "NFalsePositives"


def falsePositiveCounts(diaSources: Table, science: Exposure,
                        knownSources: list[Table]) -> dict[str, int | None]:
    """``NFalsePositives{Total,RefAssociated,SrcAssociated,Unassociated}``.

    Parameters
    ----------
    diaSources : astropy.table.Table
        The run's diaSources (``x``, ``y``, or ``ra``, ``dec``; ``sky_source`` rows
        are left out, ``refMatchId`` is read when present).
    science : Exposure
        The science exposure (its PSF FWHM is the association radius).
    knownSources : list of astropy.table.Table
        The science and template source catalogs that were given (``ra``, ``dec``,
        or ``x``, ``y`` on the science grid).
    """
    real = np.ones(len(diaSources), dtype=bool)
    if "sky_source" in diaSources.colnames:
        real &= ~np.asarray(diaSources["sky_source"], dtype=bool)
    sources = diaSources[real]
    counts: dict[str, int | None] = {f"{PREFIX}Total": len(sources),
                                     f"{PREFIX}RefAssociated": None,
                                     f"{PREFIX}SrcAssociated": None}
    free = np.ones(len(sources), dtype=bool)
    if "refMatchId" in sources.colnames:
        onReference = np.asarray(sources["refMatchId"]) >= 0
        counts[f"{PREFIX}RefAssociated"] = int(onReference.sum())
        free &= ~onReference
    if knownSources:
        onKnown = np.zeros(len(sources), dtype=bool)
        # without a WCS there are no sky positions and "arcsec" are pixels
        scale = science.pixelScale() or 1.0
        for known in knownSources:
            matched = matchToSources(sources, known, science.psf.fwhm() * scale, scale)
            onKnown |= np.isfinite(np.asarray(matched["srcMatchDistance"], dtype=float))
        counts[f"{PREFIX}SrcAssociated"] = int((onKnown & free).sum())
        free &= ~onKnown
    counts[f"{PREFIX}Unassociated"] = int(free.sum())
    return counts
