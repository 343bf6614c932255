"""Cross-matching positions: in pixels, or on the sky through unit vectors.

Positions on the sky are matched as 3-D unit vectors, whose straight-line
(chord) distance is a monotonic function of the angle, so a KD-tree gives exact
angular matches at any declination and across RA = 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

ARCSEC_PER_RADIAN = 180.0 * 3600.0 / np.pi

#: The ways :func:`matchPoints` pairs two lists.
METHODS = ("nearest", "mutual", "oneToOne")


@dataclass(frozen=True)
class Match:
    """Pairs of matched rows.

    Attributes
    ----------
    index1, index2 : numpy.ndarray
        Row of each pair in the first and second list, ordered by ``index1``.
    distance : numpy.ndarray
        Separation of each pair (the inputs' unit; arcsec for :func:`matchSky`).
    """

    index1: np.ndarray
    index2: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.index1)

    @classmethod
    def empty(cls) -> "Match":
        none = np.empty(0, dtype=np.intp)
        return cls(none, none.copy(), np.empty(0))


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


def matchPoints(points1: np.ndarray, points2: np.ndarray, radius: float,
                method: str = "nearest") -> Match:
    """Pair the rows of two position lists closer than ``radius``.

    Parameters
    ----------
    points1, points2 : numpy.ndarray
        ``(n, d)`` and ``(m, d)`` positions; rows with a non-finite value never match.
    radius : float
        Largest separation of a pair.
    method : str
        ``nearest``: each row of the first list with its nearest neighbour in the
        second (a row of the second list may serve several); ``mutual``: only
        pairs that are each other's nearest neighbour; ``oneToOne``: every pair
        within ``radius`` taken closest first, a pair kept when neither row is
        already taken (greedy one-to-one matching, as survey matchers do).

    Returns
    -------
    Match
    """
    if method not in METHODS:
        raise ValueError(f"unknown match method {method!r}; expected one of {', '.join(METHODS)}")
    points1, points2 = _asPoints(points1), _asPoints(points2)
    good1 = np.flatnonzero(np.isfinite(points1).all(axis=1))
    good2 = np.flatnonzero(np.isfinite(points2).all(axis=1))
    if len(good1) == 0 or len(good2) == 0:
        return Match.empty()
    first, second = points1[good1], points2[good2]
    if method == "oneToOne":
        i, j, distance = _greedyPairs(first, second, radius)
    else:
        distance, j = cKDTree(second).query(first, distance_upper_bound=radius)
        i = np.flatnonzero(np.isfinite(distance))
        j, distance = j[i], distance[i]
        if method == "mutual":
            _, back = cKDTree(first).query(second[j])
            mutual = back == i
            i, j, distance = i[mutual], j[mutual], distance[mutual]
    order = np.argsort(i, kind="stable")
    return Match(good1[i[order]], good2[j[order]], np.asarray(distance[order], np.float64))


def _asPoints(points) -> np.ndarray:
    """``(n, d)`` float64 positions (a 1-D input is n points on a line; empty gives n = 0)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    return points.reshape(len(points), points.shape[-1] if points.ndim > 1 else 1)


def _greedyPairs(first: np.ndarray, second: np.ndarray,
                 radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest-first one-to-one pairs among all pairs within ``radius``."""
    pairs = cKDTree(first).sparse_distance_matrix(cKDTree(second), radius,
                                                  output_type="ndarray")
    if len(pairs) == 0:
        none = np.empty(0, dtype=np.intp)
        return none, none.copy(), np.empty(0)
    pairs = pairs[np.argsort(pairs["v"], kind="stable")]
    taken1 = np.zeros(len(first), dtype=bool)
    taken2 = np.zeros(len(second), dtype=bool)
    keep = np.zeros(len(pairs), dtype=bool)
    for k, (i, j) in enumerate(zip(pairs["i"], pairs["j"])):
        if not (taken1[i] or taken2[j]):
            taken1[i] = taken2[j] = keep[k] = True
    pairs = pairs[keep]
    return pairs["i"].astype(np.intp), pairs["j"].astype(np.intp), pairs["v"]


def matchPixels(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray,
                radius: float, method: str = "nearest") -> Match:
    """:func:`matchPoints` of two pixel-position lists (same frame; radius in pixels)."""
    return matchPoints(np.column_stack([x1, y1]), np.column_stack([x2, y2]), radius, method)


def matchSky(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray,
             radiusArcsec: float, method: str = "nearest") -> Match:
    """:func:`matchPoints` of two sky-position lists (degrees); distances in arcsec."""
    found = matchPoints(unitVectors(ra1, dec1), unitVectors(ra2, dec2),
                        float(chordFromArcsec(radiusArcsec)), method)
    return Match(found.index1, found.index2,
                 np.asarray(arcsecFromChord(found.distance), dtype=np.float64))


def nearestDistance(points: np.ndarray, others: np.ndarray | None = None,
                    ignoreWithin: float = 0.0) -> np.ndarray:
    """Distance from each point to its nearest neighbour.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, d)`` positions.
    others : numpy.ndarray, optional
        ``(m, d)`` positions to look among; ``points`` themselves (each point
        excluding itself) when omitted.
    ignoreWithin : float
        With ``others``: neighbours this close or closer are the point's own
        counterpart and are skipped.

    Returns
    -------
    numpy.ndarray
        Distances; inf where there is no neighbour (or the point is not finite).
    """
    points = _asPoints(points)
    result = np.full(len(points), np.inf)
    if others is None:
        others, ignoreWithin, skipSelf = points, 0.0, True
    else:
        others, skipSelf = _asPoints(others), False
    finite = np.isfinite(points).all(axis=1)
    usable = others[np.isfinite(others).all(axis=1)]
    k = 2 if skipSelf else 2 if ignoreWithin > 0 else 1
    if not finite.any() or len(usable) < (2 if skipSelf else 1):
        return result
    k = min(k, len(usable))
    distance, _ = cKDTree(usable).query(points[finite], k=k)
    distance = distance.reshape(-1, k)
    if skipSelf or ignoreWithin > 0:
        second = distance[:, 1] if k == 2 else np.full(len(distance), np.inf)
        own = distance[:, 0] <= ignoreWithin if not skipSelf else np.ones(len(distance), bool)
        result[finite] = np.where(own, second, distance[:, 0])
    else:
        result[finite] = distance[:, 0]
    return result
