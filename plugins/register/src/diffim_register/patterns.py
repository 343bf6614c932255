"""Find the similarity transformation between two star lists from their triangle patterns.

Each star and its nearest neighbours form triangles. A triangle's shape — its
two smaller sides divided by its longest — does not change under translation,
rotation or scaling, and ordering the vertices by the length of the side
opposite them fixes which vertex is which. Triangles of the template and the
science list with nearly equal shapes are candidate correspondences; each
gives, from its three vertex pairs, a similarity transformation (shift,
rotation, scale). The transformation that brings the most template stars
within a match radius of a science star wins.

Positions are handled as complex numbers ``x + iy``; a similarity
transformation is then ``z -> a z + b``.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

#: Neighbours of each star that form its triangles (with the star itself,
#: ``C(n + 1, 3)`` triangles per star).
NEIGHBOURS = 5
#: Largest difference of the triangle shape ratios for a candidate correspondence.
SHAPE_TOLERANCE = 0.02
#: Triangles whose shortest side is below this (pixels) are too small to orient reliably.
MIN_SIDE = 5.0
#: Largest scale change (either way) between template and science pixels.
MAX_SCALE_CHANGE = 2.0


@dataclass(frozen=True)
class Similarity:
    """``science = scale * rotation(template) + shift``, as ``z -> a z + b``.

    Attributes
    ----------
    a, b : complex
        Scale-rotation and shift.
    nAgree : int
        Template stars brought within the match radius of a science star.
    """

    a: complex
    b: complex
    nAgree: int

    def __call__(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        z = self.a * (np.asarray(x) + 1j * np.asarray(y)) + self.b
        return z.real, z.imag


def triangles(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour triangles of a star list, with canonically ordered vertices.

    Returns
    -------
    vertices : numpy.ndarray
        ``(n, 3)`` star indices, ordered by decreasing length of the opposite side.
    shapes : numpy.ndarray
        ``(n, 2)`` middle and shortest side over the longest.
    """
    points = np.column_stack([x, y])
    k = min(NEIGHBOURS + 1, len(points))
    if k < 3:
        return np.empty((0, 3), dtype=np.intp), np.empty((0, 2))
    _, neighbours = cKDTree(points).query(points, k=k)
    triples = {tuple(sorted(t)) for row in neighbours for t in combinations(row, 3)}
    vertices = np.array(sorted(triples), dtype=np.intp)
    z = x[vertices] + 1j * y[vertices]
    opposite = np.abs(np.stack([z[:, 1] - z[:, 2], z[:, 2] - z[:, 0], z[:, 0] - z[:, 1]],
                               axis=1))
    order = np.argsort(-opposite, axis=1, kind="stable")
    vertices = np.take_along_axis(vertices, order, axis=1)
    sides = np.take_along_axis(opposite, order, axis=1)
    keep = sides[:, 2] >= MIN_SIDE
    return vertices[keep], sides[keep, 1:] / sides[keep, :1]


def _candidateSimilarities(zt: np.ndarray, zs: np.ndarray, radius: float
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` of the similarity of each template/science triangle pair whose shapes agree.

    Pairs whose vertices do not fit within ``radius`` or whose scale change
    exceeds :data:`MAX_SCALE_CHANGE` are dropped.
    """
    tv, tshape = triangles(zt.real, zt.imag)
    sv, sshape = triangles(zs.real, zs.imag)
    if len(tv) == 0 or len(sv) == 0:
        return np.empty(0, complex), np.empty(0, complex)
    pairs = cKDTree(tshape).query_ball_point(sshape, SHAPE_TOLERANCE)
    si = np.repeat(np.arange(len(sv)), [len(p) for p in pairs])
    ti = np.fromiter((j for p in pairs for j in p), dtype=np.intp, count=len(si))
    src, dst = zt[tv[ti]], zs[sv[si]]
    srcCentred = src - src.mean(axis=1, keepdims=True)
    dstCentred = dst - dst.mean(axis=1, keepdims=True)
    a = (np.conj(srcCentred) * dstCentred).sum(axis=1) / (np.abs(srcCentred) ** 2).sum(axis=1)
    b = dst.mean(axis=1) - a * src.mean(axis=1)
    fits = np.abs(a[:, None] * src + b[:, None] - dst).max(axis=1) < radius
    scale = np.abs(a)
    fits &= (scale < MAX_SCALE_CHANGE) & (scale > 1.0 / MAX_SCALE_CHANGE)
    return a[fits], b[fits]


def findSimilarity(tx, ty, sx, sy, radius: float) -> Similarity | None:
    """The similarity transformation, template to science pixels, best supported by the stars.

    Parameters
    ----------
    tx, ty : numpy.ndarray
        Template star positions (a few tens of the brightest).
    sx, sy : numpy.ndarray
        Science star positions.
    radius : float
        Match radius (science pixels) for the vertex fit and for counting agreeing stars.

    Returns
    -------
    Similarity or None
        The transformation agreeing with the most template stars (None when no
        triangle pair is consistent).
    """
    zt = np.asarray(tx, dtype=np.float64) + 1j * np.asarray(ty, dtype=np.float64)
    zs = np.asarray(sx, dtype=np.float64) + 1j * np.asarray(sy, dtype=np.float64)
    a, b = _candidateSimilarities(zt, zs, radius)
    if len(a) == 0:
        return None
    mapped = a[:, None] * zt[None, :] + b[:, None]
    distance, _ = cKDTree(np.column_stack([zs.real, zs.imag])).query(
        np.column_stack([mapped.real.ravel(), mapped.imag.ravel()]), distance_upper_bound=radius)
    agree = np.isfinite(distance).reshape(mapped.shape).sum(axis=1)
    best = int(np.argmax(agree))
    return Similarity(complex(a[best]), complex(b[best]), int(agree[best]))
