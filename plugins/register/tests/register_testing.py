"""Pairs with known misalignment and the measurements the register tests make on them.

A unique module name: the suite runs in pytest's importlib mode with every
plugin's tests together; ``conftest.py`` puts this directory on ``sys.path``.
"""
from __future__ import annotations

import numpy as np
from astropy.wcs import WCS
from scipy import ndimage
from scipy.spatial import cKDTree

from diffim import Exposure, GaussianPsf
from diffim.sanitize import sanitize
from diffim.testing.simulate import simulatePair
from diffim import plugins

AlardLuptonSubtraction = plugins.load("subtract", "al")


#: simulatePair's default sub-pixel offset: science (x, y) is template (x - 0.3, y - 0.2).
SIM_OFFSET = (0.3, 0.2)


def simulatedPair(size: int = 1024, seed: int = 3, **kwargs):
    """A sanitised simulated pair (science, template, truth) with few transients."""
    science, template, truth = simulatePair(size=size, seed=seed, nTransients=10, **kwargs)
    return sanitize(science, "science"), sanitize(template, "template"), truth


def damagedWcs(wcs: WCS, arcsec: float, degrees: float) -> WCS:
    """``wcs`` with CRVAL moved north by ``arcsec`` and the CD matrix rotated by ``degrees``."""
    damaged = wcs.deepcopy()
    damaged.wcs.crval = damaged.wcs.crval + np.array([0.0, arcsec / 3600.0])
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    damaged.wcs.cd = rotation @ damaged.wcs.cd
    damaged.wcs.set()
    return damaged


def transformedTemplate(template: Exposure, degrees: float, scale: float,
                        shift: tuple[float, float]):
    """Resample ``template`` so its pixel ``q`` shows what pixel ``A q + c`` showed.

    ``A`` is a rotation by ``degrees`` times ``scale``; ``c`` puts the centre of
    the new grid at the old centre plus ``shift``. Counts are conserved, the
    (circular Gaussian) PSF narrows by ``scale`` and the WCS is dropped. Returns
    the new template and ``old(x, y) -> new(x, y)``.
    """
    angle = np.radians(degrees)
    matrix = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array(template.center)
    offset = centre + np.array(shift) - matrix @ centre
    nodata = 1 << template.maskPlanes["NO_DATA"]

    def resample(plane, order, cval):
        return ndimage.affine_transform(plane, matrix[::-1, ::-1], offset=offset[::-1],
                                        order=order, mode="constant", cval=cval)

    moved = Exposure(image=resample(template.image, 3, 0.0) * scale ** 2,
                     variance=resample(template.variance, 1, 1.0) * scale ** 4,
                     mask=resample(template.mask, 0, nodata),
                     psf=GaussianPsf(template.psf.gaussianSigma / scale),
                     maskPlanes=template.maskPlanes.copy())
    inverse = np.linalg.inv(matrix)

    def toNew(x, y):
        dx, dy = np.asarray(x) - offset[0], np.asarray(y) - offset[1]
        return inverse[0, 0] * dx + inverse[0, 1] * dy, inverse[1, 0] * dx + inverse[1, 1] * dy

    return sanitize(moved, "template"), toNew


def trueResidual(toTemplate, truth, templateShape: tuple[int, int],
                 scienceShape: tuple[int, int], step: int = 8) -> np.ndarray:
    """Distances (pixels) between fitted and true template positions of science pixels.

    Evaluated every ``step`` science pixels where the true position is on the template.
    """
    y, x = np.mgrid[0:scienceShape[0]:step, 0:scienceShape[1]:step].astype(np.float64)
    fx, fy = toTemplate(x, y)
    tx, ty = truth(x, y)
    h, w = templateShape
    on = (tx >= 0) & (ty >= 0) & (tx <= w - 1) & (ty <= h - 1)
    return np.hypot(fx - tx, fy - ty)[on]


def simulationTruth(x, y):
    """Template position of science pixels in a simulatePair pair."""
    return np.asarray(x) - SIM_OFFSET[0], np.asarray(y) - SIM_OFFSET[1]


def rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def subtractAl(science: Exposure, template: Exposure) -> Exposure:
    """The al plugin's difference (template convolved) with its default config."""
    config = AlardLuptonSubtraction.ConfigClass()
    config.freeze()
    return AlardLuptonSubtraction().diffim_subtract(
        science=science, template=template, config=config, convolveTemplate=True,
        kernelSources=None, rng=np.random.default_rng(0)).subtractedExposure


def distanceToNearest(shape: tuple[int, int], x, y) -> np.ndarray:
    """Distance of every pixel to the nearest of the positions ``(x, y)``."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    distance, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([xx.ravel(),
                                                                         yy.ravel()]))
    return distance.reshape(shape)


def normalisedResidual(difference: Exposure, where: np.ndarray) -> np.ndarray:
    """``difference / sqrt(variance)`` at the valid pixels of ``where``."""
    z = difference.image / np.sqrt(difference.variance)
    valid = where & np.isfinite(z) & ~difference.maskedPixels("NO_DATA", "EDGE", "SAT")
    return z[valid]


def robustStd(values: np.ndarray) -> float:
    """1.4826 times the median absolute deviation."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))
