"""The photometric scale between the template and the science image (``F_r / F_n``).

From the photoCalibs when both exposures have one, else fitted from stars or taken
from the config (see :class:`~diffim_zogy.config.ZogyConfig`).

The fit compares each bright star in the two images after convolving each image
with the other's PSF, so that both see the same PSF ``P_n ⊗ P_r``: any weighted
sum of the two stamps then has the same ratio, whatever the PSFs. The weight is
``P_n ⊗ P_r`` itself (a matched filter); static neighbours scale by the same
ratio and do no harm, while variable stars and transients are rejected by the
robust mean of the per-star ratios (:func:`diffim.statistics.robustWeightedMean`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffim.convolution import convolve
from diffim.exposure import Exposure
from diffim.sourcefinding import extractObjects, matchedFilter
from diffim.statistics import clippedMean, robustWeightedMean, sampleGood

from .config import ZogyConfig
from .errors import FluxScaleError

#: Fewest stars a fitted flux ratio may rest on.
MIN_FIT_STARS = 3

#: Brightest stars used (by peak signal-to-noise in the science image).
MAX_FIT_STARS = 300

#: Lowest science peak signal-to-noise of a star used for the fit.
MIN_FIT_PEAK_SNR = 10.0

#: Lowest template signal-to-noise (of the weighted flux) of a star used for the fit: a
#: transient, bright in the science image and absent from the template, is no star of it.
MIN_FIT_TEMPLATE_SNR = 5.0

#: Smallest ratio of a peak's PSF-filtered to per-pixel S/N, as a fraction of a star's:
#: a star gives 1, a single-pixel cosmic ray about (peak / norm of the PSF) ** 2 of it.
MIN_STAR_SHAPE = 0.5


@dataclass(frozen=True)
class FluxScaling:
    """The template-to-science flux ratio and where it came from.

    Attributes
    ----------
    ratio : float
        Template counts per science count of the same source (``F_r / F_n``).
    source : str
        ``"photoCalib"``, ``"fit"`` or ``"config"``.
    nStars : int
        Stars the fit kept (0 unless fitted).
    error : float
        Standard error of a fitted ratio (0 unless fitted).
    """

    ratio: float
    source: str
    nStars: int = 0
    error: float = 0.0


def fluxScaling(science: Exposure, template: Exposure, config: ZogyConfig,
                unusable: np.ndarray) -> FluxScaling:
    """Choose the flux ratio as the config says.

    Parameters
    ----------
    science, template : Exposure
        The pair on one pixel grid.
    config : ZogyConfig
        ``scaleByCalibration``, ``doFitFluxScaling`` and the configured scalings.
    unusable : numpy.ndarray
        True where a pixel of either image must not be used.
    """
    if config.scaleByCalibration:
        if science.photoCalib is not None and template.photoCalib is not None:
            ratio = science.photoCalib.calibration / template.photoCalib.calibration
            return FluxScaling(float(ratio), "photoCalib")
        if config.doFitFluxScaling:
            return fitFluxRatio(science, template, unusable)
    return FluxScaling(config.templateFluxScaling / config.scienceFluxScaling, "config")


def fitFluxRatio(science: Exposure, template: Exposure, unusable: np.ndarray) -> FluxScaling:
    """Measure the template-to-science flux ratio from bright stars.

    Parameters
    ----------
    science, template : Exposure
        The pair on one pixel grid, with PSFs and variance planes.
    unusable : numpy.ndarray
        True where a pixel of either image must not be used; a star whose stamp
        touches one is skipped.

    Returns
    -------
    FluxScaling

    Raises
    ------
    FluxScaleError
        If fewer than :data:`MIN_FIT_STARS` stars survive.
    """
    center = science.center
    half = max(science.psf.at(*center).shape[0], template.psf.at(*center).shape[0]) // 2
    stampHalf = 3 * half
    scienceFluxes, templateFluxes, scienceVars, templateVars = [], [], [], []
    weights: dict[tuple[bytes, bytes], tuple[np.ndarray, np.ndarray]] = {}
    for x, y in _brightPeaks(science, unusable, stampHalf):
        box = (slice(y - stampHalf, y + stampHalf + 1), slice(x - stampHalf, x + stampHalf + 1))
        if unusable[box].any():
            continue
        sciencePsf = science.psf.at(x, y)
        templatePsf = template.psf.at(x, y)
        key = (sciencePsf.tobytes(), templatePsf.tobytes())
        if key not in weights:          # PSFs constant over the image: convolve once
            weights[key] = _matchedWeights(sciencePsf, templatePsf)
        scienceWeight, templateWeight = weights[key]
        scienceFlux, scienceVar = _weightedFlux(science, x, y, scienceWeight)
        templateFlux, templateVar = _weightedFlux(template, x, y, templateWeight)
        if not (scienceFlux > 0 and templateFlux > MIN_FIT_TEMPLATE_SNR * np.sqrt(templateVar)):
            continue
        scienceFluxes.append(scienceFlux)
        templateFluxes.append(templateFlux)
        scienceVars.append(scienceVar)
        templateVars.append(templateVar)
        if len(scienceFluxes) == MAX_FIT_STARS:
            break
    scienceFlux, templateFlux = np.array(scienceFluxes), np.array(templateFluxes)
    ratios = templateFlux / scienceFlux
    errors = _ratioErrors(ratios, scienceFlux, np.array(scienceVars), np.array(templateVars))
    combined = robustWeightedMean(ratios, errors)
    if combined.nKept < MIN_FIT_STARS:
        raise FluxScaleError(combined.nKept, MIN_FIT_STARS)
    return FluxScaling(combined.mean, "fit", combined.nKept, combined.error)


def _ratioErrors(ratios: np.ndarray, scienceFlux: np.ndarray, scienceVar: np.ndarray,
                 templateVar: np.ndarray) -> np.ndarray:
    """Errors of per-star ratios ``templateFlux / scienceFlux``, all at their median ratio.

    Each star's own ratio would give a star measured low a small error and so a
    large weight, biasing the mean low; at one common ratio the weights depend on
    the noise alone.
    """
    if ratios.size == 0:
        return ratios
    ratio = float(np.median(ratios))
    return np.sqrt(templateVar + ratio ** 2 * scienceVar) / scienceFlux


def _matchedWeights(sciencePsf: np.ndarray, templatePsf: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the science and template stamps: each image seen through the other's PSF,
    matched-filtered with ``P_n ⊗ P_r``."""
    weight = convolve(sciencePsf, templatePsf, mode="full")
    return (convolve(weight, templatePsf[::-1, ::-1], mode="full"),
            convolve(weight, sciencePsf[::-1, ::-1], mode="full"))


def _brightPeaks(science: Exposure, unusable: np.ndarray,
                 margin: int) -> list[tuple[int, int]]:
    """Peak of each star above the signal-to-noise threshold, brightest first.

    The regions are the objects of the per-pixel S/N image above
    :data:`MIN_FIT_PEAK_SNR` (:func:`diffim.sourcefinding.extractObjects`, any size,
    not filtered, deblended or cleaned); the S/N is measured from the clipped mean of
    the usable pixels. Peaks closer than ``margin`` to the image border are left out,
    and so are peaks sharper than the PSF (cosmic rays: their PSF-filtered S/N is
    less than :data:`MIN_STAR_SHAPE` of what a star of their peak S/N gives), which
    would otherwise pair with blank template sky. Stars are ranked by PSF-filtered S/N.
    """
    good = ~unusable & np.isfinite(science.image) & (science.variance > 0)
    level = clippedMean(sampleGood(science.image, good))
    signal = np.where(good, science.image - np.float32(level), np.float32(0.0))
    variance = np.where(good, science.variance, np.float32(0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(good, signal / np.sqrt(variance), np.float32(0.0))
    objects = extractObjects(snr, MIN_FIT_PEAK_SNR, minArea=1, filterKernel=None,
                             deblendContrast=1.0, clean=False).catalog
    xs, ys = objects["xpeak"].astype(np.intp), objects["ypeak"].astype(np.intp)
    height, width = snr.shape
    inside = (ys >= margin) & (ys < height - margin) & (xs >= margin) & (xs < width - margin)
    xs, ys = xs[inside], ys[inside]
    psf = science.psf.at(*science.center)
    filteredSnr = matchedFilter(signal, variance, ~good, psf).significance[ys, xs]
    starShape = np.sqrt(np.sum(psf ** 2)) / psf.max()
    star = filteredSnr >= MIN_STAR_SHAPE * starShape * snr[ys, xs]
    order = np.argsort(-filteredSnr[star], kind="stable")
    return [(int(x), int(y)) for x, y in zip(xs[star][order], ys[star][order])]


def _weightedFlux(exposure: Exposure, x: int, y: int,
                  weight: np.ndarray) -> tuple[float, float]:
    """``Σ weight · (stamp − local background)`` and its variance.

    The stamp is centred on ``(x, y)`` with the weight's size; the local background
    is the median of its outermost ring of pixels.
    """
    half = weight.shape[0] // 2
    box = (slice(y - half, y + half + 1), slice(x - half, x + half + 1))
    stamp = exposure.image[box].astype(np.float64)
    ring = np.concatenate([stamp[0], stamp[-1], stamp[1:-1, 0], stamp[1:-1, -1]])
    flux = float(np.sum(weight * (stamp - np.median(ring))))
    variance = float(np.sum(weight ** 2 * exposure.variance[box]))
    return flux, variance

