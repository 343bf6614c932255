"""Match stars through a trial transformation and fit a better one, rejecting outliers.

The LSST RegisterTask loop: fit, measure each match's residual, reject those
beyond ``sipRej`` times the rms, refit (``sipIter`` times). Two additions make
it converge from a rough start: an affine fit to the matches of the start is
used to match the stars again (so a start good only over part of the image
grows to the whole image), and the rejection rms is estimated from the median
residual, so false matches from a poor start do not inflate it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from diffim.matching import matchPixels
from diffim.polynomial import nTerms

from .stars import Stars
from .transforms import Transform

#: rms / median of the residual length of 2-D Gaussian errors (sqrt(2) / sqrt(2 ln 2)).
RMS_PER_MEDIAN = 1.0 / np.sqrt(np.log(2.0))

Fitter = Callable[..., Transform]


@dataclass(frozen=True)
class Registration:
    """A fitted transformation and the matches behind it.

    Attributes
    ----------
    transform : Transform
        Template to science pixels (and back).
    templateStars, scienceStars : Stars
        The star lists that were matched.
    templateIndex, scienceIndex : numpy.ndarray
        Matched stars (indices into the star lists).
    residual : numpy.ndarray
        ``(n, 2)`` science minus fitted position (science pixels) of each match.
    kept : numpy.ndarray
        True for the matches used in the final fit.
    """

    transform: Transform
    templateStars: Stars
    scienceStars: Stars
    templateIndex: np.ndarray
    scienceIndex: np.ndarray
    residual: np.ndarray
    kept: np.ndarray

    @property
    def nMatches(self) -> int:
        """Matches used in the final fit."""
        return int(np.count_nonzero(self.kept))

    @property
    def nRejected(self) -> int:
        """Matches rejected as outliers."""
        return int(self.kept.size - self.nMatches)

    def records(self) -> list[dict]:
        """One dict per match: ``templateX``, ``templateY``, ``scienceX``, ``scienceY``,
        residual ``dx``, ``dy`` (science pixels) and ``rejected``."""
        t, s = self.templateStars, self.scienceStars
        return [{"templateX": float(t.x[i]), "templateY": float(t.y[i]),
                 "scienceX": float(s.x[j]), "scienceY": float(s.y[j]),
                 "dx": float(dx), "dy": float(dy), "rejected": not bool(kept)}
                for i, j, (dx, dy), kept in zip(self.templateIndex, self.scienceIndex,
                                                self.residual, self.kept)]

    @property
    def meanOffset(self) -> tuple[float, float]:
        """Mean science minus template position ``(dx, dy)`` of the kept matches (pixels)."""
        t, s = self.templateStars, self.scienceStars
        it, js = self.templateIndex[self.kept], self.scienceIndex[self.kept]
        return float(np.mean(s.x[js] - t.x[it])), float(np.mean(s.y[js] - t.y[it]))

    @property
    def rms(self) -> float:
        """Root-mean-square residual length of the kept matches (science pixels)."""
        if not self.kept.any():
            return float("inf")
        return float(np.sqrt(np.mean(np.sum(self.residual[self.kept] ** 2, axis=1))))


def fittableOrder(nMatches: int, order: int) -> int:
    """Highest order up to ``order`` (at least 1) with two matches per coefficient."""
    while order > 1 and nMatches < 2 * nTerms(order):
        order -= 1
    return max(order, 1)


def _residual(transform: Transform, template: Stars, science: Stars, it, js) -> np.ndarray:
    fx, fy = transform.toScience(template.x[it], template.y[it])
    return np.column_stack([science.x[js] - fx, science.y[js] - fy])


def _fit(fitter: Fitter, template: Stars, science: Stars, it, js, kept,
         order: int) -> Transform:
    it, js = it[kept], js[kept]
    return fitter(template.x[it], template.y[it], science.x[js], science.y[js],
                  fittableOrder(len(it), order))


def _match(x: np.ndarray, y: np.ndarray, science: Stars,
           radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours within ``radius`` of positions ``(x, y)`` and the science stars.

    Returns the matched indices into ``(x, y)`` and into ``science``.
    """
    found = matchPixels(x, y, science.x, science.y, radius, method="mutual")
    return found.index1, found.index2


def _reject(residual: np.ndarray, sipRej: float) -> np.ndarray:
    """True for the matches within ``sipRej`` times the (median-estimated) residual rms."""
    length = np.hypot(residual[:, 0], residual[:, 1])
    return length <= sipRej * RMS_PER_MEDIAN * np.median(length)


def fitWithRejection(template: Stars, science: Stars, start: Callable, fitter: Fitter,
                     order: int, radius: float, sipIter: int, sipRej: float
                     ) -> Registration | None:
    """Match, fit and reject outliers, starting from a rough transformation.

    1. Acquire: match the stars through ``start`` (mutual nearest neighbours,
       :func:`diffim.matching.matchPixels`); fit an affine transformation,
       reject outliers, refit.
    2. Re-match all stars through that fit.
    3. ``sipIter`` times: fit at ``order`` (lowered when the matches are too few,
       see :func:`fittableOrder`) and keep the matches within ``sipRej`` rms;
       then the final fit to the kept matches.

    Parameters
    ----------
    template, science : Stars
        Star lists of the two exposures.
    start : callable
        ``start(x, y)``: a first guess of the science position of template pixels.
    fitter : callable
        ``fitter(tx, ty, sx, sy, order) -> Transform``.
    order : int
        Order of the final fit.
    radius : float
        Match radius (science pixels).
    sipIter : int
        Fit-and-reject iterations.
    sipRej : float
        Rejection threshold in units of the residual rms.

    Returns
    -------
    Registration or None
        None when fewer than three stars match.
    """
    if len(template) < 3 or len(science) < 3:
        return None
    it, js = _match(*start(template.x, template.y), science, radius)
    if len(it) < 3:
        return None
    everything = np.ones(len(it), dtype=bool)
    kept = _reject(_residual(_fit(fitter, template, science, it, js, everything, 1),
                             template, science, it, js), sipRej)
    if kept.sum() < 3:
        return None
    acquired = _fit(fitter, template, science, it, js, kept, 1)
    it, js = _match(*acquired.toScience(template.x, template.y), science, radius)
    if len(it) < 3:
        return None
    kept = np.ones(len(it), dtype=bool)
    for _ in range(sipIter):
        transform = _fit(fitter, template, science, it, js, kept, order)
        kept = _reject(_residual(transform, template, science, it, js), sipRej)
        if kept.sum() < 3:
            return None
    transform = _fit(fitter, template, science, it, js, kept, order)
    return Registration(transform, template, science, it, js,
                        _residual(transform, template, science, it, js), kept)
