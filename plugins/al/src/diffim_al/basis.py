"""The Alard–Lupton kernel basis: Gaussians times polynomials, renormalised.

Every raw basis function is separable, ``g_sigma(v) (v/h)^q * g_sigma(u) (u/h)^p``
with ``(u, v)`` the kernel pixel offsets and ``h`` the kernel half-width. The
renormalised basis used in the fit is a fixed linear combination of the raw
functions (:attr:`KernelBasis.transform`), so convolutions with it can be done
one axis at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ImagePsfMatchConfig

#: Highest order n of the deconvolution series searched before giving up.
_MAX_DECONVOLUTION_ORDER = 20


@dataclass(frozen=True)
class BasisShape:
    """Widths, degrees and size of an AL basis, and how they were chosen.

    Attributes
    ----------
    sigmas : tuple of float
        Gaussian sigmas (pixels), narrowest first.
    degrees : tuple of int
        Polynomial degree multiplying each Gaussian.
    kernelSize : int
        Kernel width in pixels (odd).
    mode : str
        ``"config"`` (sigmas from the config), ``"convolution"`` (the image to convolve
        has the narrower PSF), ``"deconvolution"`` (it has the wider PSF) or
        ``"deconvolution-fallback"`` (the deconvolution series gave too few real
        widths; the plain Gaussian ladder was used instead).
    """

    sigmas: tuple[float, ...]
    degrees: tuple[int, ...]
    kernelSize: int
    mode: str


def _ladder(kernelSigma: float, nGauss: int, beta: float, minSigma: float) -> list[float]:
    """Gaussian sigmas spaced by ``beta`` around ``kernelSigma``.

    One Gaussian is ``kernelSigma`` itself. Otherwise the ladder starts at
    ``kernelSigma / beta`` when that stays above ``minSigma``, else at ``kernelSigma``.
    """
    if nGauss == 1:
        return [kernelSigma]
    start = kernelSigma / beta if kernelSigma / beta > minSigma else kernelSigma
    return [start * beta ** i for i in range(nGauss)]


def _deconvolutionSeries(ladder: list[float], count: int) -> list[float]:
    """Widths of the sum-of-Gaussians deconvolution series (Ulmer 2010, eq. 40).

    Terms ``sqrt((n-j) s1^2 + j s2^2 - (n+1) s0^2)`` for ``n = 1, 2, ...`` and
    ``j = 0 .. n-1``, from the three narrowest ladder sigmas ``s0 < s1 < s2``; terms
    whose argument is not positive are skipped. Returns fewer than ``count`` widths
    when the series does not yield enough.
    """
    s0, s1, s2 = ladder[:3]
    widths: list[float] = []
    for n in range(1, _MAX_DECONVOLUTION_ORDER + 1):
        for j in range(n):
            arg = (n - j) * s1 ** 2 + j * s2 ** 2 - (n + 1) * s0 ** 2
            if arg > 0:
                widths.append(float(np.sqrt(arg)))
            if len(widths) == count:
                return sorted(widths)
    return sorted(widths)


def _scaledKernelSize(config: ImagePsfMatchConfig, widest: float) -> int:
    size = int(config.kernelSizeFwhmScaling * widest)
    if size % 2 == 0:
        size += 1
    return int(min(max(size, config.kernelSizeMin), config.kernelSizeMax))


def basisShape(config: ImagePsfMatchConfig, targetSigma: float,
               referenceSigma: float) -> BasisShape:
    """Choose the basis Gaussians and kernel size from the two PSF widths.

    Parameters
    ----------
    config : ImagePsfMatchConfig
        The subtraction config.
    targetSigma : float
        PSF sigma (determinant radius, pixels) of the image that gets convolved.
    referenceSigma : float
        PSF sigma of the image it is matched to.

    Returns
    -------
    BasisShape
        The widths, degrees, kernel size and mode.
    """
    if not config.scaleByFwhm or targetSigma == referenceSigma:
        return BasisShape(tuple(float(s) for s in config.alardSigGauss),
                          tuple(config.alardDegGauss), config.kernelSize, "config")
    beta = config.alardGaussBeta
    if referenceSigma > targetSigma:
        kernelSigma = max(np.sqrt(referenceSigma ** 2 - targetSigma ** 2), config.alardMinSig)
        sigmas = _ladder(kernelSigma, config.alardNGauss, beta, config.alardMinSig)
        return BasisShape(tuple(sigmas), tuple(config.alardDegGauss),
                          _scaledKernelSize(config, max(sigmas)), "convolution")
    kernelSigma = max(np.sqrt(targetSigma ** 2 - referenceSigma ** 2), config.alardMinSigDeconv)
    ladder = _ladder(kernelSigma, max(3, config.alardNGaussDeconv), beta,
                     config.alardMinSigDeconv)
    sigmas = _deconvolutionSeries(ladder, config.alardNGaussDeconv)
    mode = "deconvolution"
    if len(sigmas) < config.alardNGaussDeconv:
        sigmas = ladder[:config.alardNGaussDeconv]
        mode = "deconvolution-fallback"
    degrees = (config.alardDegGaussDeconv,) * len(sigmas)
    return BasisShape(tuple(sigmas), degrees, _scaledKernelSize(config, max(sigmas)), mode)


@dataclass(frozen=True)
class KernelBasis:
    """The renormalised AL basis and its separable factors.

    Attributes
    ----------
    shape : BasisShape
        Widths, degrees, size and mode.
    filters : numpy.ndarray
        ``(nFilters, kernelSize)`` one-dimensional factors ``g_sigma(u) (u/h)^p``
        (index ``u + h``), each Gaussian normalised to unit sum.
    rawTerms : numpy.ndarray
        ``(nRaw, 2)`` int: the x-factor and y-factor filter index of each raw function.
    transform : numpy.ndarray
        ``(nRaw, nBasis)``: basis function ``i`` is ``sum_r raw_r * transform[r, i]``.
    images : numpy.ndarray
        ``(nBasis, kernelSize, kernelSize)`` basis images ``[v, u]``. Image 0 sums to 1;
        every other image sums to 0 and has unit L2 norm.
    """

    shape: BasisShape
    filters: np.ndarray
    rawTerms: np.ndarray
    transform: np.ndarray
    images: np.ndarray

    @property
    def kernelSize(self) -> int:
        return self.shape.kernelSize

    @property
    def halfWidth(self) -> int:
        return self.shape.kernelSize // 2

    @property
    def nBasis(self) -> int:
        return self.images.shape[0]


def _rawFactors(shape: BasisShape) -> tuple[np.ndarray, np.ndarray]:
    half = shape.kernelSize // 2
    u = np.arange(-half, half + 1, dtype=np.float64)
    scaled = u / half
    filters, terms = [], []
    for sigma, degree in zip(shape.sigmas, shape.degrees):
        gauss = np.exp(-0.5 * (u / sigma) ** 2)
        gauss /= gauss.sum()
        first = len(filters)
        filters.extend(gauss * scaled ** p for p in range(degree + 1))
        terms.extend((first + p, first + q) for p in range(degree + 1)
                     for q in range(degree + 1 - p))
    return np.array(filters), np.array(terms, dtype=np.intp)


def _renormalisation(raw: np.ndarray) -> np.ndarray:
    """Transform making raw image 0 carry all the flux and the others zero-sum, unit-norm."""
    nRaw = raw.shape[0]
    sums = raw.sum(axis=(1, 2))
    transform = np.zeros((nRaw, nRaw))
    transform[0, 0] = 1.0 / sums[0]
    eps = np.finfo(np.float32).eps
    for i in range(1, nRaw):
        if abs(sums[i]) > eps:
            transform[i, i] = 1.0 / sums[i]
            transform[0, i] = -1.0 / sums[0]
        else:
            transform[i, i] = 1.0
        image = np.tensordot(transform[:, i], raw, axes=1)
        transform[:, i] /= np.sqrt((image ** 2).sum())
    return transform


def makeKernelBasis(shape: BasisShape) -> KernelBasis:
    """Build the renormalised basis for ``shape``.

    Parameters
    ----------
    shape : BasisShape
        Widths, degrees and kernel size (from :func:`basisShape`).

    Returns
    -------
    KernelBasis
        ``sum((d+1)(d+2)/2)`` basis functions; 27 for degrees (4, 2, 2).
    """
    filters, terms = _rawFactors(shape)
    raw = filters[terms[:, 1], :, None] * filters[terms[:, 0], None, :]
    transform = _renormalisation(raw)
    images = np.tensordot(transform.T, raw, axes=1)
    return KernelBasis(shape, filters, terms, transform, images)
