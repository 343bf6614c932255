"""A spatially varying PSF: every stamp pixel a polynomial in position, fitted to the stars."""
from __future__ import annotations

import numpy as np

from diffim.polynomial import PolynomialBasis
from diffim.psf import SpatialPsf

from .combine import amplitudes, rejectOddShapes, shapeExcess, smoothWings
from .stars import PsfStars

#: Fewest stars per polynomial term of a spatial fit.
STARS_PER_TERM = 3


def fitPixels(stamps: np.ndarray, weights: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Weighted least-squares polynomial of every stamp pixel over the stars.

    Each pixel uses only the stars where it is valid. Returns ``(nterms, h, w)``
    coefficients; a pixel with too few valid stars gets a constant (its weighted mean).
    """
    n, h, w = stamps.shape
    valid = np.isfinite(stamps).reshape(n, -1)
    values = np.where(valid, stamps.reshape(n, -1), 0.0)
    wv = weights[:, None] * valid
    normal = np.einsum("ip,it,iu->ptu", wv, terms, terms)
    rhs = np.einsum("ip,it->pt", wv * values, terms)
    solvable = np.linalg.matrix_rank(normal) == terms.shape[1]
    coeffs = np.zeros((h * w, terms.shape[1]))
    coeffs[solvable] = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0]
    total = wv.sum(axis=0)
    coeffs[~solvable, 0] = np.where(total > 0, (wv * values).sum(axis=0)
                                    / np.where(total > 0, total, 1.0), 0.0)[~solvable]
    return coeffs.T.reshape(-1, h, w)


def spatialPsf(stamps: np.ndarray, variances: np.ndarray, weights: np.ndarray, stars: PsfStars,
               order: int, shape: tuple[int, int], iterations: int = 2) -> SpatialPsf | None:
    """A SpatialPsf whose pixels are polynomials in position, fitted to the star stamps.

    Every pixel is fitted by S/N-weighted least squares over the stars. Each star
    is then renormalised to the model at its own position and stars whose shape
    departs from it (beyond their noise) are rejected, ``iterations`` times. The
    model is handed to :class:`~diffim.psf.SpatialPsf` as its values on a grid of
    ``(order+2)²`` positions spanning the image, which that class's polynomial of
    the same order reproduces. Returns None when there are fewer than
    :data:`STARS_PER_TERM` stars per polynomial term.
    """
    height, width = shape
    basis = PolynomialBasis.forImage(order, width, height)
    if len(stars) < STARS_PER_TERM * basis.nTerms:
        return None
    stamps, variances = stamps.copy(), variances.copy()
    terms = basis.evaluate(stars.x, stars.y)
    keep = np.arange(len(stars))
    for _ in range(iterations):
        coeffs = fitPixels(stamps[keep], weights[keep], terms[keep])
        models = np.einsum("it,tyx->iyx", terms[keep], coeffs)
        amp = amplitudes(stamps[keep], models)
        good = np.isfinite(amp)
        keep, amp, models = keep[good], amp[good], models[good]
        stamps[keep] /= amp[:, None, None]
        variances[keep] /= amp[:, None, None] ** 2
        keep = keep[rejectOddShapes(shapeExcess(stamps[keep], variances[keep], models))]
        if len(keep) < STARS_PER_TERM * basis.nTerms:
            return None
    coeffs = fitPixels(stamps[keep], weights[keep], terms[keep])
    gx, gy = (g.ravel() for g in np.meshgrid(np.linspace(0.0, width - 1.0, order + 2),
                                               np.linspace(0.0, height - 1.0, order + 2)))
    gridStamps = [smoothWings(np.einsum("t,tyx->yx", t, coeffs)) for t in basis.evaluate(gx, gy)]
    if any(stamp.sum() <= 0 for stamp in gridStamps):
        return None
    return SpatialPsf(np.array(gridStamps), gx, gy, order, (width, height))
