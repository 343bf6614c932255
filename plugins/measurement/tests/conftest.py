"""Images with known truth for the measurement tests.

* ``pointSources``: white (or kernel-correlated) noise with pixel-integrated Gaussian
  point sources of either sign.
* ``exactDipoles``: a science image, a PSF-matched template and their difference built
  the way an Alard-Lupton subtraction builds them (the template, with its own noise,
  convolved with a matching kernel), with stars that moved between the epochs; the truth
  is exact because nothing is fitted in making the images.
* ``simulatedRuns``: :func:`diffim.testing.simulate.simulatePair` pairs with moving stars and
  transients run through the default pipeline with measurement switched on.

The helpers are handed to tests as fixtures (the suite runs in pytest's importlib mode,
where test modules cannot import each other).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import erf

from diffim import Exposure, GaussianPsf, ImagePsf
from diffim.pipeline import load_pipeline
from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask
from diffim.testing.plugins import detectSources

#: The default pipeline of the repository this plugin lives in.
PIPELINE = Path(__file__).resolve().parents[3] / "pipelines" / "default.yaml"


def pixelGaussian(shape: tuple[int, int], x: float, y: float, sigma: float,
                  sigmaY: float | None = None) -> np.ndarray:
    """Unit-flux Gaussian centred on ``(x, y)``, integrated over the pixels of an image."""
    sigmaY = sigma if sigmaY is None else sigmaY
    edgesX = np.arange(shape[1] + 1) - 0.5
    edgesY = np.arange(shape[0] + 1) - 0.5
    gx = np.diff(erf((edgesX - x) / (np.sqrt(2.0) * sigma))) / 2.0
    gy = np.diff(erf((edgesY - y) / (np.sqrt(2.0) * sigmaY))) / 2.0
    return np.outer(gy, gx)


def gridPositions(size: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An ``n x n`` grid of cell centres over a ``size`` image, jittered by up to half a pixel."""
    step = size / n
    gx, gy = np.meshgrid((np.arange(n) + 0.5) * step, (np.arange(n) + 0.5) * step)
    return (gx.ravel() + rng.uniform(-0.5, 0.5, n * n),
            gy.ravel() + rng.uniform(-0.5, 0.5, n * n))


def pointSources(seed: int, size: int = 512, n: int = 10, sigma: float = 2.0,
                 noise: float = 10.0, snr: tuple[float, float] = (10.0, 50.0),
                 correlation: float = 0.0, signs: bool = True) -> SimpleNamespace:
    """Noise with point sources on a grid; the variance plane is the per-pixel variance.

    With ``correlation > 0`` the noise is white noise smoothed by a Gaussian of that
    sigma and rescaled to ``noise`` per pixel: correct per pixel, correlated between
    pixels, like a convolved template's.
    """
    rng = np.random.default_rng(seed)
    shape = (size, size)
    field = rng.normal(0.0, 1.0, shape)
    if correlation > 0:
        field = ndimage.gaussian_filter(field, correlation, mode="wrap")
        field /= field.std()
    image = noise * field
    x, y = gridPositions(size, n, rng)
    psf = GaussianPsf(sigma)
    norm = np.sqrt((psf.image ** 2).sum())
    flux = np.exp(rng.uniform(*np.log(snr), x.size)) * noise / norm
    if signs:
        flux *= rng.choice([-1.0, 1.0], x.size)
    for xs, ys, fs in zip(x, y, flux):
        image += fs * pixelGaussian(shape, xs, ys, sigma)
    exposure = Exposure(image=image, variance=np.full(shape, noise ** 2), psf=psf)
    return SimpleNamespace(exposure=exposure, x=x, y=y, flux=flux)


def exactDipoles(seed: int, size: int = 512, n: int = 8, templateSigma: float = 1.5,
                 scienceSigma: float = 2.0, skyScience: float = 1000.0,
                 skyTemplate: float = 3000.0, scale: float = 3.6, gain: float = 2.0,
                 snr: tuple[float, float] = (50.0, 300.0),
                 brightening: tuple[float, float] = (1.0, 1.0)) -> SimpleNamespace:
    """Stars that moved 0.5-3 px, seen in a science image and a PSF-matched template.

    The template holds the stars at their old positions (template PSF, ``scale`` times
    the science counts, Poisson and sky noise); the matched template is the template
    convolved with the kernel ``K`` that turns the template PSF into the science PSF and
    divides by ``scale``; the science stars are rendered with the same PSF ``K * P_t``.
    Variance planes: science ``model / gain``; matched template ``K^2 * v_t``. The
    difference is science minus matched template, skies removed. A star's science flux
    is its template flux times a factor drawn uniformly from ``brightening``.
    """
    rng = np.random.default_rng(seed)
    shape = (size, size)
    kernelSigma = np.sqrt(scienceSigma ** 2 - templateSigma ** 2)
    kernel = pixelGaussian((31, 31), 15.0, 15.0, kernelSigma)
    kernel /= kernel.sum()
    xPos, yPos = gridPositions(size, n, rng)
    m = xPos.size
    shift = rng.uniform(0.5, 3.0, m)
    angle = rng.uniform(0.0, 2.0 * np.pi, m)
    xNeg, yNeg = xPos - shift * np.cos(angle), yPos - shift * np.sin(angle)
    psfStamp = ndimage.convolve(pixelGaussian((31, 31), 15.0, 15.0, templateSigma), kernel,
                                mode="constant")[4:27, 4:27]
    norm = np.sqrt((psfStamp ** 2).sum()) / psfStamp.sum()
    fluxNeg = np.exp(rng.uniform(*np.log(snr), m)) * np.sqrt(skyScience / gain) / norm
    fluxPos = fluxNeg * rng.uniform(*brightening, m)
    scienceStars = np.zeros(shape)
    templateStars = np.zeros(shape)
    for i in range(m):
        scienceStars += fluxPos[i] * pixelGaussian(shape, xPos[i], yPos[i], templateSigma)
        templateStars += scale * fluxNeg[i] * pixelGaussian(shape, xNeg[i], yNeg[i],
                                                             templateSigma)
    scienceModel = ndimage.convolve(scienceStars, kernel, mode="constant") + skyScience
    scienceVar = scienceModel / gain
    science = scienceModel + rng.normal(size=shape) * np.sqrt(scienceVar)
    templateVar = (templateStars + skyTemplate) / gain
    template = templateStars + skyTemplate + rng.normal(size=shape) * np.sqrt(templateVar)
    matched = ndimage.convolve(template, kernel / scale, mode="constant")
    matchedVar = ndimage.convolve(templateVar, (kernel / scale) ** 2, mode="constant")
    psf = ImagePsf(psfStamp)
    exposures = [Exposure(image=image, variance=variance, psf=psf) for image, variance in (
        (science, scienceVar), (matched, matchedVar),
        (science - matched - (skyScience - skyTemplate / scale), scienceVar + matchedVar))]
    for exposure in exposures:
        edge = np.zeros(shape, dtype=bool)
        edge[:16, :] = edge[-16:, :] = edge[:, :16] = edge[:, -16:] = True
        exposure.setMask(edge, "NO_DATA")
    scienceExp, matchedExp, difference = exposures
    detection = detectSources(difference)
    return SimpleNamespace(science=scienceExp, matched=matchedExp, difference=difference,
                           diaSources=detection.diaSources, footprints=detection.footprints,
                           xPos=xPos, yPos=yPos, xNeg=xNeg, yNeg=yNeg, fluxPos=fluxPos,
                           fluxNeg=fluxNeg)


def nearest(tableX, tableY, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest catalog row to each true position, and its distance (pixels).

    Rows with a non-finite position are never nearest.
    """
    distance = np.hypot(np.asarray(tableX)[None, :] - np.asarray(x)[:, None],
                        np.asarray(tableY)[None, :] - np.asarray(y)[:, None])
    distance = np.where(np.isfinite(distance), distance, np.inf)
    index = distance.argmin(axis=1)
    return index, distance[np.arange(index.size), index]


def subset(field: SimpleNamespace, keep: np.ndarray) -> SimpleNamespace:
    """The truth of an ``exactDipoles`` field restricted to the movers in ``keep``."""
    return SimpleNamespace(**{name: getattr(field, name)[keep] for name in (
        "xPos", "yPos", "xNeg", "yNeg", "fluxPos", "fluxNeg")})


@pytest.fixture
def sim() -> SimpleNamespace:
    """The image builders and helpers of this module, as attributes."""
    return SimpleNamespace(**{f.__name__: f for f in (
        pixelGaussian, gridPositions, pointSources, exactDipoles, nearest, subset)})


@pytest.fixture(scope="session")
def dipoleFields() -> list[SimpleNamespace]:
    """Four 512-pixel exact-dipole fields (256 moving stars, S/N 50-300)."""
    return [exactDipoles(seed) for seed in range(4)]


@pytest.fixture(scope="session")
def simulatedRuns() -> list[SimpleNamespace]:
    """Three 1024-pixel simulated pairs (150 transients, 40 movers each) through the task.

    The default pipeline with measurement (the ``dipole`` plugin) and sky sources on, and
    aperture corrections off: the tests check what this plugin measures, and applyApCorr
    rescales ``base_PsfFlux`` afterwards.
    """
    runs = []
    for seed in (13, 14, 15):
        science, template, truth = simulatePair(size=1024, nTransients=150, nMovers=40,
                                                seed=seed)
        config = load_pipeline(PIPELINE, overrides=["doMeasurement=true", "doSkySources=true",
                                                      "doApCorr=false"],
                               freeze=True)
        result = ImageDifferenceTask(config).run(exposure=science, templateExposure=template)
        runs.append(SimpleNamespace(science=science, template=template, truth=truth,
                                    result=result))
    return runs
