"""The kernel solution loop: single-stamp fits, clipping, spatial fit, spatial clipping.

Follows LSST's ImagePsfMatchTask ``_solve``: fit every active candidate on its
own and reject bad fits (replacing them from the same cell), clip kernel-sum
outliers, fit the spatial model to all survivors, reject candidates it fits
badly, and repeat up to ``maxSpatialIterations`` times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.errors import InsufficientKernelSourcesError
from diffim.polynomial import PolynomialBasis, nTerms
from diffim.statistics import robustWeightedMean

from .candidates import BAD, GOOD, KernelCandidates
from .config import ImagePsfMatchConfig
from .kernel import CentroidGauge, SpatialBackground, SpatialMatchingKernel
from .stampfit import (ResidualStats, StampFitter, SymmetricSystem, conditionNumbers, isSingular,
                       solveSymmetric)

#: Relative error added in quadrature to each single-stamp kernel sum's: what the pixel
#: noise leaves out (PSF-model mismatch, neighbours' light), so that bright constant stars
#: that agree to a per cent or so are not clipped.
KERNEL_SUM_ERROR_FLOOR = 0.01
#: The kind of :class:`diffim.polynomial.PolynomialBasis` of each ``spatialModelType``.
SPATIAL_KINDS = {"chebyshev1": "chebyshev", "polynomial": "polynomial"}
#: Added in quadrature to each single-stamp kernel centroid's error (pixels): what the
#: single-stamp errors leave out (star photon noise under constantVarianceWeighting,
#: the template's noise in the design) and real small-scale variation of the kernel.
CENTROID_ERROR_FLOOR = 0.02


@dataclass
class KernelSolution:
    """A fitted spatial kernel and background, with diagnostics.

    Attributes
    ----------
    kernel : SpatialMatchingKernel
        The kernel (its ``background`` attribute holds the background model, if fitted).
    nUsed : int
        Candidates in the final spatial fit.
    nRejected : int
        Candidates rejected by residual, condition-number, kernel-sum or spatial clipping.
    kernelSumOutliers : list of tuple of float
        ``(x, y)`` of the candidates rejected by kernel-sum clipping (variable stars,
        transients, movers, blends).
    kernelSumError : float
        Relative standard error of the kernel sum as the used candidates measure it:
        their robust weighted mean's error (their scatter beyond their errors
        included) over the kernel sum.
    residualMean, residualStd : float
        Mean and standard deviation of difference/sqrt(variance) over the used
        candidates' stamps under the final spatial model.
    spatialKernelOrder, spatialBgOrder : int
        Orders of the final model (0 when it fell back to a constant model).
    spatialFallback : bool
        True when too few candidates survived for the configured spatial orders and a
        spatially constant kernel and background were fitted instead.
    iterations : int
        Spatial fits done.
    """

    kernel: SpatialMatchingKernel
    nUsed: int
    nRejected: int
    residualMean: float
    residualStd: float
    spatialKernelOrder: int
    spatialBgOrder: int
    spatialFallback: bool
    iterations: int
    kernelSumOutliers: list[tuple[float, float]]
    kernelSumError: float


class KernelSolver:
    """Runs the solution loop for one pair of images.

    Parameters
    ----------
    fitter : StampFitter
        Stamp arithmetic for the candidates.
    candidates : KernelCandidates
        The candidates (their status is updated).
    config : ImagePsfMatchConfig
        Clipping and spatial-model settings.
    imageShape : tuple of int
        ``(height, width)`` of the images.
    centroidSigma : float
        Weight width (pixels) of the kernel centroids compared by
        ``kernelCentroidClipping``: about the quadrature sum of the two PSF sigmas.
    sourceNote : str
        Where the candidates came from, for the error raised when none survives.
    """

    def __init__(self, fitter: StampFitter, candidates: KernelCandidates,
                 config: ImagePsfMatchConfig, imageShape: tuple[int, int],
                 centroidSigma: float, sourceNote: str = "") -> None:
        self.fitter = fitter
        self.candidates = candidates
        self.config = config
        self.height, self.width = imageShape
        self.gauge = CentroidGauge(fitter.basis.images, centroidSigma)
        self.sourceNote = sourceNote
        n, ncol = len(candidates), fitter.nColumns
        self.matrix = np.zeros((n, ncol, ncol))
        self.rhs = np.zeros((n, ncol))
        self.kernelSum = np.zeros(n)
        self.kernelSumErr = np.zeros(n)
        self.kernelSumOutliers: list[tuple[float, float]] = []
        self.centroid = np.zeros((n, 2))
        self.centroidErr = np.zeros((n, 2))
        self.fitted = np.zeros(n, dtype=bool)

    # --- single-stamp fits --------------------------------------------------
    def _fitSingles(self) -> None:
        """Fit every active, unfitted candidate until no new candidate is rejected."""
        config = self.config
        nBasis = self.fitter.basis.nBasis
        while True:
            active = self.candidates.active()
            todo = active[~self.fitted[active]]
            if len(todo) == 0:
                return
            fits = self.fitter.fitSingles(todo)
            matrix, stats = fits.matrix, fits.stats
            kernels = self.fitter.kernelImages(fits.solution[:, :nBasis])
            self.matrix[todo], self.rhs[todo] = matrix, fits.rhs
            self.kernelSum[todo] = kernels.sum(axis=(1, 2))
            self.kernelSumErr[todo] = np.hypot(fits.kernelSumErrors,
                                               KERNEL_SUM_ERROR_FLOOR * self.kernelSum[todo])
            self.centroid[todo], self.centroidErr[todo] = self._centroids(
                fits.solution[:, :nBasis], fits.system)
            self.fitted[todo] = True
            bad = ~(np.isfinite(stats.mean) & np.isfinite(stats.std)
                    & np.isfinite(self.kernelSum[todo]))
            bad |= isSingular(matrix)
            if config.singleKernelClipping:
                bad |= self._outsideLimits(stats.mean, stats.std)
            if config.checkConditionNumber:
                bad |= conditionNumbers(matrix) > config.maxConditionNumber
            self.candidates.status[todo] = np.where(bad, BAD, GOOD)

    def _centroids(self, coefficients: np.ndarray,
                   system: SymmetricSystem) -> tuple[np.ndarray, np.ndarray]:
        """Kernel centroids ``(n, 2)`` and their errors from the single-stamp fits."""
        centroid = self.gauge.centroids(coefficients)
        gradient = np.zeros((len(coefficients), 2, system.size))
        gradient[:, :, :coefficients.shape[1]] = self.gauge.gradients(coefficients, centroid)
        error = np.empty_like(centroid)
        for axis in range(2):
            projected = system.solve(gradient[:, axis])
            error[:, axis] = np.sqrt(np.maximum((gradient[:, axis] * projected).sum(axis=1),
                                                0.0))
        return centroid, error

    def _outsideLimits(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        return ((np.abs(mean) > self.config.candidateResidualMeanMax)
                | (std > self.config.candidateResidualStdMax))

    def _clipEnsemble(self) -> bool:
        """Reject kernel-sum and kernel-centroid outliers (as configured); True if any."""
        rejected = False
        if self.config.kernelSumClipping:
            rejected |= self._clipKernelSums()
        if self.config.kernelCentroidClipping:
            rejected |= self._clipKernelCentroids()
        return rejected

    def _clipKernelSums(self) -> bool:
        """Reject kernel-sum outliers among the usable candidates; True if any.

        Each candidate's own kernel sum is its flux ratio between the images; they are
        compared with the ensemble's robust weighted mean
        (:func:`diffim.statistics.robustWeightedMean`, whose start, the densest half,
        lets the constant majority win over a few bright variables) in units of the
        candidate's error combined with the ensemble's scatter beyond the errors.
        """
        active = self._usable()
        if len(active) < 3:
            return False
        ensemble = robustWeightedMean(self.kernelSum[active], self.kernelSumErr[active],
                                      self.config.maxKsumSigma)
        outliers = active[~ensemble.kept]
        self.candidates.reject(outliers)
        self.kernelSumOutliers += [(float(self.candidates.x[i]), float(self.candidates.y[i]))
                                   for i in outliers]
        return len(outliers) > 0

    def _clipKernelCentroids(self) -> bool:
        """Reject candidates whose kernel centroid departs from the others' by more than
        maxKernelCentroidSigma of its error; True if any.

        The expected centroid is a polynomial in position (order spatialKernelOrder, as
        the spatial kernel can follow), fitted by weighted least squares twice: to all
        usable candidates, then to those within the limit.
        """
        active = self._usable()
        if len(active) < 2:
            return False
        centroid = self.centroid[active]
        error = np.hypot(self.centroidErr[active], CENTROID_ERROR_FLOOR)
        finite = np.isfinite(centroid).all(axis=1)
        pulls = np.full(len(active), np.inf)
        keep = finite
        for _ in range(2):
            if not keep.any():
                break
            expected = self._expectedCentroids(active, keep, centroid, error)
            pulls[finite] = np.max(np.abs(centroid[finite] - expected[finite])
                                   / error[finite], axis=1)
            keep = pulls <= self.config.maxKernelCentroidSigma
        outliers = active[~(pulls <= self.config.maxKernelCentroidSigma)]
        self.candidates.reject(outliers)
        return len(outliers) > 0

    def _expectedCentroids(self, active: np.ndarray, fit: np.ndarray, centroid: np.ndarray,
                           error: np.ndarray) -> np.ndarray:
        """Weighted polynomial fit of the centroids of ``active[fit]``, at every active one."""
        order = self.config.spatialKernelOrder
        while order > 0 and nTerms(order) > np.count_nonzero(fit):
            order -= 1
        terms = self._spatialBasis(order).evaluate(self.candidates.x[active],
                                                   self.candidates.y[active])
        expected = np.empty_like(centroid)
        for axis in range(2):
            weight = 1.0 / error[fit, axis]
            coefficients = np.linalg.lstsq(terms[fit] * weight[:, None],
                                           centroid[fit, axis] * weight, rcond=None)[0]
            expected[:, axis] = terms @ coefficients
        return expected

    def _usable(self) -> np.ndarray:
        """Active candidates that have been fitted and are good."""
        active = self.candidates.active()
        return active[self.fitted[active] & (self.candidates.status[active] == GOOD)]

    # --- spatial fit ----------------------------------------------------------
    def _spatialBasis(self, order: int) -> PolynomialBasis:
        """The terms of a spatial model of ``order`` over the image (``spatialModelType``)."""
        return PolynomialBasis.forImage(order, self.width, self.height,
                                        SPATIAL_KINDS[self.config.spatialModelType])

    def _orders(self, nCandidates: int) -> tuple[int, int, bool]:
        """Spatial orders to fit with ``nCandidates`` (constant model if too few)."""
        kernelOrder = self.config.spatialKernelOrder
        bgOrder = self.config.spatialBgOrder if self.fitter.fitBackground else 0
        needed = max(nTerms(kernelOrder), nTerms(bgOrder))
        if nCandidates < needed:
            return 0, 0, True
        return kernelOrder, bgOrder, False

    def _spatialFit(self, index: np.ndarray, kernelOrder: int,
                    bgOrder: int) -> SpatialMatchingKernel:
        """Fit the spatial kernel and background to the candidates ``index``.

        The unknowns are the constant coefficient of basis 0 (the kernel sum), the
        ``nTerms(kernelOrder)`` spatial coefficients of every other basis function and
        the ``nTerms(bgOrder)`` background coefficients. Each candidate's own unknowns
        (basis coefficients and background) are linear in them, ``a_c = A_c theta``,
        so the normal equations are ``sum_c A_c^T M_c A_c theta = sum_c A_c^T B_c`` with
        ``M_c``, ``B_c`` the candidate's single-stamp normal equations.
        """
        kernelFunctions = self._spatialBasis(kernelOrder)
        bgFunctions = self._spatialBasis(bgOrder)
        expansion = self._expansion(index, kernelFunctions, bgFunctions)
        weighted = self.matrix[index] @ expansion
        matrix = np.einsum("cji,cjk->ik", expansion, weighted, optimize=True)
        rhs = np.einsum("cji,cj->i", expansion, self.rhs[index], optimize=True)
        theta = solveSymmetric(matrix, rhs)

        nBasis, nk = self.fitter.basis.nBasis, kernelFunctions.nTerms
        coefficients = np.zeros((nBasis, nk))
        coefficients[0, 0] = theta[0]
        coefficients[1:] = theta[1:1 + (nBasis - 1) * nk].reshape(nBasis - 1, nk)
        components = np.tensordot(coefficients.T, self.fitter.basis.images, axes=1)
        background = None
        if self.fitter.fitBackground:
            background = SpatialBackground(theta[1 + (nBasis - 1) * nk:], bgFunctions,
                                           (self.height, self.width))
        return SpatialMatchingKernel(components, kernelFunctions, background)

    def _expansion(self, index: np.ndarray, kernelFunctions: PolynomialBasis,
                   bgFunctions: PolynomialBasis) -> np.ndarray:
        """``(n, nColumns, nUnknowns)`` matrices ``A_c`` taking the spatial unknowns to
        each candidate's basis coefficients and background (models evaluated at the
        candidate)."""
        nBasis, nk = self.fitter.basis.nBasis, kernelFunctions.nTerms
        nb = bgFunctions.nTerms if self.fitter.fitBackground else 0
        x, y = self.candidates.x[index], self.candidates.y[index]
        expansion = np.zeros((len(index), self.fitter.nColumns, 1 + (nBasis - 1) * nk + nb))
        expansion[:, 0, 0] = 1.0
        terms = kernelFunctions.evaluate(x, y)
        for basis in range(1, nBasis):
            start = 1 + (basis - 1) * nk
            expansion[:, basis, start:start + nk] = terms
        if nb:
            expansion[:, nBasis, -nb:] = bgFunctions.evaluate(x, y)
        return expansion

    def localStats(self, index: np.ndarray) -> ResidualStats:
        """Residual statistics of fitted candidates under their own single-stamp kernels."""
        nBasis = self.fitter.basis.nBasis
        solution = solveSymmetric(self.matrix[index], self.rhs[index])
        kernels = self.fitter.kernelImages(solution[:, :nBasis])
        background = solution[:, nBasis] if self.fitter.fitBackground else None
        return self.fitter.residualStats(index, kernels, background)

    def spatialStats(self, index: np.ndarray, kernel: SpatialMatchingKernel) -> ResidualStats:
        """Residual statistics of the candidates under the spatial model."""
        x, y = self.candidates.x[index], self.candidates.y[index]
        kernels = np.tensordot(kernel.functions.evaluate(x, y), kernel.components, axes=1)
        background = None
        if kernel.background is not None:
            model = kernel.background
            background = model.functions.evaluate(x, y) @ model.coefficients
        return self.fitter.residualStats(index, kernels, background)

    # --- the loop -------------------------------------------------------------
    def solve(self) -> KernelSolution:
        """Run the loop and return the final spatial solution.

        Raises
        ------
        diffim.errors.InsufficientKernelSourcesError
            If no candidate survives the single-stamp fits and clipping.
        """
        config = self.config
        iterations = 0
        rejectedLast = False
        for _ in range(config.maxSpatialIterations):
            self._fitSingles()
            while self._clipEnsemble():
                self._fitSingles()
            used = self._usable()
            if len(used) == 0:
                break
            kernelOrder, bgOrder, fallback = self._orders(len(used))
            kernel = self._spatialFit(used, kernelOrder, bgOrder)
            iterations += 1
            stats = self.spatialStats(used, kernel)
            bad = ~(np.isfinite(stats.mean) & np.isfinite(stats.std))
            if config.spatialKernelClipping:
                bad |= self._outsideLimits(stats.mean, stats.std)
            rejectedLast = bool(bad.any())
            if not rejectedLast:
                break
            self.candidates.reject(used[bad])
        if rejectedLast:
            used = self._usable()
            if len(used) > 0:
                kernelOrder, bgOrder, fallback = self._orders(len(used))
                kernel = self._spatialFit(used, kernelOrder, bgOrder)
                iterations += 1
                stats = self.spatialStats(used, kernel)
        used = self._usable()
        if len(used) == 0:
            raise self._insufficient()
        count = max(stats.pooledCount, 1)
        mean = stats.pooledSum / count
        std = float(np.sqrt(max(stats.pooledSumSq / count - mean ** 2, 0.0)))
        ensemble = robustWeightedMean(self.kernelSum[used], self.kernelSumErr[used],
                                      self.config.maxKsumSigma)
        return KernelSolution(kernel, len(used), self.candidates.nBad, float(mean), std,
                              kernelOrder, bgOrder, fallback, iterations,
                              self.kernelSumOutliers,
                              float(ensemble.error / abs(kernel.kernelSum)))

    def _insufficient(self) -> InsufficientKernelSourcesError:
        n = len(self.candidates)
        hint = (f"{n} candidate stamps were fitted and all were rejected by the residual, "
                f"kernel-sum, kernel-centroid or spatial clipping (relax "
                f"candidateResidualStdMax / candidateResidualMeanMax)"
                if n else "no usable star stamps: check badMaskPlanes and the template coverage")
        if self.sourceNote:
            hint = f"{self.sourceNote}; {hint}"
        return InsufficientKernelSourcesError(0, 1, hint)
