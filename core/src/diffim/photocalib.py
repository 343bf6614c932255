"""Photometric calibration: the zero point of an exposure."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Column, Table

#: AB magnitude of 1 nJy.
AB_NJY_ZEROPOINT = 31.4

#: 2.5 / ln(10): d(mag) = MAG_PER_LN_FLUX * d(flux) / flux.
MAG_PER_LN_FLUX = 2.5 / np.log(10.0)

#: Instrumental flux columns calibrated by :func:`addCalibratedFluxes`:
#: (flux column, its error column, prefix of the calibrated columns, what it measures).
CALIBRATED_FLUXES = (
    ("psfFlux", "psfFluxErr", "psfFlux", "PSF flux of the difference (psfFlux)"),
    ("ip_diffim_forced_PsfFlux_instFlux", "ip_diffim_forced_PsfFlux_instFluxErr",
     "ip_diffim_forced_PsfFlux",
     "forced PSF flux on the science exposure (ip_diffim_forced_PsfFlux_instFlux)"),
)


@dataclass(frozen=True)
class PhotoCalib:
    """Photometric zero point of an exposure.

    Parameters
    ----------
    zeroPoint : float
        AB magnitude of a source giving 1 count (instFlux = 1) in the image.
    """

    zeroPoint: float

    @property
    def calibration(self) -> float:
        """nJy per count."""
        return float(10.0 ** (0.4 * (AB_NJY_ZEROPOINT - self.zeroPoint)))

    def instFluxToNanojansky(self, instFlux, instFluxErr=None):
        """Convert counts to nJy (and their errors, when given: then a pair is returned)."""
        flux = np.asarray(instFlux, dtype=float) * self.calibration
        if instFluxErr is None:
            return flux
        return flux, np.asarray(instFluxErr, dtype=float) * self.calibration

    def instFluxToMagnitude(self, instFlux, instFluxErr=None):
        """Convert counts to AB magnitude, NaN where not positive (and the 1-sigma
        magnitude errors, when ``instFluxErr`` is given: then a pair is returned)."""
        flux = np.asarray(instFlux, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            positive = np.where(flux > 0, flux, np.nan)
            mag = self.zeroPoint - 2.5 * np.log10(positive)
            if instFluxErr is None:
                return mag
            return mag, MAG_PER_LN_FLUX * np.asarray(instFluxErr, dtype=float) / positive


def addCalibratedFluxes(sources: Table, photoCalib: PhotoCalib | None) -> Table:
    """Add calibrated fluxes (nJy) and AB magnitudes beside the instrumental ones.

    For each present pair of :data:`CALIBRATED_FLUXES`: ``psfFlux_nJy``,
    ``psfFluxErr_nJy``, ``psfMag``, ``psfMagErr`` for the difference's ``psfFlux``;
    ``ip_diffim_forced_PsfFlux_nJy``, ``_nJyErr``, ``_mag``, ``_magErr`` for the forced
    science flux. Nothing is added without a ``photoCalib``. The table is changed in
    place and returned.
    """
    if photoCalib is None or sources is None:
        return sources
    for fluxName, errName, prefix, what in CALIBRATED_FLUXES:
        if fluxName not in sources.colnames or errName not in sources.colnames:
            continue
        flux, err = photoCalib.instFluxToNanojansky(sources[fluxName], sources[errName])
        mag, magErr = photoCalib.instFluxToMagnitude(sources[fluxName], sources[errName])
        if prefix == "psfFlux":
            names = ("psfFlux_nJy", "psfFluxErr_nJy", "psfMag", "psfMagErr")
        else:
            names = (f"{prefix}_nJy", f"{prefix}_nJyErr", f"{prefix}_mag", f"{prefix}_magErr")
        sources[names[0]] = Column(flux, unit="nJy",
                                   description=f"{what} in nJy: instFlux times the science "
                                               "exposure's photoCalib calibration")
        sources[names[1]] = Column(err, unit="nJy", description=f"1-sigma error of {names[0]}")
        sources[names[2]] = Column(mag, unit="mag",
                                   description=f"AB magnitude of {names[0]}: "
                                               "-2.5 log10(nJy) + 31.4; NaN unless positive")
        sources[names[3]] = Column(magErr, unit="mag",
                                   description=f"1-sigma error of {names[2]}: "
                                               f"2.5 / ln(10) * {names[1]} / {names[0]}")
    return sources
