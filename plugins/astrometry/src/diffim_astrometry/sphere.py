"""Unit vectors on the celestial sphere and chord lengths for KD-tree matching."""
from __future__ import annotations

import numpy as np

ARCSEC_PER_RADIAN = 180.0 * 3600.0 / np.pi


def unitVectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """``(n, 3)`` Cartesian unit vectors of positions given in degrees."""
    ra, dec = np.deg2rad(np.asarray(ra, float)), np.deg2rad(np.asarray(dec, float))
    cosDec = np.cos(dec)
    return np.column_stack([cosDec * np.cos(ra), cosDec * np.sin(ra), np.sin(dec)])


def raDec(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right ascension in [0, 360) and declination (degrees) of ``(n, 3)`` vectors."""
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    ra = np.rad2deg(np.arctan2(y, x)) % 360.0
    dec = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return ra, dec


def chordFromArcsec(arcsec: float | np.ndarray) -> float | np.ndarray:
    """Straight-line distance between unit vectors separated by ``arcsec``."""
    return 2.0 * np.sin(np.asarray(arcsec) / ARCSEC_PER_RADIAN / 2.0)


def arcsecFromChord(chord: float | np.ndarray) -> float | np.ndarray:
    """Angle (arcsec) between unit vectors a straight-line distance ``chord`` apart."""
    return 2.0 * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0)) * ARCSEC_PER_RADIAN
