"""Synthetic differences and noise statistics for the decorrelate plugin's tests.

The set-up of LSST's decorrelation tests: white Gaussian noise in a science and
a template image, a Gaussian matching kernel, and the difference made with it
the way the Alard–Lupton subtraction makes it (NaN, infinite variance and
NO_DATA within the kernel half-width of the border). For the score-image
variant, the same with the science image pre-convolved the way the task does it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from diffim import Exposure, GaussianPsf, ImagePsf
from diffim.preconvolve import preConvolutionKernel, preConvolve
from diffim.psf import gaussian_stamp
from diffim.results import SubtractionResult
from diffim.statistics import iqrSigma

#: Wider and narrower PSF sigmas (pixels) and the kernel stamp width of LSST's tests.
WIDE_SIGMA = 3.3
NARROW_SIGMA = 2.2
KERNEL_SIZE = 33


class StampKernel:
    """A matching kernel given by one stamp, the same everywhere."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def at(self, x: float, y: float) -> np.ndarray:
        return self.image.copy()

    @property
    def kernelSum(self) -> float:
        return float(self.image.sum())

    def convolve(self, image: np.ndarray, power: int = 1) -> np.ndarray:
        """``kernel**power`` convolved with ``image`` (same shape)."""
        return fftconvolve(image, self.image ** power, mode="same")


class GaussianKernel(StampKernel):
    """A Gaussian matching kernel of sum ``kappa``, the same everywhere."""

    def __init__(self, sigma: float, kappa: float = 1.0, size: int = KERNEL_SIZE) -> None:
        super().__init__(kappa * gaussian_stamp(sigma, size))


class BlendedKernel:
    """``(1 - a) K1 + a K2``, ``a`` going linearly from 0 at x = 0 to 1 at the last column."""

    def __init__(self, first: GaussianKernel, second: GaussianKernel, width: int) -> None:
        self.first, self.second, self.width = first, second, width

    def at(self, x: float, y: float) -> np.ndarray:
        a = x / (self.width - 1)
        return (1.0 - a) * self.first.image + a * self.second.image

    @property
    def kernelSum(self) -> float:
        return self.first.kernelSum

    def convolve(self, image: np.ndarray, power: int = 1) -> np.ndarray:
        """The kernel at each output column convolved with ``image`` (``power`` of each part)."""
        a = np.arange(image.shape[1]) / (self.width - 1)
        return (1.0 - a) * self.first.convolve(image, power) + a * self.second.convolve(image,
                                                                                      power)


@dataclass
class NoisePair:
    """Inputs of the decorrelation and the noiseless point sources put in the science image."""

    science: Exposure
    template: Exposure
    subtraction: SubtractionResult
    sourceX: np.ndarray
    sourceY: np.ndarray
    sourceFlux: float

    @property
    def difference(self) -> Exposure:
        return self.subtraction.subtractedExposure


def kernelSigma() -> float:
    """Sigma of the Gaussian that matches the narrow PSF to the wide one."""
    return float(np.sqrt(WIDE_SIGMA ** 2 - NARROW_SIGMA ** 2))


def makeNoisePair(size: int = 384, scienceVariance=0.04, templateVariance=0.04,
                  kappa: float = 1.0, convolveTemplate: bool = True, seed: int = 0,
                  sourceFlux: float = 0.0, nSources: int = 0, kernel=None,
                  noise: bool = True) -> NoisePair:
    """White-noise images and their difference made with a Gaussian (or given) kernel.

    Parameters
    ----------
    size : int
        Width and height.
    scienceVariance, templateVariance : float or numpy.ndarray
        Noise variance of each image (a plane for a varying variance).
    kappa : float
        Kernel sum (flux ratio of the matched image to the one convolved).
    convolveTemplate : bool
        Template (PSF sigma 2.2) convolved: ``D = S - K conv T`` with the science PSF
        sigma 3.3; else the science image has the narrow PSF and
        ``D = (K conv S - T) / kappa``.
    seed : int
        Seed of the noise.
    sourceFlux, nSources : float, int
        Point sources of this flux (science flux scale) in the science image only, on a
        regular grid in the middle 60% of the image.
    kernel : GaussianKernel or BlendedKernel, optional
        The matching kernel; the Gaussian of LSST's tests (sigma 2.46) by default.
    noise : bool
        Add the noise (False leaves only the sources, with the variance planes unchanged).
    """
    rng = np.random.default_rng(seed)
    shape = (size, size)
    scienceSigma, templateSigma = ((WIDE_SIGMA, NARROW_SIGMA) if convolveTemplate
                                   else (NARROW_SIGMA, WIDE_SIGMA))
    kernel = kernel or GaussianKernel(kernelSigma(), kappa)
    scienceVariance = np.broadcast_to(np.asarray(scienceVariance, dtype=np.float64), shape)
    templateVariance = np.broadcast_to(np.asarray(templateVariance, dtype=np.float64), shape)
    scale = 1.0 if noise else 0.0
    science = scale * rng.normal(size=shape) * np.sqrt(scienceVariance)
    template = scale * rng.normal(size=shape) * np.sqrt(templateVariance)

    side = int(np.ceil(np.sqrt(nSources)))
    grid = np.round(np.linspace(0.2 * size, 0.8 * size, side)) if nSources else np.array([])
    sourceX, sourceY = (g.ravel()[:nSources] for g in np.meshgrid(grid, grid))
    stamp = gaussian_stamp(scienceSigma)
    half = stamp.shape[0] // 2
    for x, y in zip(sourceX.astype(int), sourceY.astype(int)):
        science[y - half:y + half + 1, x - half:x + half + 1] += sourceFlux * stamp

    if convolveTemplate:
        image = science - kernel.convolve(template)
        variance = scienceVariance + kernel.convolve(templateVariance, power=2)
        psf = GaussianPsf(scienceSigma)
    else:
        image = (kernel.convolve(science) - template) / kernel.kernelSum
        variance = ((kernel.convolve(scienceVariance, power=2) + templateVariance)
                    / kernel.kernelSum ** 2)
        psf = GaussianPsf(templateSigma)
    difference = Exposure(image=image, variance=variance, psf=psf)
    border = np.ones(shape, dtype=bool)
    border[KERNEL_SIZE // 2:-(KERNEL_SIZE // 2), KERNEL_SIZE // 2:-(KERNEL_SIZE // 2)] = False
    difference.setMask(border, "NO_DATA", "EDGE")
    difference.image[border] = np.nan
    difference.variance[border] = np.inf

    templateExposure = Exposure(image=template, variance=templateVariance,
                                psf=GaussianPsf(templateSigma))
    subtraction = SubtractionResult(subtractedExposure=difference,
                                    warpedExposure=templateExposure, psfMatchingKernel=kernel,
                                    convolvedScience=not convolveTemplate)
    scienceExposure = Exposure(image=science, variance=scienceVariance,
                               psf=GaussianPsf(scienceSigma))
    return NoisePair(scienceExposure, templateExposure, subtraction, sourceX, sourceY,
                     sourceFlux)


#: Science PSF of the score-image tests, ``(weight, sigma)`` of two Gaussians: not a
#: Gaussian, so that a Gaussian pre-convolution kernel of its width differs from it.
SCORE_PSF = ((0.8, 3.0), (0.2, 5.0))
#: Template PSF sigma and stamp width (PSF, pre-convolution and matching kernels) of the
#: score-image tests.
SCORE_TEMPLATE_SIGMA = 2.2
SCORE_STAMP = 41


@dataclass
class ScorePair:
    """A noise pair whose science image was pre-convolved before matching.

    ``subtraction`` holds the likelihood image ``L = P conv S - K conv T`` with the
    kernel ``K`` that matches the template to the pre-convolved science image.
    """

    science: Exposure
    template: Exposure
    subtraction: SubtractionResult
    preConvKernel: np.ndarray
    sourceX: np.ndarray
    sourceY: np.ndarray
    sourceFlux: float

    @property
    def likelihood(self) -> Exposure:
        return self.subtraction.subtractedExposure


def _gaussianMixture(components, size: int) -> np.ndarray:
    """``sum(weight * Gaussian(sigma))`` on an odd stamp."""
    return sum(weight * gaussian_stamp(sigma, size) for weight, sigma in components)


def makeScorePair(size: int = 384, useGaussian: bool = False, scienceVariance: float = 0.04,
                  templateVariance: float = 0.04, seed: int = 0, sourceFlux: float = 0.0,
                  nSources: int = 0, noise: bool = True, kappa: float = 1.0) -> ScorePair:
    """White-noise pair, science pre-convolved with ``P``, and the likelihood image.

    The science PSF is :data:`SCORE_PSF`, the template PSF a Gaussian of sigma
    :data:`SCORE_TEMPLATE_SIGMA`. ``P`` is the science PSF or, with ``useGaussian``, a
    Gaussian of its determinant radius (what the task pre-convolves with). The matching
    kernel is the sum of Gaussians that turns the template PSF into the science PSF
    convolved with ``P`` (``P``'s Gaussian components), times ``kappa``.

    Parameters are those of :func:`makeNoisePair`.
    """
    rng = np.random.default_rng(seed)
    shape = (size, size)
    psf = _gaussianMixture(SCORE_PSF, SCORE_STAMP)
    scale = 1.0 if noise else 0.0
    scienceImage = scale * np.sqrt(scienceVariance) * rng.normal(size=shape)
    templateImage = scale * np.sqrt(templateVariance) * rng.normal(size=shape)
    side = int(np.ceil(np.sqrt(nSources)))
    grid = np.round(np.linspace(0.2 * size, 0.8 * size, side)) if nSources else np.array([])
    sourceX, sourceY = (g.ravel()[:nSources] for g in np.meshgrid(grid, grid))
    half = SCORE_STAMP // 2
    for x, y in zip(sourceX.astype(int), sourceY.astype(int)):
        scienceImage[y - half:y + half + 1, x - half:x + half + 1] += sourceFlux * psf
    science = Exposure(image=scienceImage, variance=np.full(shape, scienceVariance),
                       psf=ImagePsf(psf, averagePosition=((size - 1) / 2, (size - 1) / 2)))
    template = Exposure(image=templateImage, variance=np.full(shape, templateVariance),
                        psf=GaussianPsf(SCORE_TEMPLATE_SIGMA))

    preConvKernel = preConvolutionKernel(science, useGaussian)
    preConvComponents = ((1.0, science.psf.sigma()),) if useGaussian else SCORE_PSF
    kernel = StampKernel(kappa * _gaussianMixture(
        [(w1 * w2, np.sqrt(s1 ** 2 + s2 ** 2 - SCORE_TEMPLATE_SIGMA ** 2))
         for w1, s1 in SCORE_PSF for w2, s2 in preConvComponents], SCORE_STAMP))
    matchTo = preConvolve(science, preConvKernel)
    likelihood = Exposure(image=matchTo.image - kernel.convolve(template.image),
                          variance=matchTo.variance + kernel.convolve(template.variance, 2),
                          psf=matchTo.psf)
    border = np.ones(shape, dtype=bool)
    border[half:-half, half:-half] = False
    likelihood.setMask(border, "NO_DATA", "EDGE")
    likelihood.image[border] = np.nan
    likelihood.variance[border] = np.inf
    subtraction = SubtractionResult(subtractedExposure=likelihood, warpedExposure=template,
                                    psfMatchingKernel=kernel, convolvedScience=False)
    return ScorePair(science, template, subtraction, preConvKernel, sourceX, sourceY,
                     sourceFlux)


def optimalSignificance(pair: ScorePair, grid: int = 256) -> float:
    """Best signal-to-noise ratio any linear filter reaches for one source of ``pair``.

    ``nu**2 = f**2 mean_k |P psf|**2 / (s_S |P|**2 + s_T |K|**2)``: the matched filter of
    the likelihood image's point source against its noise power spectrum (the same as
    the PSF-fit S/N in the decorrelated difference). Computed with numpy's full FFTs on
    a ``grid``-square, from the stamps and the mean variance planes.
    """
    def transform(stamp: np.ndarray) -> np.ndarray:
        padded = np.zeros((grid, grid))
        padded[:stamp.shape[0], :stamp.shape[1]] = stamp
        return np.fft.fft2(padded)

    preConvPower = np.abs(transform(pair.preConvKernel)) ** 2
    signal = np.abs(transform(pair.science.psf.at(0, 0))) ** 2 * preConvPower
    noise = (float(np.mean(pair.science.variance)) * preConvPower
             + float(np.mean(pair.template.variance))
             * np.abs(transform(pair.subtraction.psfMatchingKernel.image)) ** 2)
    return pair.sourceFlux * float(np.sqrt(np.mean(signal / noise)))


def interior(image: np.ndarray, margin: int = KERNEL_SIZE) -> np.ndarray:
    """``image`` without a border of ``margin`` pixels (past the NaN border of the difference)."""
    return image[margin:-margin, margin:-margin]


def autocorrelation(image: np.ndarray, lag: int) -> float:
    """Lag-``lag`` correlation coefficient over finite pixel pairs, mean of the x and y lags."""
    values = []
    for a, b in ((image[:, :-lag], image[:, lag:]), (image[:-lag, :], image[lag:, :])):
        good = np.isfinite(a) & np.isfinite(b)
        a, b = a[good] - a[good].mean(), b[good] - b[good].mean()
        values.append((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean()))
    return float(np.mean(values))


#: Variance of a unit Gaussian truncated at +-3 sigma.
TRUNCATED_VARIANCE_3SIGMA = 0.973336


def clippedVariance(values: np.ndarray) -> float:
    """Variance of the finite values within 3 robust sigma of the median.

    Corrected for the truncation, so that it is unbiased for Gaussian noise.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    kept = values[np.abs(values - np.median(values)) <= 3.0 * iqrSigma(values)]
    return float(kept.var() / TRUNCATED_VARIANCE_3SIGMA)


def decorrelate(pair: NoisePair | ScorePair, spatiallyVarying: bool = False,
                preConvKernel: np.ndarray | None = None, **overrides) -> Exposure:
    """Run the plugin on ``pair`` with a frozen config carrying ``overrides``."""
    from diffim_decorrelate import DecorrelateALKernel, DecorrelateALKernelConfig

    config = DecorrelateALKernelConfig(**overrides)
    config.freeze()
    return DecorrelateALKernel().diffim_decorrelate(pair.science, pair.template,
                                                    pair.subtraction, config, spatiallyVarying,
                                                    preConvKernel)
