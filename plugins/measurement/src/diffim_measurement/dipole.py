"""The dipole model: a positive and a negative PSF fitted jointly to a diaSource.

On the difference image a source is modelled as ``f+ P(x - x+) - f- P(x - x-)``
(``P`` the difference PSF, unit sum). When the science exposure and the
PSF-matched template are given, their cut-outs constrain the two lobes: the
science image holds ``f+ P_s(x - x+)`` plus a background, the template
``f- P_t(x - x-)`` plus a background. The three images are fitted together
by weighted least squares; the parameter covariance accounts for the noise
the images share and for its spatial correlation (see :mod:`.noise`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .noise import NoiseCorrelation
from .psfmodel import PsfInterpolant

#: Largest number of model evaluations of one fit.
MAX_EVALUATIONS = 200

#: Evaluations after which a fit whose model does not describe the difference image
#: (chi-square per degree of freedom above :data:`STALLED_CHI2DOF`) is stopped. A dipole
#: of two PSFs converges in 4 to 10 evaluations; only a close pair fitted to the
#: difference alone (relWeight=0), where flux trades against separation along a flat
#: valley, needs more, and it fits the data (chi2dof about 1) all the way. LSST allows
#: 250 evaluations of a forward-difference Jacobian in 5 parameters: about 40 steps.
STALLED_EVALUATIONS = 40

#: chi2dof above which a fit still running after :data:`STALLED_EVALUATIONS` is no dipole
#: of two PSFs (the residual of a badly subtracted star in a crowded field: 2.6 to 250 on
#: the SAAO pairs, where such fits crept on for up to 200 evaluations).
STALLED_CHI2DOF = 2.0

#: Roles of the images in the model.
DIFFERENCE, SCIENCE, TEMPLATE = 0, 1, 2


@dataclass
class Cutout:
    """One image's pixels inside a source's bounding box.

    Attributes
    ----------
    role : int
        DIFFERENCE, SCIENCE or TEMPLATE.
    data, variance : numpy.ndarray
        Pixel values and variances ``[y, x]`` (0 and 1 where unused).
    use : numpy.ndarray
        True where the pixel enters the fit.
    weight : numpy.ndarray
        Least-squares weight of each pixel (0 where unused).
    psf : PsfInterpolant
        The image's PSF at the source.
    """

    role: int
    data: np.ndarray
    variance: np.ndarray
    use: np.ndarray
    weight: np.ndarray
    psf: PsfInterpolant


@dataclass
class DipoleFit:
    """Result of one dipole fit.

    Attributes
    ----------
    params : numpy.ndarray
        ``f+, x+, y+, x-, y-, f-`` (``f- = f+`` unless fitted separately).
    covariance : numpy.ndarray
        6x6 covariance of ``params`` (NaN when the fit is singular).
    chi2dof : float
        Chi-square per degree of freedom of the difference-image pixels.
    nData : int
        Difference-image pixels fitted.
    success : bool
        The optimiser converged to finite parameters with positive fluxes, lobes
        within reach of their starts, and a usable covariance.
    """

    params: np.ndarray
    covariance: np.ndarray
    chi2dof: float
    nData: int
    success: bool
    converged: bool = True


class DipoleModel:
    """Residuals, Jacobian and covariance of the dipole model on a set of cut-outs.

    Parameter vector: ``f+, x+, y+, x-, y-``, then ``f-`` when ``separateNegative``,
    then the background coefficients of each science / template cut-out
    (``nBackground`` each: a constant, then x and y gradients).

    Parameters
    ----------
    cutouts : list of Cutout
        The difference first, then optionally the science and template cut-outs.
    x0, y0 : int
        Image pixel of the cut-outs' ``[0, 0]``.
    separateNegative : bool
        Fit the negative lobe's flux separately.
    nBackground : int
        Background terms per science / template cut-out: 0, 1 (constant) or 3 (plane).
    """

    def __init__(self, cutouts: list[Cutout], x0: int, y0: int, separateNegative: bool,
                 nBackground: int):
        self.cutouts = cutouts
        h, w = cutouts[0].data.shape
        self.columns = np.arange(x0, x0 + w, dtype=np.float64)
        self.rows = np.arange(y0, y0 + h, dtype=np.float64)
        scale = max(h, w) / 2.0
        yy, xx = np.mgrid[:h, :w]
        self.basis = [np.ones((h, w)), (xx - (w - 1) / 2.0) / scale,
                      (yy - (h - 1) / 2.0) / scale][:nBackground]
        self.separateNegative = separateNegative
        self.nBackground = nBackground
        self.nLobe = 6 if separateNegative else 5
        self.nParams = self.nLobe + nBackground * sum(c.role != DIFFERENCE for c in cutouts)
        self._cache: tuple[bytes, tuple] | None = None
        # the fitted pixels of each cut-out (flat indices), their sqrt weights and weighted data
        self._used = [np.flatnonzero(c.use) for c in cutouts]
        self._rootWeight = [np.sqrt(c.weight.ravel()[i]) for c, i in zip(cutouts, self._used)]
        self._weightedData = np.concatenate([r * c.data.ravel()[i] for c, i, r in
                                             zip(cutouts, self._used, self._rootWeight)])

    def fluxes(self, theta: np.ndarray) -> tuple[float, float]:
        return theta[0], theta[5] if self.separateNegative else theta[0]

    def derivatives(self, theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Model images and their ``(nParams, h, w)`` derivatives, one per cut-out."""
        key = theta.tobytes()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._evaluate(theta))
        return self._cache[1]

    def _evaluate(self, theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        fPos, fNeg = self.fluxes(theta)
        negFluxIndex = 5 if self.separateNegative else 0
        models, jacobians = [], []
        bgIndex = self.nLobe
        for cut in self.cutouts:
            jac = np.zeros((self.nParams,) + cut.data.shape)
            model = np.zeros(cut.data.shape)
            if cut.role in (DIFFERENCE, SCIENCE):
                p, px, py = cut.psf.render(self.columns, self.rows, theta[1], theta[2], True)
                model += fPos * p
                jac[0] += p
                jac[1] += fPos * px
                jac[2] += fPos * py
            if cut.role in (DIFFERENCE, TEMPLATE):
                sign = -1.0 if cut.role == DIFFERENCE else 1.0
                p, px, py = cut.psf.render(self.columns, self.rows, theta[3], theta[4], True)
                model += sign * fNeg * p
                jac[negFluxIndex] += sign * p
                jac[3] += sign * fNeg * px
                jac[4] += sign * fNeg * py
            if cut.role != DIFFERENCE:
                for k, term in enumerate(self.basis):
                    model += theta[bgIndex + k] * term
                    jac[bgIndex + k] = term
                bgIndex += self.nBackground
            models.append(model)
            jacobians.append(jac)
        return models, jacobians

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        models, _ = self.derivatives(theta)
        return self._weightedData - np.concatenate(
            [r * m.ravel()[i] for m, i, r in zip(models, self._used, self._rootWeight)])

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        _, jacobians = self.derivatives(theta)
        return np.concatenate([-(j.reshape(self.nParams, -1)[:, i] * r).T
                               for j, i, r in zip(jacobians, self._used, self._rootWeight)])

    def linearStart(self, theta: np.ndarray) -> np.ndarray:
        """``theta`` with its fluxes and backgrounds solved for at its positions."""
        _, jacobians = self.derivatives(theta)
        linear = [0] + ([5] if self.separateNegative else []) + list(range(self.nLobe,
                                                                          self.nParams))
        design = np.concatenate([(np.sqrt(c.weight) * j[linear])[:, c.use].T
                                 for c, j in zip(self.cutouts, jacobians)])
        target = np.concatenate([(np.sqrt(c.weight) * c.data)[c.use] for c in self.cutouts])
        solution, *_ = np.linalg.lstsq(design, target, rcond=None)
        out = theta.copy()
        out[linear] = solution
        return out

    def covariance(self, theta: np.ndarray, noise: NoiseCorrelation) -> np.ndarray:
        """Sandwich covariance ``H^-1 B H^-1`` of the weighted least-squares estimate.

        ``H = sum_i J_i^T W_i J_i`` and ``B = sum_ij (W_i J_i)^T C_ij (W_j J_j)`` with
        ``C_ij(p, q) = rho_ij(q - p) sqrt(v_i(p) v_j(q))`` the noise covariance of
        pixels ``p`` of cut-out ``i`` and ``q`` of cut-out ``j`` (``noise`` holds the
        images in the order of the cut-outs).
        """
        _, jacobians = self.derivatives(theta)
        hessian = np.zeros((self.nParams, self.nParams))
        scaled = []
        for cut, jac in zip(self.cutouts, jacobians):
            weighted = np.where(cut.use, cut.weight, 0.0) * jac
            hessian += np.einsum("ayx,byx->ab", weighted, jac)
            scaled.append(weighted * np.sqrt(np.where(cut.use, cut.variance, 0.0)))
        meat = _correlatedProducts(scaled, noise)
        inverse = np.linalg.inv(hessian)
        return inverse @ meat @ inverse

    def chi2(self, theta: np.ndarray) -> tuple[float, int]:
        """Chi-square of the difference cut-out (variance-weighted) and its pixel count."""
        models, _ = self.derivatives(theta)
        cut = self.cutouts[0]
        r = (cut.data - models[0])[cut.use]
        return float((r * r / cut.variance[cut.use]).sum()), int(cut.use.sum())


def _correlatedProducts(scaled: list[np.ndarray], noise: NoiseCorrelation) -> np.ndarray:
    """``sum_ab sum_pq u_a(p) rho_ab(q - p) u_b(q)^T`` for ``(k, h, w)`` stacks ``u_a``.

    The lag sums are FFT convolutions on cut-outs padded by the correlation
    radius, so pixels do not wrap around.
    """
    _, h, w = scaled[0].shape
    r = noise.radius
    shape = (h + 2 * r, w + 2 * r)
    spectra = [np.fft.rfft2(u, s=shape) for u in scaled]
    total = 0.0
    for a, left in enumerate(scaled):
        combined = sum(spectrum * noise.spreadSpectrum(a, b, shape)[None]
                       for b, spectrum in enumerate(spectra))
        spread = np.fft.irfft2(combined, s=shape)[:, r:r + h, r:r + w]
        total = total + np.einsum("ayx,byx->ab", left, spread)
    return total


class _Stalled(Exception):
    """Raised inside the optimiser to stop a fit that is no dipole of two PSFs."""


class _Watch:
    """The residual function of ``model`` that remembers its best point and stops stalled fits.

    After :data:`STALLED_EVALUATIONS` evaluations it raises :class:`_Stalled` when the
    chi2dof of the best point so far exceeds :data:`STALLED_CHI2DOF`.
    """

    def __init__(self, model: DipoleModel):
        self.model = model
        self.calls = 0
        self.best: tuple[float, np.ndarray] | None = None

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        residuals = self.model.residuals(theta)
        cost = float(residuals @ residuals)
        if self.best is None or cost < self.best[0]:
            self.best = (cost, theta.copy())
        self.calls += 1
        if self.calls == STALLED_EVALUATIONS:
            chi2, nData = self.model.chi2(self.best[1])
            if chi2 > STALLED_CHI2DOF * max(nData - self.model.nLobe, 1):
                raise _Stalled
        return residuals


def fitDipole(model: DipoleModel, start: np.ndarray, maxShift: float, tolerance: float,
              noise: NoiseCorrelation) -> DipoleFit:
    """Fit ``model`` from lobe positions ``start = (x+, y+, x-, y-)``.

    Fluxes and backgrounds start from their linear least-squares values at the
    start positions; the Levenberg-Marquardt fit then frees everything. A fit
    that does not converge (within :data:`MAX_EVALUATIONS` evaluations, or within
    :data:`STALLED_EVALUATIONS` when its model does not describe the difference),
    ends with a flux that is not positive, or moves a lobe farther than
    ``maxShift`` pixels from its start along either axis has failed.
    """
    theta = np.zeros(model.nParams)
    theta[1:5] = start
    theta = model.linearStart(theta)
    fluxIndex = [0] + ([5] if model.separateNegative else [])
    theta[fluxIndex] = np.maximum(theta[fluxIndex], 1e-3 * np.abs(theta[fluxIndex]).max() + 1.0)
    watch = _Watch(model)
    try:
        result = optimize.least_squares(watch, theta, jac=model.jacobian, method="lm",
                                        x_scale="jac", ftol=tolerance, xtol=tolerance,
                                        gtol=tolerance, max_nfev=MAX_EVALUATIONS)
        params, converged = result.x, result.status > 0
    except _Stalled:
        params, converged = watch.best[1], False
    chi2, nData = model.chi2(params)
    nDof = nData - model.nLobe
    chi2dof = chi2 / nDof if nDof > 0 else np.nan
    try:
        covariance = model.covariance(params, noise)
        ok = bool(np.all(np.isfinite(covariance)) and np.all(np.diag(covariance) >= 0))
    except np.linalg.LinAlgError:
        covariance, ok = np.full((model.nParams, model.nParams), np.nan), False
    inside = bool(np.all(np.abs(params[1:5] - start) <= maxShift))
    positive = bool(np.all(params[fluxIndex] > 0))
    order = [0, 1, 2, 3, 4, 5 if model.separateNegative else 0]
    success = ok and inside and positive and converged and bool(np.all(np.isfinite(params)))
    return DipoleFit(params[order], covariance[np.ix_(order, order)], chi2dof, nData, success,
                     converged)
