"""Move catalog positions along their proper motions to the epoch of an exposure."""
from __future__ import annotations

import numpy as np
from astropy.time import Time

from diffim.errors import InputError
from diffim.matching import ARCSEC_PER_RADIAN, raDec, unitVectors


def julianYear(isoDate: str) -> float:
    """Julian epoch (years) of an ISO 8601 UTC date such as ``2024-03-10T05:12:00``.

    Raises
    ------
    InputError
        If the date cannot be read.
    """
    try:
        return float(Time(isoDate, scale="utc").jyear)
    except ValueError as exc:
        raise InputError(f"exposure obsDate {isoDate!r} is not an ISO 8601 date "
                         f"(e.g. 2024-03-10T05:12:00): {exc}") from None


def propagate(ra: np.ndarray, dec: np.ndarray, pmRa: np.ndarray, pmDec: np.ndarray,
              years: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Positions after ``years`` of proper motion.

    Each position moves along the sphere by ``years * (pmRa * east + pmDec *
    north)``, east and north being the local unit vectors; the result is
    renormalised onto the sphere. This is exact to first order in the motion,
    about 1e-6 arcsec for a 10 arcsec displacement, and stays valid near the
    poles where moving right ascension by ``pmRa / cos(dec)`` does not.

    Parameters
    ----------
    ra, dec : numpy.ndarray
        Catalog positions (degrees).
    pmRa : numpy.ndarray
        Proper motion in right ascension times cos(dec) (mas/yr); NaN counts as 0.
    pmDec : numpy.ndarray
        Proper motion in declination (mas/yr); NaN counts as 0.
    years : float or numpy.ndarray
        Time from the catalog epoch to the target epoch.

    Returns
    -------
    ra, dec : numpy.ndarray
        Moved positions (degrees).
    """
    alpha, delta = np.deg2rad(np.asarray(ra, float)), np.deg2rad(np.asarray(dec, float))
    east = np.column_stack([-np.sin(alpha), np.cos(alpha), np.zeros_like(alpha)])
    north = np.column_stack([-np.sin(delta) * np.cos(alpha), -np.sin(delta) * np.sin(alpha),
                             np.cos(delta)])
    scale = np.asarray(years, float) / 1000.0 / ARCSEC_PER_RADIAN
    muE = np.nan_to_num(np.asarray(pmRa, float)) * scale
    muN = np.nan_to_num(np.asarray(pmDec, float)) * scale
    moved = unitVectors(ra, dec) + muE[:, None] * east + muN[:, None] * north
    moved /= np.linalg.norm(moved, axis=1)[:, None]
    return raDec(moved)
