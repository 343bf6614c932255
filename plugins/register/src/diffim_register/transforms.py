"""Transformations between template and science pixels, and their least-squares fits.

Two models, both with the same interface (:class:`Transform`):

* :class:`PolynomialTransform`: an affine transformation plus polynomial terms
  up to a total order, fitted in both directions (template to science, and
  science to template) on the same matches; used when the exposures have no
  usable WCS.
* :class:`SipTransform`: a TAN-SIP WCS fitted to the template (template pixels
  to the sky positions of the matched science stars), composed with the science
  WCS; the model of LSST's RegisterTask.

Both are fitted by linear least squares on the polynomial terms of
:class:`diffim.polynomial.PolynomialBasis`; the SIP fit works in the tangent
plane of a reference point that is iterated onto the template centre.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from astropy.wcs import WCS, Sip

from diffim.polynomial import PolynomialBasis, termPowers


class Transform(Protocol):
    """A mapping between template and science pixel coordinates (0-based)."""

    order: int

    def toScience(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Science pixel position of template pixel ``(x, y)``."""

    def toTemplate(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Template pixel position of science pixel ``(x, y)``."""


def _basis(order: int, centre: tuple[float, float], scale: float) -> PolynomialBasis:
    """Powers of ``(x - centre[0]) / scale`` and ``(y - centre[1]) / scale`` up to ``order``."""
    return PolynomialBasis(order, (centre[0] - scale, centre[0] + scale),
                           (centre[1] - scale, centre[1] + scale))


@dataclass(frozen=True)
class _Polynomial:
    """``(x, y) -> (X, Y)`` as polynomials of coordinates normalised to about [-1, 1]."""

    basis: PolynomialBasis
    coeffs: np.ndarray  # (nTerms, 2)

    def __call__(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                   np.asarray(y, dtype=np.float64))
        out = self.basis.evaluate(x, y) @ self.coeffs
        return out[:, 0].reshape(x.shape), out[:, 1].reshape(x.shape)

    @classmethod
    def fit(cls, x, y, X, Y, order: int) -> "_Polynomial":
        """Least-squares fit over the matches' bounding square (centre their mean)."""
        centre = (float(np.mean(x)), float(np.mean(y)))
        scale = float(max(np.ptp(x), np.ptp(y), 1.0)) / 2.0
        basis = _basis(order, centre, scale)
        coeffs, *_ = np.linalg.lstsq(basis.evaluate(x, y), np.stack([X, Y], axis=-1),
                                     rcond=None)
        return cls(basis, coeffs)


@dataclass(frozen=True)
class PolynomialTransform:
    """Affine-plus-polynomial pixel transformation, fitted in both directions.

    Attributes
    ----------
    order : int
        Total polynomial order (1 = affine).
    forward : callable
        Template to science pixels.
    inverse : callable
        Science to template pixels (fitted on the same matches, not inverted).
    """

    order: int
    forward: _Polynomial
    inverse: _Polynomial

    def toScience(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return self.forward(x, y)

    def toTemplate(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return self.inverse(x, y)


def fitPolynomial(tx, ty, sx, sy, order: int) -> PolynomialTransform:
    """Least-squares :class:`PolynomialTransform` of total ``order`` through matched positions.

    Parameters
    ----------
    tx, ty : numpy.ndarray
        Template pixel positions of the matched stars.
    sx, sy : numpy.ndarray
        Science pixel positions of the same stars.
    order : int
        Total order (1 = affine).
    """
    return PolynomialTransform(order, _Polynomial.fit(tx, ty, sx, sy, order),
                               _Polynomial.fit(sx, sy, tx, ty, order))


def _gnomonic(ra, dec, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Tangent-plane coordinates (degrees; east, north) of sky positions (degrees)."""
    ra0, dec0 = np.radians(centre)
    ra, dec = np.radians(ra), np.radians(dec)
    cosc = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cosc
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cosc
    return np.degrees(xi), np.degrees(eta)


def _inverseGnomonic(xi, eta, centre: tuple[float, float]) -> tuple[float, float]:
    """Sky position (degrees) of tangent-plane coordinates (degrees)."""
    ra0, dec0 = np.radians(centre)
    xi, eta = np.radians(xi), np.radians(eta)
    rho = np.hypot(xi, eta)
    c = np.arctan(rho)
    if rho == 0:
        return float(centre[0]), float(centre[1])
    dec = np.arcsin(np.cos(c) * np.sin(dec0) + eta * np.sin(c) * np.cos(dec0) / rho)
    ra = ra0 + np.arctan2(xi * np.sin(c), rho * np.cos(dec0) * np.cos(c)
                          - eta * np.sin(dec0) * np.sin(c))
    return float(np.degrees(ra) % 360.0), float(np.degrees(dec))


#: Iterations moving the tangent point onto the template reference pixel (each
#: reduces its error by the ratio of the field size to a radian, squared).
TANGENT_POINT_ITERATIONS = 3


def fitTanSip(x, y, ra, dec, order: int, crpix: tuple[float, float]) -> WCS:
    """Least-squares TAN-SIP WCS mapping pixels ``(x, y)`` to sky ``(ra, dec)``.

    The sky positions are projected onto the tangent plane of the current
    reference point and the tangent-plane coordinates fitted as polynomials of
    the pixel offsets from ``crpix``; the fitted position of ``crpix`` becomes
    the next reference point. The linear terms are the CD matrix and the
    higher ones, multiplied by its inverse, the SIP ``A`` and ``B``
    coefficients (no inverse ``AP``/``BP``: astropy inverts iteratively).

    Parameters
    ----------
    x, y : numpy.ndarray
        0-based pixel positions.
    ra, dec : numpy.ndarray
        Sky positions (degrees).
    order : int
        Polynomial order; 1 gives a plain TAN WCS.
    crpix : tuple of float
        Reference pixel (1-based, FITS convention).
    """
    u = np.asarray(x, dtype=np.float64) + 1.0 - crpix[0]
    v = np.asarray(y, dtype=np.float64) + 1.0 - crpix[1]
    design = _basis(order, (crpix[0] - 1.0, crpix[1] - 1.0), 1.0).evaluate(x, y)  # u**i v**j
    nearest = int(np.argmin(u * u + v * v))
    crval = (float(ra[nearest]), float(dec[nearest]))
    for _ in range(TANGENT_POINT_ITERATIONS):
        xi, eta = _gnomonic(ra, dec, crval)
        coeffs, *_ = np.linalg.lstsq(design, np.stack([xi, eta], axis=-1), rcond=None)
        crval = _inverseGnomonic(coeffs[0, 0], coeffs[0, 1], crval)
    xi, eta = _gnomonic(ra, dec, crval)
    coeffs, *_ = np.linalg.lstsq(design[:, 1:], np.stack([xi, eta], axis=-1), rcond=None)
    cd = coeffs[:2].T
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = crval
    wcs.wcs.crpix = crpix
    wcs.wcs.cd = cd
    wcs.wcs.radesys = "ICRS"
    if order >= 2:
        sip = np.linalg.solve(cd, coeffs[2:].T)
        a, b = np.zeros((order + 1, order + 1)), np.zeros((order + 1, order + 1))
        for (i, j), ca, cb in zip(termPowers(order)[3:], sip[0], sip[1]):
            a[i, j], b[i, j] = ca, cb
        wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
        wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    wcs.wcs.set()
    return wcs


@dataclass(frozen=True)
class SipTransform:
    """A fitted template TAN-SIP WCS composed with the science WCS.

    Attributes
    ----------
    order : int
        SIP order (1 = plain TAN).
    templateWcs : astropy.wcs.WCS
        The fitted template WCS.
    scienceWcs : astropy.wcs.WCS
        The (celestial) science WCS.
    """

    order: int
    templateWcs: WCS
    scienceWcs: WCS

    def toScience(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return self.scienceWcs.world_to_pixel_values(*self.templateWcs.pixel_to_world_values(x, y))

    def toTemplate(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return self.templateWcs.world_to_pixel_values(*self.scienceWcs.pixel_to_world_values(x, y))


def sipFitter(scienceWcs: WCS, templateShape: tuple[int, int]):
    """A ``fit(tx, ty, sx, sy, order) -> SipTransform`` for a science WCS and template shape.

    The matched science stars are placed on the sky with ``scienceWcs``; the
    template WCS is referred to the template centre.
    """
    h, w = templateShape
    crpix = ((w + 1) / 2.0, (h + 1) / 2.0)

    def fit(tx, ty, sx, sy, order: int) -> SipTransform:
        ra, dec = scienceWcs.pixel_to_world_values(sx, sy)
        return SipTransform(order, fitTanSip(tx, ty, ra, dec, order, crpix), scienceWcs)

    return fit
