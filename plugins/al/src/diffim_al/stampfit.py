"""Per-stamp arithmetic: basis convolutions, normal equations, solutions, residual statistics.

Everything works on stacks of candidate stamps at once. "Reference" is the image
the kernel matches to (not convolved), "toConvolve" the image the kernel is
applied to. The fitted region of a stamp is the stamp shrunk by the kernel
half-width, where the convolution is fully defined.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from diffim.threads import parallelMap

from .basis import KernelBasis
from .candidates import KernelCandidates

#: Candidates processed together (bounds the memory of the stacked arrays).
_CHUNK = 128
#: Eigenvalues below this fraction of the largest are dropped when solving.
_RCOND = 1.0e-13
#: Smallest-to-largest eigenvalue ratio of a unit-diagonal normal matrix below which a
#: stamp's fit is singular.
_SINGULAR_RATIO = 1.0e-12


def _bandMatrix(filters: np.ndarray, size: int) -> np.ndarray:
    """``(size, valid, m)`` matrix applying each of ``m`` 1-D kernels along an axis.

    Contracting an axis of length ``size`` with it gives the fully convolved
    ``valid = size - width + 1`` outputs of every kernel (true convolution).
    """
    width = filters.shape[1]
    valid = size - width + 1
    band = np.zeros((size, valid, len(filters)))
    flipped = filters[:, ::-1].T
    for out in range(valid):
        band[out:out + width, out, :] = flipped
    return band


def convolveWithBasis(stamps: np.ndarray, basis: KernelBasis) -> np.ndarray:
    """Convolve stamps with every basis function, keeping the fully convolved pixels.

    Uses the separability of the raw Gaussian-times-monomial functions: one
    matrix product along x for all x-factors, one along y per x-factor, then the
    renormalisation (all dense products, so BLAS does the work).

    Parameters
    ----------
    stamps : numpy.ndarray
        ``(n, size, size)`` stamps.
    basis : KernelBasis
        The basis.

    Returns
    -------
    numpy.ndarray
        ``(n, valid, valid, nBasis)`` with ``valid = size - kernelSize + 1``.
    """
    n, size = stamps.shape[0], stamps.shape[1]
    valid = size - basis.kernelSize + 1
    xUsed = np.unique(basis.rawTerms[:, 0])
    band = _bandMatrix(basis.filters[xUsed], size).reshape(size, -1)
    alongX = (stamps.reshape(n * size, size) @ band).reshape(n, size, valid, len(xUsed))
    raw = np.empty((n, valid, valid, len(basis.rawTerms)))
    for column, xFilter in enumerate(xUsed):
        rows = np.flatnonzero(basis.rawTerms[:, 0] == xFilter)
        band = _bandMatrix(basis.filters[basis.rawTerms[rows, 1]], size).reshape(size, -1)
        transposed = np.ascontiguousarray(np.swapaxes(alongX[..., column], 1, 2))
        raw[..., rows] = (transposed.reshape(n * valid, size) @ band).reshape(
            n, valid, valid, len(rows))
    converted = raw.reshape(-1, len(basis.rawTerms)) @ basis.transform
    return np.swapaxes(converted.reshape(n, valid, valid, -1), 1, 2)


class SymmetricSystem:
    """Symmetric positive semi-definite matrices ``M`` (batched), factorised once to solve
    ``M x = b`` for any number of right-hand sides.

    Each matrix is scaled to unit diagonal and solved through its eigen-decomposition,
    dropping eigenvalues below ``1e-13`` of the largest (a pseudo-inverse), so a
    degenerate system still gives a least-squares solution (the smallest one in the
    scaled unknowns) instead of failing.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(..., m, m)`` symmetric matrices.
    """

    def __init__(self, matrix: np.ndarray) -> None:
        diagonal = np.sqrt(np.abs(np.diagonal(matrix, axis1=-2, axis2=-1)))
        self.diagonal = np.where(diagonal > 0, diagonal, 1.0)
        scaled = matrix / self.diagonal[..., :, None] / self.diagonal[..., None, :]
        values, self.vectors = np.linalg.eigh(scaled)
        keep = values > _RCOND * values[..., -1:]
        self.inverse = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)

    @classmethod
    def joined(cls, systems: list["SymmetricSystem"], empty: np.ndarray) -> "SymmetricSystem":
        """The systems of several ``(n_i, m, m)`` batches as one (``empty`` if none)."""
        if not systems:
            return cls(empty)
        joined = cls.__new__(cls)
        joined.diagonal = np.concatenate([s.diagonal for s in systems])
        joined.vectors = np.concatenate([s.vectors for s in systems])
        joined.inverse = np.concatenate([s.inverse for s in systems])
        return joined

    @property
    def size(self) -> int:
        """``m``: the unknowns of each system."""
        return self.diagonal.shape[-1]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``(..., m)`` solutions for ``(..., m)`` right-hand sides."""
        projected = np.einsum("...ji,...j->...i", self.vectors, rhs / self.diagonal)
        return np.einsum("...ij,...j->...i", self.vectors,
                         self.inverse * projected) / self.diagonal


def solveSymmetric(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve symmetric positive semi-definite systems ``matrix @ x = rhs`` (batched).

    See :class:`SymmetricSystem`, which factorises once for several right-hand sides.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(..., m, m)`` symmetric matrices.
    rhs : numpy.ndarray
        ``(..., m)`` right-hand sides.

    Returns
    -------
    numpy.ndarray
        ``(..., m)`` solutions.
    """
    return SymmetricSystem(matrix).solve(rhs)


def isSingular(matrix: np.ndarray) -> np.ndarray:
    """True for the (batched) normal matrices that are singular to numerical precision.

    A matrix counts as singular when, scaled to unit diagonal, its smallest eigenvalue
    is below ``1e-12`` of its largest (well-posed star stamps give about ``1e-9`` or
    more; a stamp without structure, e.g. a constant template, about ``1e-15``): its
    fit leaves some combination of basis functions undetermined.
    """
    diagonal = np.sqrt(np.abs(np.diagonal(matrix, axis1=-2, axis2=-1)))
    diagonal = np.where(diagonal > 0, diagonal, 1.0)     # a zero column stays a zero row
    values = np.linalg.eigvalsh(matrix / diagonal[..., :, None] / diagonal[..., None, :])
    return ~(values[..., 0] > _SINGULAR_RATIO * values[..., -1])


def conditionNumbers(matrix: np.ndarray) -> np.ndarray:
    """Ratio of the largest to the smallest eigenvalue of each matrix (inf if singular)."""
    values = np.linalg.eigvalsh(matrix)
    smallest = values[..., 0]
    with np.errstate(divide="ignore"):
        return np.where(smallest > 0, values[..., -1] / np.where(smallest > 0, smallest, 1.0),
                        np.inf)


def _convolveStack(stamps: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Convolve each stamp with its own kernel (FFT), keeping the fully convolved pixels."""
    size = stamps.shape[1]
    half = kernels.shape[1] // 2
    length = scipy.fft.next_fast_len(size, real=True)
    wrapped = np.zeros((len(kernels), length, length))
    index = (np.arange(kernels.shape[1]) - half) % length
    wrapped[:, index[:, None], index[None, :]] = kernels
    product = (scipy.fft.rfft2(stamps, s=(length, length))
               * scipy.fft.rfft2(wrapped))
    full = scipy.fft.irfft2(product, s=(length, length))
    return full[:, half:size - half, half:size - half]


def _maskedMedian(z: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Median of each ``(valid, valid)`` plane of ``z`` over its ``use`` pixels (NaN if none).

    All planes at once: NaN (unused) sorts last, and the median is the middle sorted
    value, or the mean of the two middle ones (as :func:`numpy.median`).
    """
    values = np.sort(np.where(use & np.isfinite(z), z, np.nan).reshape(len(z), -1), axis=1)
    count = np.count_nonzero(~np.isnan(values), axis=1)
    rows = np.arange(len(z))
    low = values[rows, np.maximum(count - 1, 0) // 2]
    high = values[rows, count // 2 - (count == 0)]
    median = np.mean(np.stack([low, high]), axis=0)
    return np.where(count > 0, median, np.nan)


@dataclass
class ResidualStats:
    """Statistics of ``z = difference / sqrt(variance)`` over candidate stamps.

    Attributes
    ----------
    mean, median, std : numpy.ndarray
        Per candidate (std with the n/(n-1) correction).
    pooledSum, pooledSumSq, pooledCount : float
        Sums of z and z**2 and the pixel count over all candidates.
    """

    mean: np.ndarray
    median: np.ndarray
    std: np.ndarray
    pooledSum: float
    pooledSumSq: float
    pooledCount: int


@dataclass
class SingleFits:
    """Each candidate's own fit (:meth:`StampFitter.fitSingles`).

    Attributes
    ----------
    matrix, rhs : numpy.ndarray
        ``(n, nColumns, nColumns)`` and ``(n, nColumns)`` normal equations.
    solution : numpy.ndarray
        ``(n, nColumns)`` basis coefficients, then background.
    system : SymmetricSystem
        The factorised normal matrices.
    stats : ResidualStats
        Residual statistics under each candidate's own kernel.
    kernelSumErrors : numpy.ndarray
        Standard error of each kernel sum from the pixel noise (as
        :meth:`StampFitter.kernelSumErrors`).
    """

    matrix: np.ndarray
    rhs: np.ndarray
    solution: np.ndarray
    system: SymmetricSystem
    stats: ResidualStats
    kernelSumErrors: np.ndarray


@dataclass
class _ChunkFits:
    """:class:`SingleFits` of one chunk (statistics as ``_zStats`` returns them)."""

    matrix: np.ndarray
    rhs: np.ndarray
    solution: np.ndarray
    system: SymmetricSystem
    stats: tuple
    errors: np.ndarray


class StampFitter:
    """Fits and assesses kernels on candidate stamps.

    Parameters
    ----------
    reference, referenceVariance : numpy.ndarray
        The image matched to and its variance (full images; not modified).
    toConvolve, toConvolveVariance : numpy.ndarray
        The image the kernel convolves and its variance.
    candidates : KernelCandidates
        Stamp positions.
    basis : KernelBasis
        The kernel basis.
    fitBackground : bool
        Fit a constant background per stamp together with the kernel.
    constantWeighting : bool
        Weight each stamp by the median summed variance instead of per pixel.
    coreRadius : int or None
        Restrict residual statistics to this box half-size around the star; None for
        the whole fitted region.
    """

    def __init__(self, reference: np.ndarray, referenceVariance: np.ndarray,
                 toConvolve: np.ndarray, toConvolveVariance: np.ndarray,
                 candidates: KernelCandidates, basis: KernelBasis, fitBackground: bool,
                 constantWeighting: bool, coreRadius: int | None) -> None:
        self.images = (reference, referenceVariance, toConvolve, toConvolveVariance)
        self.candidates = candidates
        self.basis = basis
        self.fitBackground = fitBackground
        self.constantWeighting = constantWeighting
        self.coreRadius = coreRadius

    @property
    def nColumns(self) -> int:
        """Unknowns of a single-stamp fit (basis coefficients, then background)."""
        return self.basis.nBasis + int(self.fitBackground)

    def stamps(self, index: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(reference, referenceVariance, toConvolve, toConvolveVariance)`` stamp stacks."""
        size = self.candidates.stampSize
        y0, x0 = self.candidates.y0[index], self.candidates.x0[index]
        return tuple(sliding_window_view(image, (size, size))[y0, x0].astype(np.float64)
                     for image in self.images)

    def _valid(self, stamps: np.ndarray) -> np.ndarray:
        half = self.basis.halfWidth
        return stamps[:, half:stamps.shape[1] - half, half:stamps.shape[2] - half]

    def _weights(self, variance: np.ndarray) -> np.ndarray:
        """Per-pixel weights ``(n, pixels)`` of the fits from the summed variance."""
        if self.constantWeighting:
            level = np.median(variance, axis=1)
            return np.broadcast_to(np.where(level > 0, 1.0 / level, 1.0)[:, None],
                                   variance.shape)
        return 1.0 / variance

    def kernelImages(self, coefficients: np.ndarray) -> np.ndarray:
        """``(n, size, size)`` kernel images from ``(n, nBasis)`` basis coefficients."""
        return np.tensordot(coefficients, self.basis.images, axes=1)

    def residualStats(self, index: np.ndarray, kernels: np.ndarray,
                      background: np.ndarray | None) -> ResidualStats:
        """Statistics of the candidates' differences under the given kernels.

        The difference is ``reference - kernel conv toConvolve - background`` and its
        variance ``referenceVariance + kernel**2 conv toConvolveVariance``.

        Parameters
        ----------
        index : numpy.ndarray
            Candidates.
        kernels : numpy.ndarray
            ``(n, size, size)`` kernel image per candidate.
        background : numpy.ndarray or None
            ``(n,)`` background per candidate; None for no background.
        """
        indices = _chunks(index)
        backgrounds = [None] * len(indices) if background is None else _chunks(background)
        pieces = zip(indices, _chunks(kernels), backgrounds)
        parts = parallelMap(self._residualStatsChunk, pieces)
        n = len(index)
        mean = _joined([part[0] for part in parts], n)
        median = _joined([part[1] for part in parts], n)
        std = _joined([part[2] for part in parts], n)
        return ResidualStats(mean, median, std, *_pooled([part[3] for part in parts]))

    def _residualStatsChunk(self, piece: tuple[np.ndarray, np.ndarray, np.ndarray | None]
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """:meth:`residualStats` of one chunk: its mean, median, std and pooled sums."""
        index, kernels, background = piece
        ref, refVar, conv, convVar = self.stamps(index)
        model = _convolveStack(conv, kernels)
        variance = self._valid(refVar) + _convolveStack(convVar, kernels ** 2)
        difference = self._valid(ref) - model
        if background is not None:
            difference -= background[:, None, None]
        return self._zStats(index, difference, variance)

    def _zStats(self, index: np.ndarray, difference: np.ndarray, variance: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """Mean, median, std and pooled sums of ``difference / sqrt(variance)`` per stamp."""
        with np.errstate(invalid="ignore", divide="ignore"):
            z = difference / np.sqrt(variance)
        use = self._statsRegion(index, z.shape[1])
        count = use.sum(axis=(1, 2))
        total = np.where(use, z, 0.0).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        deviation = np.where(use, z - mean[:, None, None], 0.0)
        std = np.sqrt((deviation ** 2).sum(axis=(1, 2)) / np.maximum(count - 1, 1))
        pooled = (total.sum(), np.where(use, z * z, 0.0).sum(), count.sum())
        return mean, _maskedMedian(z, use), std, pooled

    def fitSingles(self, index: np.ndarray) -> SingleFits:
        """Each candidate's own fit, its residual statistics and kernel-sum error at once.

        One pass over each chunk of stamps: the weighted normal equations ``M a = B``
        (design ``D``: the stamp convolved with each basis function, then a constant
        for the background), their solution, the residual statistics under the fitted
        kernel (as :meth:`residualStats`; the model ``kernel conv toConvolve +
        background`` is ``D a``) and the standard error of the kernel sum from the
        pixel noise. The kernel sum is ``g . a`` with ``g`` the sums of the basis
        images (0 for the background); with pixel variances ``s`` (of the two images
        summed) its variance is ``sum_p (W D M^-1 g)_p^2 s_p``. Unlike ``g^T M^-1 g``
        this holds under constantVarianceWeighting too, where ``M`` leaves out the
        stars' own photon noise.

        Parameters
        ----------
        index : numpy.ndarray
            Candidates.
        """
        parts = parallelMap(self._fitSinglesChunk, _chunks(index))
        n = len(index)
        stats = ResidualStats(_joined([part.stats[0] for part in parts], n),
                              _joined([part.stats[1] for part in parts], n),
                              _joined([part.stats[2] for part in parts], n),
                              *_pooled([part.stats[3] for part in parts]))
        return SingleFits(
            matrix=_joinedRows([part.matrix for part in parts], (0, self.nColumns, self.nColumns)),
            rhs=_joinedRows([part.rhs for part in parts], (0, self.nColumns)),
            solution=_joinedRows([part.solution for part in parts], (0, self.nColumns)),
            system=SymmetricSystem.joined([part.system for part in parts],
                                          np.empty((0, self.nColumns, self.nColumns))),
            stats=stats, kernelSumErrors=_joined([part.errors for part in parts], n))

    def _fitSinglesChunk(self, index: np.ndarray) -> _ChunkFits:
        """:meth:`fitSingles` of at most ``_CHUNK`` candidates."""
        nBasis = self.basis.nBasis
        ref, refVar, conv, convVar = self.stamps(index)
        design = convolveWithBasis(conv, self.basis)
        m, valid = len(design), design.shape[1]
        design = design.reshape(m, -1, nBasis)
        if self.fitBackground:
            design = np.concatenate([design, np.ones(design.shape[:2] + (1,))], axis=2)
        summed = (self._valid(refVar) + self._valid(convVar)).reshape(m, -1)
        weights = self._weights(summed)
        weighted = design * weights[..., None]
        matrix = np.swapaxes(weighted, 1, 2) @ design
        rhs = np.einsum("npi,np->ni", weighted, self._valid(ref).reshape(m, -1))
        system = SymmetricSystem(matrix)
        solution = system.solve(rhs)
        kernels = self.kernelImages(solution[:, :nBasis])
        model = np.einsum("npi,ni->np", design, solution).reshape(m, valid, valid)
        variance = self._valid(refVar) + _convolveStack(convVar, kernels ** 2)
        stats = self._zStats(index, self._valid(ref) - model, variance)
        sums = np.zeros(self.nColumns)
        sums[:nBasis] = self.basis.images.sum(axis=(1, 2))
        response = np.einsum("npi,ni->np", design, system.solve(np.tile(sums, (m, 1))))
        errors = np.sqrt(np.sum((weights * response) ** 2 * summed, axis=1))
        return _ChunkFits(matrix, rhs, solution, system, stats, errors)

    def _statsRegion(self, index: np.ndarray, valid: int) -> np.ndarray:
        """Boolean ``(n, valid, valid)``: the pixels the statistics are taken over."""
        if self.coreRadius is None:
            return np.ones((len(index), valid, valid), dtype=bool)
        half = self.basis.halfWidth
        cy = self.candidates.y[index] - self.candidates.y0[index] - half
        cx = self.candidates.x[index] - self.candidates.x0[index] - half
        grid = np.arange(valid)
        nearY = np.abs(grid[None, :] - cy[:, None]) <= self.coreRadius
        nearX = np.abs(grid[None, :] - cx[:, None]) <= self.coreRadius
        return nearY[:, :, None] & nearX[:, None, :]


def _chunks(array: np.ndarray) -> list[np.ndarray]:
    """``array`` cut into consecutive pieces of ``_CHUNK`` rows (a fixed layout)."""
    return [array[start:start + _CHUNK] for start in range(0, len(array), _CHUNK)]


def _joined(pieces: list[np.ndarray], n: int) -> np.ndarray:
    """The per-chunk results concatenated (an empty float array for no candidates)."""
    return np.concatenate(pieces) if pieces else np.empty(n)


def _joinedRows(pieces: list[np.ndarray], emptyShape: tuple[int, ...]) -> np.ndarray:
    """The per-chunk arrays concatenated (an empty array of ``emptyShape`` for none)."""
    return np.concatenate(pieces) if pieces else np.empty(emptyShape)


def _pooled(sums: list[tuple]) -> tuple[float, float, int]:
    """The chunks' pooled ``(sum z, sum z**2, count)`` added up in chunk order."""
    pooled = np.zeros(3)
    for part in sums:
        pooled += part
    return float(pooled[0]), float(pooled[1]), int(pooled[2])
