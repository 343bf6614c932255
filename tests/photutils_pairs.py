"""Image pairs from a second, independent generator: photutils models, numpy noise.

diffim's own simulator (``diffim.testing.simulate``) and diffim share their
assumptions. The pairs here share none of its code: stars and transients are
photutils Moffat models of different index in the two images (rendered with
pixel oversampling), noise is Poisson in electrons plus read noise, the variance
plane is estimated from the noisy image as an instrument pipeline would, the
template is only twice as deep as the science image, and no PSF model comes with
either image: diffim measures both.
"""
from __future__ import annotations

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS
from diffim.exposure import Exposure
from photutils.datasets import make_model_image
from photutils.psf import MoffatPSF

#: Electrons per count and read noise (electrons) of both images.
GAIN = 1.5
READ_NOISE = 6.0
#: Sky (counts) of the science image and the template.
SCIENCE_SKY = 800.0
TEMPLATE_SKY = 1500.0
#: Template counts per science count of the same source (its depth).
TEMPLATE_SCALE = 2.0
#: Moffat indices: the two images differ in profile, not only in width.
SCIENCE_BETA = 2.5
TEMPLATE_BETA = 3.5
#: Template pixel of a science pixel's source: science (x, y) is template (x - dx, y - dy).
OFFSET = (0.35, -0.25)
#: Stars brighter than F number F ** -STAR_COUNT_SLOPE (log N rises 0.3 per magnitude).
STAR_COUNT_SLOPE = 0.75
#: Transients keep this far (pixels) from every star.
TRANSIENT_CLEARANCE = 12.0
#: Difference S/N range of the transients (log-uniform).
TRANSIENT_SNR = (8.0, 120.0)


def makePair(size: int = 1024, scienceFwhm: float = 4.0, templateFwhm: float = 3.2,
             nStars: int = 1500, nTransients: int = 150, seed: int = 0
             ) -> tuple[Exposure, Exposure, Table]:
    """A science exposure, a template and the truth of the transients.

    Parameters
    ----------
    size : int
        Width and height of both images (pixels).
    scienceFwhm, templateFwhm : float
        Moffat FWHM (pixels) of the science image and the template.
    nStars : int
        Stars, the same in both images (1500 on 1024² is 6000 per 2048²).
    nTransients : int
        Point sources in the science image only, at least
        :data:`TRANSIENT_CLEARANCE` pixels from every star.
    seed : int
        Seed of everything drawn.

    Returns
    -------
    science, template : Exposure
        Without PSF models; the template on its own grid, its WCS saying how it
        sits against the science grid.
    truth : astropy.table.Table
        One row per transient: ``x``, ``y`` (science pixels) and ``flux``
        (science counts).
    """
    rng = np.random.default_rng(seed)
    starX, starY = rng.uniform(-10, size + 10, (2, nStars))
    peakMax = 30000.0 / _peak(scienceFwhm, SCIENCE_BETA)
    starFlux = np.minimum(200.0 * (1.0 - rng.uniform(size=nStars)) ** (-1.0 / STAR_COUNT_SLOPE),
                          peakMax)
    x, y = _clearPositions(rng, nTransients, starX, starY, size)
    noise = np.sqrt(SCIENCE_SKY / GAIN + (READ_NOISE / GAIN) ** 2
                    + TEMPLATE_SKY / GAIN / TEMPLATE_SCALE ** 2)
    area = 4.0 * np.pi * (max(scienceFwhm, templateFwhm) / 2.355) ** 2
    snr = np.exp(rng.uniform(*np.log(TRANSIENT_SNR), nTransients))
    flux = snr * noise * np.sqrt(area)
    science = _render(size, np.r_[starX, x], np.r_[starY, y], np.r_[starFlux, flux],
                      scienceFwhm, SCIENCE_BETA, SCIENCE_SKY, rng, (0.0, 0.0))
    template = _render(size, starX, starY, TEMPLATE_SCALE * starFlux, templateFwhm,
                       TEMPLATE_BETA, TEMPLATE_SKY, rng, OFFSET)
    return science, template, Table({"x": x, "y": y, "flux": flux})


def _peak(fwhm: float, beta: float) -> float:
    """Peak pixel of a unit-flux Moffat profile."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    return (beta - 1.0) / (np.pi * alpha ** 2)


def _clearPositions(rng: np.random.Generator, n: int, starX: np.ndarray, starY: np.ndarray,
                    size: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` positions inside the frame, away from every star and from each other."""
    margin = 40.0
    xs: list[float] = []
    ys: list[float] = []
    while len(xs) < n:
        x, y = rng.uniform(margin, size - margin, 2)
        if np.hypot(starX - x, starY - y).min() < TRANSIENT_CLEARANCE:
            continue
        if xs and np.hypot(np.asarray(xs) - x, np.asarray(ys) - y).min() < 3 * TRANSIENT_CLEARANCE:
            continue
        xs.append(x)
        ys.append(y)
    return np.asarray(xs), np.asarray(ys)


def _render(size: int, x: np.ndarray, y: np.ndarray, flux: np.ndarray, fwhm: float,
            beta: float, sky: float, rng: np.random.Generator,
            offset: tuple[float, float]) -> Exposure:
    """Noisy image, its variance from the image itself, and a WCS that places it."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    params = Table({"x_0": x - offset[0], "y_0": y - offset[1], "flux": flux})
    params["alpha"] = alpha
    params["beta"] = beta
    model = make_model_image((size, size), MoffatPSF(), params,
                             model_shape=(int(8 * fwhm) | 1, int(8 * fwhm) | 1),
                             discretize_method="oversample", discretize_oversample=4)
    electrons = rng.poisson(np.clip(model + sky, 0, None) * GAIN).astype(float)
    electrons += rng.normal(0.0, READ_NOISE, electrons.shape)
    image = electrons / GAIN
    variance = np.clip(image, 0, None) / GAIN + (READ_NOISE / GAIN) ** 2
    return Exposure(image=image - sky, variance=variance, wcs=_wcs(size, offset))


def _wcs(size: int, offset: tuple[float, float]) -> WCS:
    """A 0.25″ TAN grid; the template's reference pixel moved by its offset."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [210.0, -30.0]
    wcs.wcs.crpix = [size / 2 + 1 - offset[0], size / 2 + 1 - offset[1]]
    wcs.wcs.cdelt = [-0.25 / 3600, 0.25 / 3600]
    return wcs
