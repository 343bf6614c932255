"""The fitted models: a spatially varying matching kernel and a differential background."""
from __future__ import annotations

import numpy as np

from diffim.polynomial import PolynomialBasis


class CentroidGauge:
    """Where a kernel moves a star, and how well a single-stamp fit knows it.

    The measure is the kernel's Gaussian-weighted centroid
    ``c = sum K(u) u G(u) / sum K(u) G(u)`` with ``G`` a centred Gaussian of
    ``weightSigma``: proportional to the shift the kernel gives a star when
    ``weightSigma`` is about the quadrature sum of the two PSF widths (a star's
    weighted centroid after convolution), and blind to the kernel's noisy outer pixels,
    which dominate the plain first moment. As ``K`` is linear in the basis
    coefficients ``a``, so are the weighted sums, and the centroid's variance follows
    from the coefficients' covariance (the inverse of the fit's normal matrix).

    Parameters
    ----------
    basisImages : numpy.ndarray
        ``(nBasis, size, size)`` basis images ``[v, u]`` (odd size, centre in the middle).
    weightSigma : float
        Width of the Gaussian weight (pixels).
    """

    def __init__(self, basisImages: np.ndarray, weightSigma: float) -> None:
        size = basisImages.shape[-1]
        offsets = np.arange(size) - size // 2
        profile = np.exp(-0.5 * (offsets / weightSigma) ** 2)
        weighted = basisImages * (profile[:, None] * profile[None, :])
        self.total = weighted.sum(axis=(1, 2))
        self.moments = np.stack([weighted.sum(axis=1) @ offsets,
                                 weighted.sum(axis=2) @ offsets])

    def centroids(self, coefficients: np.ndarray) -> np.ndarray:
        """``(n, 2)`` centroids ``(u, v)`` (pixels) of kernels with ``(n, nBasis)``
        coefficients; NaN where the weighted kernel sum is not positive."""
        total = coefficients @ self.total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total[:, None] > 0, (coefficients @ self.moments.T)
                            / total[:, None], np.nan)

    def gradients(self, coefficients: np.ndarray, centroid: np.ndarray) -> np.ndarray:
        """``(n, 2, nBasis)`` derivatives of the centroids with respect to the coefficients,
        given the ``(n, 2)`` centroids of those coefficients (:meth:`centroids`)."""
        total = coefficients @ self.total
        return ((self.moments[None, :, :] - centroid[:, :, None] * self.total[None, None, :])
                / total[:, None, None])


class SpatialBackground:
    """Differential background ``b(x, y) = sum_k c_k term_k(x, y)``.

    Parameters
    ----------
    coefficients : numpy.ndarray
        ``(nTerms,)`` coefficients of ``functions``.
    functions : diffim.polynomial.PolynomialBasis
        The spatial terms.
    shape : tuple of int
        ``(height, width)`` of the image the model covers.
    """

    def __init__(self, coefficients: np.ndarray, functions: PolynomialBasis,
                 shape: tuple[int, int]) -> None:
        self.coefficients = np.asarray(coefficients, dtype=np.float64)
        self.functions = functions
        self.shape = (int(shape[0]), int(shape[1]))

    def at(self, x: float, y: float) -> float:
        """Background value at pixel ``(x, y)``."""
        return float(self.functions.evaluate(x, y)[0] @ self.coefficients)

    def image(self) -> np.ndarray:
        """The background on every pixel of the image (float32)."""
        return self.functions.image(self.coefficients, self.shape)


class SpatialMatchingKernel:
    """A PSF-matching kernel ``K(u, v; x, y) = sum_s term_s(x, y) K_s(u, v)``.

    Convolving an image with it (kernel taken at each output pixel) is
    ``sum_s term_s * (K_s conv image)``. The kernel sum is the same everywhere: only
    the first (constant) component carries flux.

    Parameters
    ----------
    components : numpy.ndarray
        ``(nTerms, size, size)`` kernel images ``K_s`` ``[v, u]``, one per spatial term.
    functions : diffim.polynomial.PolynomialBasis
        The spatial terms (term 0 is the constant).
    background : SpatialBackground, optional
        The differential background fitted with the kernel.
    """

    def __init__(self, components: np.ndarray, functions: PolynomialBasis,
                 background: SpatialBackground | None = None) -> None:
        self.components = np.asarray(components, dtype=np.float64)
        self.functions = functions
        self.background = background

    def at(self, x: float, y: float) -> np.ndarray:
        """Kernel image (not normalised) at pixel ``(x, y)``."""
        terms = self.functions.evaluate(x, y)[0]
        return np.tensordot(terms, self.components, axes=1)

    @property
    def kernelSum(self) -> float:
        """Sum of the kernel: the flux ratio of the matched to the convolved image."""
        return float(self.components[0].sum())

    @property
    def kernelSize(self) -> int:
        """Kernel width in pixels (odd)."""
        return self.components.shape[-1]

    @property
    def isSpatiallyVarying(self) -> bool:
        return self.functions.order > 0

    def __repr__(self) -> str:
        return (f"SpatialMatchingKernel(size={self.kernelSize}, order={self.functions.order}, "
                f"kernelSum={self.kernelSum:.6g})")
