"""The dipole model for a whole catalog: which sources, their cut-outs, fits and columns."""
from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy import ndimage

from diffim.errors import InputError
from diffim.exposure import Exposure

from .base import Lobes
from .config import DipoleMeasurementConfig
from .dipole import DIFFERENCE, SCIENCE, TEMPLATE, Cutout, DipoleFit, DipoleModel, fitDipole
from .noise import NoiseCorrelation
from .psfmodel import PsfInterpolant
from .schema import DIPOLE, DIPOLE_SCHEMA, emptyColumns

#: Background terms per science / template cut-out for each ``fitBackground`` value.
_BACKGROUND_TERMS = {0: 0, 1: 1, 2: 3}

#: PSF sigmas of light beyond the farthest a lobe may move (maxSeparation) that the fit sees.
FIT_MARGIN = 4.0


def _checkImage(exposure: Exposure, name: str, shape: tuple[int, int],
                badMaskPlanes: tuple[str, ...]) -> None:
    if exposure.psf is None or exposure.variance is None:
        raise InputError(f"the dipole fit with relWeight > 0 needs the {name}'s PSF and "
                         f"variance plane; set relWeight=0 to fit the difference alone")
    if exposure.shape != shape:
        raise InputError(f"the {name} shape {exposure.shape} differs from the difference "
                         f"image shape {shape}")


def fittedImages(difference: Exposure, science: Exposure, matchedTemplate: Exposure | None,
                 config: DipoleMeasurementConfig) -> list[tuple[int, Exposure]]:
    """The images the dipole model is fitted to, with their roles.

    The difference always; with ``relWeight > 0`` also the science exposure
    and, when there is one, the PSF-matched template.
    """
    images = [(DIFFERENCE, difference)]
    if config.relWeight > 0:
        _checkImage(science, "science exposure", difference.shape, config.badMaskPlanes)
        images.append((SCIENCE, science))
        if matchedTemplate is not None:
            _checkImage(matchedTemplate, "matched template", difference.shape,
                        config.badMaskPlanes)
            images.append((TEMPLATE, matchedTemplate))
    return images


def lobeStarts(lobes: Lobes, sigma: float) -> np.ndarray:
    """``(n, 4)`` starting lobe positions ``x+, y+, x-, y-``: the peaks.

    A lobe without a peak of its own (a single-signed source fitted with
    ``fitAllDiaSources``) starts one PSF sigma from the other along x.
    """
    posX = np.where(lobes.positive, lobes.posX, lobes.negX + sigma)
    posY = np.where(lobes.positive, lobes.posY, lobes.negY)
    negX = np.where(lobes.negative, lobes.negX, lobes.posX - sigma)
    negY = np.where(lobes.negative, lobes.negY, lobes.posY)
    return np.column_stack([posX, posY, negX, negY])


def fitBox(footprintBox: tuple[slice, slice], start: np.ndarray, reach: float
           ) -> tuple[slice, slice]:
    """The part of a footprint's bounding box within ``reach`` pixels of both lobe starts.

    A dipole's light lies within a few PSF widths of its lobes, so a footprint that grew
    over a large region (a crowded or badly subtracted field) is not fitted whole: the
    cost stays that of a stamp.
    """
    xs, ys = start[0::2], start[1::2]
    rows, columns = footprintBox
    low = (max(rows.start, int(np.floor(ys.min() - reach))),
           max(columns.start, int(np.floor(xs.min() - reach))))
    high = (min(rows.stop, int(np.ceil(ys.max() + reach)) + 1),
            min(columns.stop, int(np.ceil(xs.max() + reach)) + 1))
    return slice(low[0], max(low[0], high[0])), slice(low[1], max(low[1], high[1]))


def _cutouts(images: list[tuple[int, Exposure]], usable: list[np.ndarray],
             box: tuple[slice, slice], own: np.ndarray, x: float, y: float,
             weightScale: list[float]) -> list[Cutout]:
    """Each image's pixels in ``box`` (those of ``own`` it can use), weights and PSF at (x, y)."""
    cutouts = []
    for (role, exposure), good, scale in zip(images, usable, weightScale):
        use = own & good[box]
        variance = np.where(use, exposure.variance[box], 1.0).astype(np.float64)
        data = np.where(use, exposure.image[box], 0.0).astype(np.float64)
        cutouts.append(Cutout(role, data, variance, use, np.where(use, scale / variance, 0.0),
                              PsfInterpolant(exposure.psf.at(x, y))))
    return cutouts


def _fitColumns(columns: dict[str, np.ndarray], row: int, fit: DipoleFit,
                config: DipoleMeasurementConfig) -> None:
    """Write one fit's parameters, errors and classification into ``columns``."""
    fPos, xPos, yPos, xNeg, yNeg, fNeg = fit.params
    cov = fit.covariance
    err = np.sqrt(np.diag(cov))
    dx, dy = xPos - xNeg, yPos - yNeg
    separation = float(np.hypot(dx, dy))
    if separation > 0:
        grad = np.array([0.0, dx, dy, -dx, -dy, 0.0]) / separation
        separationErr = float(np.sqrt(grad @ cov @ grad))
    else:
        separationErr = np.nan
    midX = np.array([0.0, 0.5, 0.0, 0.5, 0.0, 0.0])
    midY = np.array([0.0, 0.0, 0.5, 0.0, 0.5, 0.0])
    mean = np.array([0.5, 0.0, 0.0, 0.0, 0.0, 0.5])
    snr = float(np.hypot(fPos / err[0], fNeg / err[5]))
    share = max(fPos, fNeg) / (fPos + fNeg) if fPos + fNeg > 0 else 1.0
    values = {
        "pos_instFlux": fPos, "pos_instFluxErr": err[0],
        "neg_instFlux": -fNeg, "neg_instFluxErr": err[5],
        "instFlux": 0.5 * (fPos + fNeg), "instFluxErr": float(np.sqrt(mean @ cov @ mean)),
        "pos_centroid_x": xPos, "pos_centroid_y": yPos,
        "pos_centroid_xErr": err[1], "pos_centroid_yErr": err[2],
        "neg_centroid_x": xNeg, "neg_centroid_y": yNeg,
        "neg_centroid_xErr": err[3], "neg_centroid_yErr": err[4],
        "centroid_x": 0.5 * (xPos + xNeg), "centroid_y": 0.5 * (yPos + yNeg),
        "centroid_xErr": float(np.sqrt(midX @ cov @ midX)),
        "centroid_yErr": float(np.sqrt(midY @ cov @ midY)),
        "separation": separation, "separationErr": separationErr,
        "orientation": float(np.degrees(np.arctan2(dy, dx))),
        "chi2dof": fit.chi2dof, "signalToNoise": snr,
        "flag_classificationAttempted": True,
        "flag_classification": bool(snr > config.minSn and share < config.maxFluxRatio),
    }
    for name, value in values.items():
        columns[f"{DIPOLE}_{name}"][row] = value


def dipoleRows(lobes: Lobes, config: DipoleMeasurementConfig) -> np.ndarray:
    """Rows the dipole model is fitted to: dipole candidates, or every non-sky source."""
    if config.fitAllDiaSources:
        return ~lobes.sky
    return lobes.positive & lobes.negative & ~lobes.sky


def measureDipoles(diaSources: Table, footprints: np.ndarray,
                   images: list[tuple[int, Exposure]], usable: list[np.ndarray],
                   noise: NoiseCorrelation, lobes: Lobes,
                   config: DipoleMeasurementConfig) -> dict[str, np.ndarray]:
    """The ``ip_diffim_DipoleFit_*`` columns (:data:`.schema.DIPOLE_SCHEMA`) of every row.

    Parameters
    ----------
    diaSources : astropy.table.Table
        The sources (``x``, ``y``).
    footprints : numpy.ndarray
        Label image; row ``i`` owns label ``i + 1``.
    images : list of (int, Exposure)
        The fitted images and their roles (:func:`fittedImages`), difference first.
    usable : list of numpy.ndarray
        Usable pixels of each image.
    noise : NoiseCorrelation
        Noise correlations of ``images``, in their order.
    lobes : Lobes
        Peaks and signs of the sources.
    config : DipoleMeasurementConfig
        Fit parameters.

    See :meth:`diffim_measurement.DipoleMeasurement.diffim_measurement`.
    """
    n = len(diaSources)
    columns = emptyColumns(DIPOLE_SCHEMA, n)
    columns[f"{DIPOLE}_flag"][:] = True
    chosen = dipoleRows(lobes, config)
    if not chosen.any():
        return columns
    sigma = images[0][1].psf.sigma()
    weightScale = _weightScales(images, noise, config.relWeight)
    starts = lobeStarts(lobes, sigma)
    boxes = ndimage.find_objects(footprints, max_label=n)
    x = np.asarray(diaSources["x"], dtype=np.float64)
    y = np.asarray(diaSources["y"], dtype=np.float64)
    nBackground = _BACKGROUND_TERMS[config.fitBackground]
    reach = (config.maxSeparation + FIT_MARGIN) * sigma
    for row in np.flatnonzero(chosen):
        if boxes[row] is None or not np.all(np.isfinite(starts[row])):
            continue
        box = fitBox(boxes[row], starts[row], reach)
        labels = footprints[box]
        own = (labels == row + 1) | (labels == 0)
        cutouts = _cutouts(images, usable, box, own, x[row], y[row], weightScale)
        model = DipoleModel(cutouts, box[1].start, box[0].start, config.fitSeparateNegParams,
                            nBackground)
        if cutouts[0].use.sum() <= model.nParams:
            continue
        fit = fitDipole(model, starts[row], config.maxSeparation * sigma, config.tolerance,
                        noise)
        columns[f"{DIPOLE}_nData"][row] = fit.nData
        columns[f"{DIPOLE}_flag_notConverged"][row] = not fit.converged
        if fit.success:
            columns[f"{DIPOLE}_flag"][row] = False
            _fitColumns(columns, row, fit, config)
    return columns


def _weightScales(images: list[tuple[int, Exposure]], noise: NoiseCorrelation,
                  relWeight: float) -> list[float]:
    """Pixel weight of each image: ``relWeight`` (1 for the difference) over its noise excess.

    A pixel's weight is this over its variance. The excess is how much more
    noise the image has for a PSF-shaped fit than its variance plane says
    (:meth:`NoiseCorrelation.varianceFactor` for the PSF as weights): about 1 for white noise, ten
    or more for the matched template, whose noise the kernel has smoothed.
    """
    scales = []
    for index, (role, exposure) in enumerate(images):
        factor = noise.varianceFactor(index, exposure.psf.at(*exposure.center))
        scales.append((1.0 if role == DIFFERENCE else relWeight) / factor)
    return scales
