"""The ``apCorr`` implementation of the ``applyApCorr`` slot."""
from __future__ import annotations

import logging

import numpy as np
from astropy.table import Column, Table

from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl

from .config import ApplyApCorrConfig
from .errors import InsufficientApCorrStarsError
from .field import ApCorrField, fitApCorrField
from .stars import apertureRadiusPixels, measureStars

_INST_FLUX = "_instFlux"

log = logging.getLogger("diffim.apcorr")


def algorithmName(fluxField: str) -> str:
    """The algorithm a flux column belongs to: its name without a trailing ``_instFlux``."""
    return fluxField[:-len(_INST_FLUX)] if fluxField.endswith(_INST_FLUX) else fluxField


def fieldsToCorrect(diaSources: Table, config: ApplyApCorrConfig) -> list[str]:
    """The ``fluxFields`` present in the table and not in ``ignoreList``."""
    ignored = set(config.ignoreList)
    return [name for name in config.fluxFields if name in diaSources.colnames
            and name not in ignored and algorithmName(name) not in ignored]


def _checkInputs(diaSources: Table, exposure: Exposure, config: ApplyApCorrConfig) -> None:
    missing = [name for name in ("x", "y") if name not in diaSources.colnames]
    if missing:
        raise InputError(f"applyApCorr needs diaSource columns x and y, missing: "
                         f"{', '.join(missing)}")
    if exposure.psf is None:
        raise InputError("applyApCorr needs the science PSF, but exposure.psf is None")
    if exposure.variance is None:
        raise InputError("applyApCorr needs the science variance plane, but "
                         "exposure.variance is None")


def measureApCorr(exposure: Exposure, config: ApplyApCorrConfig) -> ApCorrField:
    """Measure the PSF-flux aperture correction of ``exposure`` from its stars.

    Raises
    ------
    InsufficientApCorrStarsError
        If too few usable stars are found for the fit.
    """
    stars = measureStars(exposure, config)
    return fitApCorrField(stars.x, stars.y, stars.ratio, stars.ratioErr, exposure.shape,
                          config.fitOrder, config.numIter, config.numSigmaClip,
                          config.minDegreesOfFreedom, config.doSelectOrder)


def _correctionColumns(algorithm: str, value: np.ndarray, error: np.ndarray,
                       failed: np.ndarray) -> list[Column]:
    return [
        Column(value, name=f"{algorithm}_apCorr",
               description="aperture correction applied to the flux: the large-aperture over "
                           "PSF flux ratio of the science stars, fitted across the image and "
                           "evaluated at (x, y); NaN when it failed"),
        Column(error, name=f"{algorithm}_apCorrErr",
               description="1-sigma uncertainty of the fitted correction at (x, y) (not "
                           "propagated into the flux error)"),
        Column(failed, name=f"{algorithm}_flag_apCorr",
               description="the correction could not be evaluated or was not positive; the "
                           "flux is left uncorrected"),
    ]


def applyApCorr(diaSources: Table, exposure: Exposure, config: ApplyApCorrConfig) -> Table:
    """Aperture-corrected copy of ``diaSources``; see :meth:`ApplyApCorr.diffim_applyApCorr`."""
    out = diaSources.copy(copy_data=True)
    fields = fieldsToCorrect(diaSources, config)
    if not fields:
        return out
    _checkInputs(diaSources, exposure, config)
    n = len(out)
    value, error = np.full(n, np.nan), np.full(n, np.nan)
    try:
        field = measureApCorr(exposure, config) if n else None
    except InsufficientApCorrStarsError as exc:
        if not config.doFlagApCorrFailures:
            raise
        log.warning("no aperture correction (%s): fluxes left uncorrected and flagged", exc)
        out.meta["apCorr"] = {"failure": str(exc)}
        field = None
    if field is not None:
        x = np.asarray(out["x"], dtype=np.float64)
        y = np.asarray(out["y"], dtype=np.float64)
        placed = np.isfinite(x) & np.isfinite(y)
        value[placed], error[placed] = field.evaluate(x[placed], y[placed])
        out.meta["apCorr"] = {"nStars": len(field.used), "nUsed": int(field.used.sum()),
                              "fitOrder": field.order, "rms": field.rms,
                              "apertureRadius": float(apertureRadiusPixels(exposure, config))}
    ok = np.isfinite(value) & (value > 0) & np.isfinite(error)
    value[~ok], error[~ok] = np.nan, np.nan
    for name in fields:
        algorithm = algorithmName(name)
        out[name][ok] = out[name][ok] * value[ok]
        if f"{name}Err" in out.colnames:
            out[f"{name}Err"][ok] = np.abs(out[f"{name}Err"][ok] * value[ok])
        for column in _correctionColumns(algorithm, value, error, ~ok):
            out[column.name] = column
        if config.doFlagApCorrFailures and f"{algorithm}_flag" in out.colnames:
            out[f"{algorithm}_flag"][~ok] = True
    return out


class ApplyApCorr:
    """Measure the science image's aperture correction and apply it to PSF fluxes.

    LSST's ``MeasureApCorrTask`` (on the science stars) and ``ApplyApCorrTask`` (on the
    diaSources) in one slot.
    """

    ConfigClass = ApplyApCorrConfig

    @hookimpl
    def diffim_applyApCorr(self, diaSources: Table, exposure: Exposure,
                           config: ApplyApCorrConfig) -> Table:
        """Apply aperture corrections, measured on ``exposure``'s stars, to PSF fluxes.

        1. Stars: bright, isolated, unsaturated, unmasked objects of the sky-subtracted
           science image (:func:`diffim_apcorr.stars.measureStars`); each gives the ratio
           of its flux in a large aperture to its PSF flux.
        2. Fit the ratios with a 2-D Chebyshev polynomial of order ``fitOrder`` (weighted,
           clipped; :func:`diffim_apcorr.field.fitApCorrField`).
        3. For each of ``fluxFields`` in the table (not in ``ignoreList``), evaluate the fit
           at every diaSource's (x, y): multiply the flux and its error by it (LSST's naive
           propagation: the correction's own uncertainty is reported in ``<alg>_apCorrErr``
           but not added to the flux error) and record ``<alg>_apCorr``, ``<alg>_apCorrErr``
           and ``<alg>_flag_apCorr``. Where the correction cannot be evaluated (non-finite
           position) or is not positive, the flux stays as it was and ``<alg>_flag_apCorr``
           (and with ``doFlagApCorrFailures`` the table's ``<alg>_flag``) is set.

        When no flux field is present nothing is measured and an unchanged copy returns.

        Parameters
        ----------
        diaSources : astropy.table.Table
            Sources with ``x``, ``y`` and PSF-flux columns; not modified.
        exposure : Exposure
            The science exposure, with PSF and variance; not modified.
        config : ApplyApCorrConfig
            Fields to correct and measurement parameters.

        Returns
        -------
        astropy.table.Table
            A copy of ``diaSources`` (same rows and order) with corrected fluxes, the
            correction columns, and ``meta["apCorr"]`` (stars found and used, weighted rms of
            their ratios about the fit, aperture radius in pixels).

        Raises
        ------
        InsufficientApCorrStarsError
            If fewer than (fit terms + ``minDegreesOfFreedom``) usable stars are found.
        InputError
            If ``x`` or ``y`` is missing, or the exposure has no PSF or variance.
        """
        return applyApCorr(diaSources, exposure, config)
