"""The diaSource catalog the detection plugin returns: columns, units and descriptions."""
from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from diffim.schema import ColumnSpec



#: Pixel-flag columns and the mask plane each reports.
PIXEL_FLAG_PLANES: dict[str, str] = {
    "pixelFlags_edge": "EDGE",
    "pixelFlags_saturated": "SAT",
    "pixelFlags_bad": "BAD",
    "pixelFlags_noData": "NO_DATA",
    "pixelFlags_interpolated": "INTRP",
    "pixelFlags_cr": "CR",
    "pixelFlags_suspect": "SUSPECT",
}

#: Every column of the diaSource catalog, in order.
DIA_SOURCE_SCHEMA: tuple[ColumnSpec, ...] = (
    ColumnSpec("id", "int64", None, "diaSource id, 1..N in catalog order (the task may renumber)"),
    ColumnSpec("x", "float64", u.pix,
               "column of the centroid (0-based pixel centres): Gaussian-windowed first moment "
               "of the unsmoothed image in the footprint, of -image for a negative source, "
               "midpoint of the two lobes for a dipole candidate"),
    ColumnSpec("y", "float64", u.pix, "row of the centroid (see x)"),
    ColumnSpec("ra", "float64", u.deg, "right ascension of (x, y) from the exposure WCS; "
               "NaN without a celestial WCS"),
    ColumnSpec("dec", "float64", u.deg, "declination of (x, y); NaN without a celestial WCS"),
    ColumnSpec("peak_x", "int64", u.pix,
               "column of the peak of largest absolute detection-image value"),
    ColumnSpec("peak_y", "int64", u.pix, "row of that peak"),
    ColumnSpec("peakValue", "float64", u.ct, "unsmoothed image value at (peak_x, peak_y)"),
    ColumnSpec("peakSignificance", "float64", None,
               "detection-image value over the square root of its variance at that peak "
               "(the S/N of the PSF-filtered image when smoothing)"),
    ColumnSpec("nPeaks", "int64", None, "number of peaks in the footprint (both signs)"),
    ColumnSpec("posPeak_x", "float64", u.pix,
               "column of the most positive peak (the first peak in LSST order); NaN if none"),
    ColumnSpec("posPeak_y", "float64", u.pix, "row of the most positive peak; NaN if none"),
    ColumnSpec("posPeakValue", "float64", u.ct,
               "unsmoothed image value at the most positive peak; NaN if none"),
    ColumnSpec("negPeak_x", "float64", u.pix,
               "column of the most negative peak (the last peak in LSST order); NaN if none"),
    ColumnSpec("negPeak_y", "float64", u.pix, "row of the most negative peak; NaN if none"),
    ColumnSpec("negPeakValue", "float64", u.ct,
               "unsmoothed image value at the most negative peak; NaN if none"),
    ColumnSpec("psfFlux", "float64", u.ct,
               "least-squares amplitude of the unit-sum PSF model at (x, y), uniform weights, "
               "NO_DATA pixels dropped"),
    ColumnSpec("psfFluxErr", "float64", u.ct, "1-sigma error of psfFlux from the variance plane"),
    ColumnSpec("snr", "float64", None, "psfFlux / psfFluxErr"),
    ColumnSpec("psfFlux_flag", "bool", None,
               "the PSF stamp covers no usable pixel; psfFlux is NaN"),
    ColumnSpec("psfFlux_flag_edge", "bool", None, "the PSF stamp runs off the image"),
    ColumnSpec("parent", "int64", None,
               "number (1, 2, ...) of the blend this diaSource was split from, shared by its "
               "siblings; 0 when its footprint held it alone. Unlike LSST's catalogs, the "
               "blends themselves are not rows: every row is a source, none needs to be cut"),
    ColumnSpec("deblend_nChild", "int64", None,
               "number of diaSources the blend was split into, on each of them; 0 when not "
               "split"),
    ColumnSpec("footprintArea", "int64", u.pix ** 2, "number of pixels in the footprint"),
    ColumnSpec("isPositive", "bool", None, "the footprint holds a positive peak"),
    ColumnSpec("isNegative", "bool", None, "the footprint holds a negative peak"),
    ColumnSpec("isDipoleCandidate", "bool", None,
               "the footprint holds peaks of both signs (merged positive and negative lobes)"),
    ColumnSpec("flags_negative", "bool", None, "the source has negative peaks only"),
    ColumnSpec("centroid_flag", "bool", None,
               "the windowed centroid failed; (x, y) is the peak pixel (midpoint of the peaks "
               "for a dipole candidate)"),
    *(ColumnSpec(name, "bool", None, f"a pixel of the footprint grown by ceil(PSF sigma) "
                 f"pixels has mask plane {plane}") for name, plane in PIXEL_FLAG_PLANES.items()),
)


def emptyColumns(n: int) -> dict[str, np.ndarray]:
    """Arrays of length ``n`` for every column: NaN for floats, 0 / False otherwise."""
    return {spec.name: np.full(n, np.nan) if spec.dtype == "float64"
            else np.zeros(n, dtype=spec.dtype) for spec in DIA_SOURCE_SCHEMA}


def makeTable(columns: dict[str, np.ndarray]) -> Table:
    """Build the catalog from one array per schema column, with units and descriptions."""
    return Table([Column(np.asarray(columns[spec.name], dtype=spec.dtype), name=spec.name,
                         unit=spec.unit, description=spec.description)
                  for spec in DIA_SOURCE_SCHEMA])
