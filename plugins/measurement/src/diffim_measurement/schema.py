"""Columns the measurement plugins add to the diaSources: names, dtypes, units and meaning.

Names follow LSST's measurement plugins (``base_*`` for the base measurements,
``ip_diffim_DipoleFit_*`` for the dipole model).
"""
from __future__ import annotations

from collections.abc import Iterable

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from diffim.schema import ColumnSpec



CENTROID = "base_GaussianCentroid"
SHAPE = "base_SdssShape"
PSF_FLUX = "base_PsfFlux"
APERTURE = "base_CircularApertureFlux"
PIXEL_FLAGS = "base_PixelFlags_flag"
DIPOLE = "ip_diffim_DipoleFit"
SHARP_FLAG = "ip_diffim_flag_sharp"

#: Pixel-flag names (LSST's) and the mask plane each reports.
PIXEL_FLAG_PLANES: dict[str, str] = {
    "edge": "EDGE",
    "nodata": "NO_DATA",
    "bad": "BAD",
    "saturated": "SAT",
    "interpolated": "INTRP",
    "cr": "CR",
    "suspect": "SUSPECT",
}


def apertureName(radius: float) -> str:
    """Column prefix of the aperture of ``radius`` pixels (LSST style: 4.5 -> ``..._4_5``)."""
    text = f"{radius:.1f}" if round(radius, 1) == radius else f"{radius:g}"
    return f"{APERTURE}_{text.replace('.', '_')}"


_BASE_FIXED: tuple[ColumnSpec, ...] = (
    ColumnSpec(f"{CENTROID}_x", "float64", u.pix,
               "column of the centroid (0-based pixel centres): Gaussian-windowed first moment "
               "(window sigma = difference PSF sigma) of the light of the source's sign, "
               "iterated from its peak; for a dipole candidate the midpoint of the two lobes' "
               "centroids; for a sky source its given position; the catalog x when flagged"),
    ColumnSpec(f"{CENTROID}_y", "float64", u.pix, "row of the centroid (see x)"),
    ColumnSpec(f"{CENTROID}_xErr", "float64", u.pix,
               "1-sigma error of the centroid column from the variance plane and the measured "
               "noise correlation; NaN when flagged or for a sky source"),
    ColumnSpec(f"{CENTROID}_yErr", "float64", u.pix, "1-sigma error of the centroid row"),
    ColumnSpec(f"{CENTROID}_flag", "bool", None,
               "the windowed centroid failed (no positive weight, moved more than 2 pixels, or "
               "left the image); x, y are the catalog position"),
    ColumnSpec(f"{SHAPE}_xx", "float64", u.pix ** 2,
               "adaptive second moment <(x - xc)^2> of the light of the source's dominant sign: "
               "the moments of the elliptical Gaussian weight that matches them; PSF-convolved "
               "(a point source gives the PSF's moments); NaN when flagged"),
    ColumnSpec(f"{SHAPE}_yy", "float64", u.pix ** 2, "adaptive second moment <(y - yc)^2>"),
    ColumnSpec(f"{SHAPE}_xy", "float64", u.pix ** 2,
               "adaptive second moment <(x - xc)(y - yc)>"),
    ColumnSpec(f"{SHAPE}_flag", "bool", None,
               "the adaptive moments did not converge to a positive-definite shape (faint or "
               "dipole sources: the light of one sign around the centroid is not a blob)"),
    ColumnSpec(f"{PSF_FLUX}_instFlux", "float64", u.ct,
               "least-squares amplitude of the unit-sum difference PSF model at the centroid, "
               "uniform weights (diffim.photometry.measurePsfFlux); NaN when flagged"),
    ColumnSpec(f"{PSF_FLUX}_instFluxErr", "float64", u.ct,
               "1-sigma error of instFlux from the variance plane, with the measured noise "
               "correlation of the sky"),
    ColumnSpec(f"{PSF_FLUX}_flag", "bool", None,
               "the PSF flux failed (no usable pixel or non-finite result); instFlux is NaN"),
    ColumnSpec(f"{PSF_FLUX}_flag_noGoodPixels", "bool", None,
               "the PSF stamp covers no usable pixel"),
    ColumnSpec(f"{PSF_FLUX}_flag_edge", "bool", None,
               "the PSF stamp runs off the image (the flux is fitted on the part inside)"),
    ColumnSpec(f"{PIXEL_FLAGS}_offimage", "bool", None, "the centroid is off the image"),
    *(ColumnSpec(f"{PIXEL_FLAGS}_{name}", "bool", None,
                 f"a pixel of the footprint has mask plane {plane}"
                 + (" or the footprint touches the image border" if name == "edge" else ""))
      for name, plane in PIXEL_FLAG_PLANES.items()),
    *(ColumnSpec(f"{PIXEL_FLAGS}_{name}Center", "bool", None,
                 f"a pixel of the 3x3 box around the centroid has mask plane {plane}")
      for name, plane in PIXEL_FLAG_PLANES.items()),
    ColumnSpec(SHARP_FLAG, "bool", None,
               "the source is sharper than the PSF: across its brightest pixel the light "
               "falls off faster than any PSF-shaped source's can (a cosmic ray, a hot pixel "
               "or a template defect left unmasked); see sharpNoiseMargin and "
               "sharpNeighbourFraction"),
)


def apertureSchema(radii: Iterable[float]) -> tuple[ColumnSpec, ...]:
    """Columns of the circular apertures of the given radii (pixels)."""
    specs = []
    for radius in radii:
        name = apertureName(radius)
        specs += [
            ColumnSpec(f"{name}_instFlux", "float64", u.ct,
                       f"sum of the difference image in a circle of radius {radius:g} pixels "
                       f"around the centroid (exact pixel overlap), unusable pixels left out"),
            ColumnSpec(f"{name}_instFluxErr", "float64", u.ct,
                       "1-sigma error: square root of the overlap-weighted sum of the variance, "
                       "with the measured noise correlation of the sky"),
            ColumnSpec(f"{name}_flag", "bool", None,
                       "the aperture is truncated or holds an unusable pixel (the sum "
                       "misses light), or the centroid is not finite"),
            ColumnSpec(f"{name}_flag_apertureTruncated", "bool", None,
                       "the aperture runs off the image"),
        ]
    return tuple(specs)


def baseSchema(radii: Iterable[float]) -> tuple[ColumnSpec, ...]:
    """Every base-measurement column, in order."""
    return _BASE_FIXED + apertureSchema(radii)


#: Columns of the dipole model, in order.
DIPOLE_SCHEMA: tuple[ColumnSpec, ...] = (
    ColumnSpec(f"{DIPOLE}_pos_instFlux", "float64", u.ct,
               "flux of the positive lobe (amplitude of the unit-sum difference PSF)"),
    ColumnSpec(f"{DIPOLE}_pos_instFluxErr", "float64", u.ct,
               "1-sigma error of pos_instFlux from the fit covariance"),
    ColumnSpec(f"{DIPOLE}_neg_instFlux", "float64", u.ct,
               "flux of the negative lobe, negative (equal to -pos_instFlux unless "
               "fitSeparateNegParams)"),
    ColumnSpec(f"{DIPOLE}_neg_instFluxErr", "float64", u.ct,
               "1-sigma error of neg_instFlux from the fit covariance"),
    ColumnSpec(f"{DIPOLE}_instFlux", "float64", u.ct,
               "mean absolute lobe flux (|pos_instFlux| + |neg_instFlux|) / 2"),
    ColumnSpec(f"{DIPOLE}_instFluxErr", "float64", u.ct, "1-sigma error of instFlux"),
    ColumnSpec(f"{DIPOLE}_pos_centroid_x", "float64", u.pix, "column of the positive lobe"),
    ColumnSpec(f"{DIPOLE}_pos_centroid_y", "float64", u.pix, "row of the positive lobe"),
    ColumnSpec(f"{DIPOLE}_pos_centroid_xErr", "float64", u.pix,
               "1-sigma error of pos_centroid_x"),
    ColumnSpec(f"{DIPOLE}_pos_centroid_yErr", "float64", u.pix,
               "1-sigma error of pos_centroid_y"),
    ColumnSpec(f"{DIPOLE}_neg_centroid_x", "float64", u.pix, "column of the negative lobe"),
    ColumnSpec(f"{DIPOLE}_neg_centroid_y", "float64", u.pix, "row of the negative lobe"),
    ColumnSpec(f"{DIPOLE}_neg_centroid_xErr", "float64", u.pix,
               "1-sigma error of neg_centroid_x"),
    ColumnSpec(f"{DIPOLE}_neg_centroid_yErr", "float64", u.pix,
               "1-sigma error of neg_centroid_y"),
    ColumnSpec(f"{DIPOLE}_centroid_x", "float64", u.pix,
               "column of the midpoint of the two lobes"),
    ColumnSpec(f"{DIPOLE}_centroid_y", "float64", u.pix, "row of the midpoint of the two lobes"),
    ColumnSpec(f"{DIPOLE}_centroid_xErr", "float64", u.pix, "1-sigma error of centroid_x"),
    ColumnSpec(f"{DIPOLE}_centroid_yErr", "float64", u.pix, "1-sigma error of centroid_y"),
    ColumnSpec(f"{DIPOLE}_separation", "float64", u.pix, "distance between the lobe centres"),
    ColumnSpec(f"{DIPOLE}_separationErr", "float64", u.pix, "1-sigma error of separation"),
    ColumnSpec(f"{DIPOLE}_orientation", "float64", u.deg,
               "direction from the negative to the positive lobe, atan2(dy, dx), "
               "counter-clockwise from the +x axis"),
    ColumnSpec(f"{DIPOLE}_chi2dof", "float64", None,
               "chi-square per degree of freedom of the model on the difference cut-out "
               "(variance-plane weights)"),
    ColumnSpec(f"{DIPOLE}_nData", "int64", None, "difference-image pixels fitted"),
    ColumnSpec(f"{DIPOLE}_signalToNoise", "float64", None,
               "sqrt((pos_instFlux / pos_instFluxErr)^2 + (neg_instFlux / neg_instFluxErr)^2)"),
    ColumnSpec(f"{DIPOLE}_flag", "bool", None,
               "the source was not fitted (not a dipole candidate, a sky source, too few "
               "pixels) or the fit failed; the model columns are NaN"),
    ColumnSpec(f"{DIPOLE}_flag_notConverged", "bool", None,
               "the fit did not converge: it ran out of evaluations (200), or after 40 its "
               "model still did not describe the difference (chi2dof > 2: a residual or a "
               "blend, no dipole of two PSFs); flag is set too"),
    ColumnSpec(f"{DIPOLE}_flag_classification", "bool", None,
               "classified as a dipole: signalToNoise > minSn and each lobe's share "
               "|f| / (|f+| + |f-|) < maxFluxRatio"),
    ColumnSpec(f"{DIPOLE}_flag_classificationAttempted", "bool", None,
               "the classification was evaluated (the fit succeeded)"),
)


def emptyColumns(specs: Iterable[ColumnSpec], n: int) -> dict[str, np.ndarray]:
    """Arrays of length ``n`` for ``specs``: NaN for floats, 0 / False otherwise."""
    return {spec.name: np.full(n, np.nan) if spec.dtype == "float64"
            else np.zeros(n, dtype=spec.dtype) for spec in specs}


def addColumns(table: Table, columns: dict[str, np.ndarray],
               specs: Iterable[ColumnSpec]) -> None:
    """Add (or replace) the ``specs`` columns of ``table`` from ``columns``, with units, docs."""
    for spec in specs:
        table[spec.name] = Column(np.asarray(columns[spec.name], dtype=spec.dtype),
                                  unit=spec.unit, description=spec.description)
