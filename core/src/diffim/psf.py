"""Point-spread-function models that can be evaluated at any position.

Every model returns, from :meth:`Psf.at`, a unit-sum image on an odd square
stamp whose centre pixel is the PSF centre (a *kernel image* in LSST terms).
Arrays are ``[y, x]``; positions are 0-based pixel coordinates.
"""
from __future__ import annotations

import abc

import numpy as np

from .polynomial import PolynomialBasis

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _normalised(stamp: np.ndarray) -> np.ndarray:
    stamp = np.asarray(stamp, dtype=np.float64)
    total = stamp.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("PSF stamp must have a positive, finite sum")
    return stamp / total


def _check_stamp(stamp: np.ndarray) -> None:
    if stamp.ndim != 2 or stamp.shape[0] != stamp.shape[1] or stamp.shape[0] % 2 == 0:
        raise ValueError(f"PSF stamp must be square with an odd size, got shape {stamp.shape}")


def moments(stamp: np.ndarray) -> tuple[float, float, float, float, float]:
    """Return ``(xc, yc, Ixx, Iyy, Ixy)`` of a stamp, offsets relative to its centre pixel."""
    h, w = stamp.shape
    y, x = np.mgrid[:h, :w]
    x = x - w // 2
    y = y - h // 2
    total = stamp.sum()
    xc = (stamp * x).sum() / total
    yc = (stamp * y).sum() / total
    ixx = (stamp * (x - xc) ** 2).sum() / total
    iyy = (stamp * (y - yc) ** 2).sum() / total
    ixy = (stamp * (x - xc) * (y - yc)).sum() / total
    return xc, yc, ixx, iyy, ixy


def determinant_radius(stamp: np.ndarray) -> float:
    """LSST's PSF "sigma": ``(Ixx*Iyy - Ixy**2) ** 0.25`` of the stamp's second moments."""
    _, _, ixx, iyy, ixy = moments(stamp)
    return float(max(ixx * iyy - ixy * ixy, 0.0) ** 0.25)


class Psf(abc.ABC):
    """A PSF model evaluated at any ``(x, y)``.

    Subclasses implement :meth:`at`; the average position (where single-number
    summaries such as :meth:`sigma` are taken) is ``averagePosition``.
    """

    averagePosition: tuple[float, float] = (0.0, 0.0)

    @abc.abstractmethod
    def at(self, x: float, y: float) -> np.ndarray:
        """Return the unit-sum PSF image at pixel position ``(x, y)``.

        Parameters
        ----------
        x, y : float
            0-based pixel position.

        Returns
        -------
        numpy.ndarray
            Odd, square, float64 stamp centred on its middle pixel.
        """

    def sigma(self, x: float | None = None, y: float | None = None) -> float:
        """Determinant radius (pixels) at ``(x, y)`` or at the average position."""
        if x is None or y is None:
            x, y = self.averagePosition
        return determinant_radius(self.at(x, y))

    def fwhm(self, x: float | None = None, y: float | None = None) -> float:
        """FWHM (pixels) of the Gaussian with the same determinant radius."""
        return FWHM_PER_SIGMA * self.sigma(x, y)

    @property
    def isSpatiallyVarying(self) -> bool:
        return False

    @abc.abstractmethod
    def copy(self) -> "Psf":
        """Return an independent copy."""


class ImagePsf(Psf):
    """A PSF that is the same everywhere, given as an image.

    Parameters
    ----------
    image : numpy.ndarray
        Odd square stamp; normalised to unit sum here.
    averagePosition : tuple of float, optional
        Position the image was measured at.
    """

    def __init__(self, image: np.ndarray, averagePosition: tuple[float, float] = (0.0, 0.0)):
        _check_stamp(np.asarray(image))
        self.image = _normalised(image)
        self.averagePosition = averagePosition

    def at(self, x: float, y: float) -> np.ndarray:
        return self.image.copy()

    def copy(self) -> "ImagePsf":
        return ImagePsf(self.image, self.averagePosition)

    def __repr__(self) -> str:
        return f"ImagePsf(shape={self.image.shape}, sigma={self.sigma():.3f})"


def gaussian_stamp(sigma: float, size: int | None = None, oversample: int = 5) -> np.ndarray:
    """Pixel-integrated circular Gaussian on an odd stamp (unit sum).

    Parameters
    ----------
    sigma : float
        Gaussian sigma in pixels.
    size : int, optional
        Stamp width; ``2*ceil(5*sigma)+1`` when omitted.
    oversample : int
        Sub-pixel samples per pixel per axis for the pixel integration.
    """
    if size is None:
        size = 2 * int(np.ceil(5.0 * sigma)) + 1
    half = size // 2
    offs = (np.arange(oversample) + 0.5) / oversample - 0.5
    coords = (np.arange(-half, half + 1)[:, None] + offs[None, :]).ravel()
    g = np.exp(-0.5 * (coords / sigma) ** 2).reshape(size, oversample).sum(axis=1)
    return _normalised(np.outer(g, g))


class GaussianPsf(ImagePsf):
    """A circular Gaussian PSF, the same everywhere.

    Parameters
    ----------
    sigma : float
        Gaussian sigma in pixels.
    size : int, optional
        Stamp width (odd); ``2*ceil(5*sigma)+1`` when omitted.
    """

    def __init__(self, sigma: float, size: int | None = None,
                 averagePosition: tuple[float, float] = (0.0, 0.0)):
        if not sigma > 0:
            raise ValueError(f"Gaussian PSF sigma must be positive, got {sigma}")
        self.gaussianSigma = float(sigma)
        super().__init__(gaussian_stamp(sigma, size), averagePosition)

    def copy(self) -> "GaussianPsf":
        return GaussianPsf(self.gaussianSigma, self.image.shape[0], self.averagePosition)


class SpatialPsf(Psf):
    """A spatially varying PSF: each stamp pixel is a polynomial in position.

    Built from PSF stamps measured (or known) at several positions; the pixel
    values are fitted by least squares with a polynomial of the given order in
    ``(x, y)`` scaled to [-1, 1] over ``bbox``.

    Parameters
    ----------
    stamps : numpy.ndarray
        ``(n, h, w)`` stamps (each normalised to unit sum here).
    x, y : array_like
        The ``n`` positions of the stamps.
    order : int
        Polynomial order of the spatial variation.
    bbox : tuple of int
        ``(width, height)`` of the image the model describes.
    """

    def __init__(self, stamps: np.ndarray, x, y, order: int, bbox: tuple[int, int]):
        stamps = np.asarray(stamps, dtype=np.float64)
        if stamps.ndim != 3:
            raise ValueError("SpatialPsf needs an (n, h, w) stack of stamps")
        _check_stamp(stamps[0])
        self.stamps = np.stack([_normalised(s) for s in stamps])
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.order = int(order)
        self.bbox = (int(bbox[0]), int(bbox[1]))
        self._basis = PolynomialBasis.forImage(self.order, *self.bbox)
        if len(self.x) < self._basis.nTerms:
            raise ValueError(f"SpatialPsf of order {order} needs at least {self._basis.nTerms} "
                             f"stamps, got {len(self.x)}")
        design = self._basis.evaluate(self.x, self.y)
        flat = self.stamps.reshape(len(self.x), -1)
        self._coeffs, *_ = np.linalg.lstsq(design, flat, rcond=None)
        self.averagePosition = ((self.bbox[0] - 1) / 2.0, (self.bbox[1] - 1) / 2.0)

    @property
    def isSpatiallyVarying(self) -> bool:
        return self.order > 0

    def at(self, x: float, y: float) -> np.ndarray:
        """Evaluate the fitted polynomial at ``(x, y)``, renormalised to unit sum.

        Pixels are not clipped at zero: a PSF may have negative wings (e.g. a
        decorrelated difference PSF), and clipping would bias fluxes.
        """
        stamp = (self._basis.evaluate(x, y) @ self._coeffs).reshape(self.stamps.shape[1:])
        return _normalised(stamp)

    def copy(self) -> "SpatialPsf":
        return SpatialPsf(self.stamps, self.x, self.y, self.order, self.bbox)

    def __repr__(self) -> str:
        return f"SpatialPsf(n={len(self.x)}, order={self.order}, stamp={self.stamps.shape[1:]})"
