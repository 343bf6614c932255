"""The ``psf`` implementation of the ``forcedMeasurement`` slot."""
from __future__ import annotations

import numpy as np
from astropy.table import Column, Table

from diffim.background import exposureSky
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.photometry import measurePsfFlux, shiftedPsf
from diffim.psf import Psf

from .config import PsfForcedMeasurementConfig
from .schema import FORCED_SCHEMA, PREFIX


def _checkInputs(diaSources: Table, science: Exposure,
                 config: PsfForcedMeasurementConfig) -> None:
    missing = [name for name in ("x", "y") if name not in diaSources.colnames]
    if missing:
        raise InputError(f"forcedMeasurement needs diaSource columns x and y (science pixels), "
                         f"missing: {', '.join(missing)}")
    if science.psf is None:
        raise InputError("forcedMeasurement needs the science PSF, but science.psf is None")
    if science.variance is None:
        raise InputError("forcedMeasurement needs the science variance plane, but "
                         "science.variance is None")


def usablePixels(science: Exposure, badMaskPlanes: tuple[str, ...]) -> np.ndarray:
    """True where the science pixel is finite and has none of ``badMaskPlanes`` set."""
    return (~science.maskedPixels(*badMaskPlanes, context="forcedMeasurement.badMaskPlanes")
            & np.isfinite(science.image)
            & np.isfinite(science.variance))


def fittedArea(psf: Psf, valid: np.ndarray, x: float, y: float) -> float:
    """Effective area ``(sum P)**2 / sum P**2`` of the PSF over the pixels a fit at (x, y) uses.

    ``P`` is the unit-sum PSF image moved to ``(x, y)`` (as
    :func:`diffim.photometry.measurePsfFlux` fits it), restricted to the pixels of ``valid``
    its stamp covers; NaN when there are none.
    """
    stamp, ix, iy = shiftedPsf(psf, x, y)
    half = stamp.shape[0] // 2
    height, width = valid.shape
    y0, y1 = max(iy - half, 0), min(iy + half + 1, height)
    x0, x1 = max(ix - half, 0), min(ix + half + 1, width)
    if y1 <= y0 or x1 <= x0:
        return float("nan")
    model = stamp[y0 - iy + half:y1 - iy + half, x0 - ix + half:x1 - ix + half]
    p = model[valid[y0:y1, x0:x1]]
    norm = float(np.dot(p, p))
    return float(p.sum() ** 2 / norm) if norm > 0 else float("nan")


def forcedPsfFlux(diaSources: Table, science: Exposure,
                  config: PsfForcedMeasurementConfig) -> Table:
    """PSF fluxes on the science exposure at the diaSource positions.

    See :meth:`PsfForcedMeasurement.diffim_forcedMeasurement`.
    """
    _checkInputs(diaSources, science, config)
    n = len(diaSources)
    x = np.asarray(diaSources["x"], dtype=np.float64)
    y = np.asarray(diaSources["y"], dtype=np.float64)
    placed = np.isfinite(x) & np.isfinite(y)
    valid = usablePixels(science, config.badMaskPlanes)
    image = science.image
    if config.doSubtractBackground and valid.any():
        image = image - exposureSky(science, config.backgroundBinSize)
    photometry = measurePsfFlux(image, science.variance, valid, science.psf,
                                x[placed], y[placed])
    columns = {spec.name: np.full(n, np.nan) if spec.dtype == "float64"
               else np.zeros(n, dtype=bool) for spec in FORCED_SCHEMA}
    columns[f"{PREFIX}_instFlux"][placed] = photometry.flux
    columns[f"{PREFIX}_instFluxErr"][placed] = photometry.fluxErr
    columns[f"{PREFIX}_flag_noGoodPixels"][placed] = photometry.noGoodPixels
    columns[f"{PREFIX}_flag_edge"][placed] = photometry.edge
    columns[f"{PREFIX}_area"][placed] = [fittedArea(science.psf, valid, xs, ys)
                                         for xs, ys in zip(x[placed], y[placed])]
    failed = ~(np.isfinite(columns[f"{PREFIX}_instFlux"])
               & np.isfinite(columns[f"{PREFIX}_instFluxErr"]))
    columns[f"{PREFIX}_flag"] = failed | columns[f"{PREFIX}_flag_noGoodPixels"]
    columns[f"{PREFIX}_instFlux"][failed] = np.nan
    out = diaSources.copy(copy_data=True)
    for spec in FORCED_SCHEMA:
        out[spec.name] = Column(columns[spec.name].astype(spec.dtype), unit=spec.unit,
                                description=spec.description)
    return out


class PsfForcedMeasurement:
    """Forced PSF photometry on the science exposure (LSST ``ForcedMeasurementTask``)."""

    ConfigClass = PsfForcedMeasurementConfig

    @hookimpl
    def diffim_forcedMeasurement(self, diaSources: Table, science: Exposure,
                                 config: PsfForcedMeasurementConfig) -> Table:
        """Measure PSF fluxes on the science exposure at the diaSource positions.

        The diaSources' ``x``, ``y`` are positions on the science pixel grid (the
        difference image is made on it), so they are used as they are (LSST's
        ``base_TransformedCentroid`` reduces to the identity there). With
        ``doSubtractBackground`` a smooth sky is first removed from a copy of the
        science image: :func:`diffim.background.exposureSky`, the clipped mode in
        ``backgroundBinSize`` cells estimated again without the detected sources,
        grown by one PSF FWHM (the sky the aperture correction used, when its cells
        are the same size: it is estimated once). At each position the
        unit-sum science PSF model, moved to the sub-pixel position, is fitted to the
        science pixels with uniform weights by :func:`diffim.photometry.measurePsfFlux`,
        leaving out non-finite pixels and those with a ``badMaskPlanes`` bit.

        Parameters
        ----------
        diaSources : astropy.table.Table
            Sources with ``x``, ``y`` columns (0-based science pixels); not modified.
        science : Exposure
            The science exposure, with PSF and variance; not modified.
        config : PsfForcedMeasurementConfig
            Which pixels to leave out.

        Returns
        -------
        astropy.table.Table
            A copy of ``diaSources`` (same rows, same order) with the columns of
            :data:`diffim_forced.schema.FORCED_SCHEMA` added.

        Raises
        ------
        InputError
            If ``x`` or ``y`` is missing, or the science exposure has no PSF or variance.
        """
        return forcedPsfFlux(diaSources, science, config)
