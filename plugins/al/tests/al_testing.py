"""Synthetic science/template pairs and measurements for the al plugin's tests and benchmarks.

Gaussian stars at random sub-pixel positions (pixel-integrated), a sky with a
gradient in the science image, Gaussian noise whose variance is the expected
counts (gain 1; the template is a 4-frame average, so quieter), a photometric
scale between the two, and transients present in the science image only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from diffim import Exposure, GaussianPsf, PhotoCalib, SpatialPsf
from diffim.psf import gaussian_stamp
from diffim_al import AlardLuptonSubtraction, ImagePsfMatchConfig


@dataclass
class Truth:
    """What was put into a synthetic pair.

    Star positions and fluxes (template and science counts), the common flux
    ratio, the transients (science only), and the PSF sigmas (the science one a
    function of position when it varies).
    """

    x: np.ndarray
    y: np.ndarray
    templateFlux: np.ndarray
    scienceFlux: np.ndarray
    fluxRatio: float
    transientX: np.ndarray
    transientY: np.ndarray
    transientFlux: np.ndarray
    scienceSigma: object
    templateSigma: float


def _pixelIntegral(centre: float, sigma: float, first: int, count: int) -> np.ndarray:
    edges = np.arange(first, first + count + 1) - 0.5
    cdf = 0.5 * (1.0 + erf((edges - centre) / (np.sqrt(2.0) * sigma)))
    return np.diff(cdf)


def renderStars(shape: tuple[int, int], x, y, flux, sigma) -> np.ndarray:
    """Sum of pixel-integrated circular Gaussians (sigma scalar or per star)."""
    image = np.zeros(shape)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), np.shape(x))
    for xi, yi, fi, si in zip(x, y, flux, sigma):
        half = int(np.ceil(6.0 * si)) + 1
        x0, y0 = max(int(round(xi)) - half, 0), max(int(round(yi)) - half, 0)
        x1, y1 = min(int(round(xi)) + half + 1, shape[1]), min(int(round(yi)) + half + 1, shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        gx = _pixelIntegral(xi, si, x0, x1 - x0)
        gy = _pixelIntegral(yi, si, y0, y1 - y0)
        image[y0:y1, x0:x1] += fi * np.outer(gy, gx)
    return image


def _spatialPsf(sigmaAt, width: int, height: int) -> SpatialPsf:
    grid = np.linspace(0, 1, 5)
    xs, ys = np.meshgrid(grid * (width - 1), grid * (height - 1))
    stamps = [gaussian_stamp(sigmaAt(x, y), 31) for x, y in zip(xs.ravel(), ys.ravel())]
    return SpatialPsf(np.array(stamps), xs.ravel(), ys.ravel(), 1, (width, height))


def makePair(size: int = 512, nStars: int = 200, templateSigma: float = 1.6,
             scienceSigma: float | None = None, fluxRatio: float = 1.2,
             nTransients: int = 4, transientFlux: float = 2.0e4, seed: int = 1,
             scienceSigmaGradient: float = 0.0, fluxRange=(2.0e3, 3.0e5),
             scienceSky: float = 200.0, templateSky: float = 80.0, nVariables: int = 0):
    """Build a science/template pair on the same pixel grid.

    Parameters
    ----------
    size : int
        Width and height in pixels.
    nStars : int
        Number of stars.
    templateSigma : float
        Template PSF sigma (pixels).
    scienceSigma : float, optional
        Science PSF sigma at the image centre; 1.3 x templateSigma by default.
    fluxRatio : float
        Science flux / template flux of every star.
    nTransients : int
        Point sources in the science image only, placed away from stars.
    transientFlux : float
        Their science flux.
    seed : int
        Seed of the generator that draws everything.
    scienceSigmaGradient : float
        Fractional change of the science sigma across the image in x (0.2: from
        0.9 to 1.1 times scienceSigma).
    fluxRange : tuple of float
        Template star fluxes are log-uniform in this range.
    scienceSky, templateSky : float
        Mean sky levels (the science sky has a gradient).
    nVariables : int
        Stars (the first ones drawn, given a template flux of 0.3 x the top of
        ``fluxRange``) that are twice as bright, relative to the template, as the
        others in the science image.

    Returns
    -------
    science, template : Exposure
    truth : Truth
    """
    rng = np.random.default_rng(seed)
    if scienceSigma is None:
        scienceSigma = 1.3 * templateSigma
    shape = (size, size)
    x = rng.uniform(5, size - 5, nStars)
    y = rng.uniform(5, size - 5, nStars)
    flux = np.exp(rng.uniform(*np.log(fluxRange), nStars))
    flux[:nVariables] = 0.3 * fluxRange[1]

    tx, ty = [], []
    while len(tx) < nTransients:
        cx, cy = rng.uniform(40, size - 40, 2)
        if np.min(np.hypot(x - cx, y - cy)) > 20 and all(
                np.hypot(px - cx, py - cy) > 20 for px, py in zip(tx, ty)):
            tx.append(cx)
            ty.append(cy)
    tx, ty = np.array(tx), np.array(ty)
    tflux = np.full(nTransients, transientFlux)

    def sigmaAt(px, py):
        return scienceSigma * (1.0 + scienceSigmaGradient * (np.asarray(px) / (size - 1) - 0.5))

    yy, xx = np.mgrid[:size, :size]
    sky = scienceSky * (1.0 + 0.1 * xx / size + 0.05 * yy / size)
    scienceFlux = fluxRatio * flux
    scienceFlux[:nVariables] *= 2.0
    scienceModel = renderStars(shape, np.r_[x, tx], np.r_[y, ty], np.r_[scienceFlux, tflux],
                               sigmaAt(np.r_[x, tx], np.r_[y, ty]))
    scienceVariance = sky + scienceModel
    scienceImage = sky + scienceModel + rng.normal(size=shape) * np.sqrt(scienceVariance)

    templateModel = renderStars(shape, x, y, flux, templateSigma)
    templateVariance = (templateSky + templateModel) / 4.0
    templateImage = templateSky + templateModel + rng.normal(size=shape) * np.sqrt(templateVariance)

    if scienceSigmaGradient:
        sciencePsf = _spatialPsf(sigmaAt, size, size)
    else:
        sciencePsf = GaussianPsf(scienceSigma, averagePosition=((size - 1) / 2, (size - 1) / 2))
    templatePsf = GaussianPsf(templateSigma, averagePosition=((size - 1) / 2, (size - 1) / 2))
    science = Exposure(image=scienceImage, variance=scienceVariance, psf=sciencePsf,
                       photoCalib=PhotoCalib(27.0), filter="r", obsDate="2022-01-01T00:00:00")
    template = Exposure(image=templateImage, variance=templateVariance, psf=templatePsf,
                        photoCalib=PhotoCalib(27.0 - 2.5 * np.log10(fluxRatio)), filter="r")
    truth = Truth(x, y, flux, scienceFlux, fluxRatio, tx, ty, tflux,
                  sigmaAt if scienceSigmaGradient else scienceSigma, templateSigma)
    return science, template, truth


def sourceFree(shape: tuple[int, int], truth: Truth, radius: float) -> np.ndarray:
    """Boolean image, True farther than ``radius`` from every star and transient."""
    free = np.ones(shape, dtype=bool)
    r = int(np.ceil(radius))
    for px, py in zip(np.r_[truth.x, truth.transientX], np.r_[truth.y, truth.transientY]):
        x0, x1 = max(int(px) - r, 0), min(int(px) + r + 2, shape[1])
        y0, y1 = max(int(py) - r, 0), min(int(py) + r + 2, shape[0])
        yy, xx = np.mgrid[y0:y1, x0:x1]
        free[y0:y1, x0:x1] &= np.hypot(xx - px, yy - py) > radius
    return free


def apertureSum(image: np.ndarray, x: float, y: float, radius: float) -> float:
    """Sum of ``image`` within ``radius`` of ``(x, y)`` (whole pixels by centre)."""
    r = int(np.ceil(radius)) + 1
    x0, y0 = int(round(x)) - r, int(round(y)) - r
    yy, xx = np.mgrid[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
    inside = np.hypot(xx - x, yy - y) <= radius
    return float(image[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1][inside].sum())


def subtract(science: Exposure, template: Exposure, convolveTemplate: bool = True,
             kernelSources=None, **overrides):
    """Run the al subtraction with a frozen config carrying ``overrides``."""
    config = ImagePsfMatchConfig(**overrides)
    config.freeze()
    return AlardLuptonSubtraction().diffim_subtract(science, template, config, convolveTemplate,
                                                    kernelSources, np.random.default_rng(0))
