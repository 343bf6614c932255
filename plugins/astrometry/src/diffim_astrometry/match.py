"""One-to-one nearest-neighbour matching of two position lists on the sphere."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .sphere import arcsecFromChord, chordFromArcsec


def matchOneToOne(sources: np.ndarray, references: np.ndarray,
                  radiusArcsec: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair unit vectors closer than ``radiusArcsec``, each used at most once.

    All pairs within the radius are found with KD-trees; they are then taken
    closest first, a pair being kept when neither member is already taken
    (greedy one-to-one matching, as survey matchers do).

    Parameters
    ----------
    sources, references : numpy.ndarray
        ``(n, 3)`` and ``(m, 3)`` unit vectors; rows with NaN are never matched.
    radiusArcsec : float
        Largest separation of a match.

    Returns
    -------
    sourceIndex, referenceIndex : numpy.ndarray
        Rows of each match, ordered by ``sourceIndex``.
    distance : numpy.ndarray
        Separations (arcsec).
    """
    empty = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.empty(0))
    goodSources = np.flatnonzero(np.isfinite(sources).all(axis=1))
    goodRefs = np.flatnonzero(np.isfinite(references).all(axis=1))
    if len(goodSources) == 0 or len(goodRefs) == 0:
        return empty
    pairs = cKDTree(sources[goodSources]).sparse_distance_matrix(
        cKDTree(references[goodRefs]), chordFromArcsec(radiusArcsec), output_type="ndarray")
    if len(pairs) == 0:
        return empty
    pairs = pairs[np.argsort(pairs["v"], kind="stable")]
    takenSource = np.zeros(len(goodSources), dtype=bool)
    takenRef = np.zeros(len(goodRefs), dtype=bool)
    keep = np.zeros(len(pairs), dtype=bool)
    for k, (i, j) in enumerate(zip(pairs["i"], pairs["j"])):
        if not (takenSource[i] or takenRef[j]):
            takenSource[i] = takenRef[j] = keep[k] = True
    pairs = pairs[keep]
    pairs = pairs[np.argsort(pairs["i"], kind="stable")]
    return (goodSources[pairs["i"]], goodRefs[pairs["j"]],
            np.asarray(arcsecFromChord(pairs["v"]), dtype=np.float64))
