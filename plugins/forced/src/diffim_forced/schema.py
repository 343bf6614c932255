"""Columns the ``psf`` forcedMeasurement plugin adds to the diaSources: names, units, meaning."""
from __future__ import annotations

import astropy.units as u

from diffim.schema import ColumnSpec

#: Prefix of every column, LSST's name for the science-image forced PSF flux.
PREFIX = "ip_diffim_forced_PsfFlux"



#: The added columns, in order.
FORCED_SCHEMA: tuple[ColumnSpec, ...] = (
    ColumnSpec(f"{PREFIX}_instFlux", "float64", u.ct,
               "least-squares amplitude of the unit-sum science PSF model at the diaSource "
               "(x, y) on the science exposure, uniform weights; NaN when flagged"),
    ColumnSpec(f"{PREFIX}_instFluxErr", "float64", u.ct,
               "1-sigma error of instFlux from the science variance plane"),
    ColumnSpec(f"{PREFIX}_area", "float64", u.pix ** 2,
               "effective area (sum P)^2 / sum P^2 of the PSF model over the pixels fitted"),
    ColumnSpec(f"{PREFIX}_flag", "bool", None,
               "the measurement failed (no usable pixel, non-finite position or result); "
               "instFlux is NaN"),
    ColumnSpec(f"{PREFIX}_flag_noGoodPixels", "bool", None,
               "the PSF stamp covers no usable science pixel"),
    ColumnSpec(f"{PREFIX}_flag_edge", "bool", None,
               "the PSF stamp runs off the science image (the flux is fitted on the part inside)"),
)
