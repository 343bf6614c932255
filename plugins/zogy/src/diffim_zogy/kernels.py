"""The ZOGY filters as small real-space kernels, for one pair of PSFs and noise levels.

With ``N`` the science image, ``R`` the template, PSFs ``P_n``, ``P_r``, mean
variances ``σ_n²``, ``σ_r²`` and flux zero points ``F_n = 1``, ``F_r`` (template
counts per science count), Zackay, Ofek & Gal-Yam (2016, eq. 13-15) give

    Δ = σ_n² F_r² |P̂_r|² + σ_r² F_n² |P̂_n|²
    D̂ = (F_r P̂_r N̂ − F_n P̂_n R̂) / √Δ,    F_D = F_r F_n / √(σ_n² F_r² + σ_r² F_n²)

The kernels here are the real-space versions of the two multipliers, divided by
``F_D`` so that ``D = k_n ⊗ N − k_r ⊗ R`` is in science counts (``Σ k_n = 1``,
``Σ k_r = 1 / F_r``): a science point source of flux ``f`` appears in ``D`` as
``f P_D`` with ``P_D = k_n ⊗ P_n`` of unit sum. They are computed on a small grid
in double precision, cut to the radius that holds all but
:data:`KERNEL_ENERGY_TOLERANCE` of their squared weight, and renormalised to those
sums, so that the difference, its PSF and its propagated variance all come from
the same finite kernels.

The score image (eq. 12, 17) is ``S = g ⊗ D`` with ``g`` the flipped ``P_D``
divided by ``Σ P_D²``: the matched-filter (PSF-fit) flux of a point source centred
on each pixel, in science counts. Its kernels on the inputs are ``g ⊗ k_n`` and
``g ⊗ k_r``.

Where neither PSF carries signal their transforms are round-off, truncation or
model-fitting noise, and the ratio in the multipliers would be noise too (kernels
spread over the whole grid). A small constant (``fourierFloor``) is added to both
transforms first, so that those frequencies get a plain scaled difference; the
noise of ``D`` stays white at every frequency. The constant leaves a static source
of flux ``f`` a residual of order ``fourierFloor · f``, so it starts small and is
raised only as far as the PSF models' own noise requires for compact kernels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from diffim.convolution import convolve

from .fourier import wrapped

#: Fraction of a kernel's squared weight that may fall outside its truncation radius.
KERNEL_ENERGY_TOLERANCE = 1.0e-7

#: Factor by which the Fourier floor is raised while the kernels do not fit in ``maxRadius``.
FLOOR_STEP = np.sqrt(10.0)

#: Largest Fourier floor tried.
MAX_FOURIER_FLOOR = 1.0e-2

#: Smallest side of the grid the kernels are computed on.
MIN_KERNEL_GRID = 64


@dataclass(frozen=True)
class ZogyKernels:
    """The real-space ZOGY kernels of one cell (all odd, centred, float64).

    Attributes
    ----------
    science : numpy.ndarray
        ``k_n``, applied to the science image; sums to 1.
    template : numpy.ndarray
        ``k_r``, applied to the template and subtracted; sums to ``1 / fluxRatio``.
    differencePsf : numpy.ndarray
        ``P_D``, unit sum, as large as the larger input PSF stamp.
    scoreFilter : numpy.ndarray
        ``g``: the score image is ``g ⊗ D``.
    scoreScience, scoreTemplate : numpy.ndarray
        ``g ⊗ k_n`` and ``g ⊗ k_r``.
    scorePsf : numpy.ndarray
        Profile of a point source in the score image (``g ⊗ P_D``), unit sum.
    fluxZeroPoint : float
        ``F_D`` of the unit-noise difference of the paper, for a science zero point of 1.
    fourierFloor : float
        The constant added to both PSF transforms.
    """

    science: np.ndarray
    template: np.ndarray
    differencePsf: np.ndarray
    scoreFilter: np.ndarray
    scoreScience: np.ndarray
    scoreTemplate: np.ndarray
    scorePsf: np.ndarray
    fluxZeroPoint: float
    fourierFloor: float

    @property
    def radius(self) -> int:
        """Half-width of ``k_n`` and ``k_r``: how far a difference pixel sees."""
        return self.science.shape[0] // 2

    @property
    def scoreRadius(self) -> int:
        """Half-width of the score kernels: how far a score pixel sees."""
        return self.scoreScience.shape[0] // 2


def makeKernels(sciencePsf: np.ndarray, templatePsf: np.ndarray, scienceVariance: float,
                templateVariance: float, fluxRatio: float, fourierFloor: float,
                maxRadius: int) -> ZogyKernels:
    """Compute the ZOGY kernels for one pair of PSF images.

    Parameters
    ----------
    sciencePsf, templatePsf : numpy.ndarray
        Unit-sum, odd, centred PSF images of the science image and the template.
    scienceVariance, templateVariance : float
        Mean per-pixel variances ``σ_n²`` (science counts²) and ``σ_r²`` (template
        counts²).
    fluxRatio : float
        ``F_r / F_n``: template counts per science count of the same source.
    fourierFloor : float
        Smallest constant added to both PSF transforms (see the module notes); it is
        raised by :data:`FLOOR_STEP` (up to :data:`MAX_FOURIER_FLOOR`) until the kernels
        fit within ``maxRadius``.
    maxRadius : int
        Largest half-width of ``k_n`` and ``k_r``; beyond it they are cut off.

    Returns
    -------
    ZogyKernels
    """
    if not fourierFloor > 0:
        raise ValueError(f"fourierFloor must be positive, got {fourierFloor}")
    half = max(sciencePsf.shape[0], templatePsf.shape[0]) // 2
    size = scipy.fft.next_fast_len(max(MIN_KERNEL_GRID, 2 * (maxRadius + half) + 1), real=True)
    shape = (size, size)
    scienceHat = scipy.fft.rfft2(wrapped(sciencePsf, shape, np.float64))
    templateHat = scipy.fft.rfft2(wrapped(templatePsf, shape, np.float64))

    floor = fourierFloor
    while True:
        scienceMult, templateMult = _multipliers(scienceHat + floor, templateHat + floor,
                                                 scienceVariance, templateVariance, fluxRatio)
        kn = scipy.fft.fftshift(scipy.fft.irfft2(scienceMult, s=shape))
        kr = scipy.fft.fftshift(scipy.fft.irfft2(templateMult, s=shape))
        radius = max(1, _containmentRadius(kn), _containmentRadius(kr))
        if radius <= maxRadius or floor * FLOOR_STEP > MAX_FOURIER_FLOOR:
            break
        floor *= FLOOR_STEP
    radius = min(radius, maxRadius)
    kn = _crop(kn, radius)
    kr = _crop(kr, radius)
    kn /= kn.sum()
    kr *= (1.0 / fluxRatio) / kr.sum()

    response = scipy.fft.irfft2(scipy.fft.rfft2(wrapped(kn, shape, np.float64)) * scienceHat,
                                s=shape)
    differencePsf = _crop(scipy.fft.fftshift(response), half)
    differencePsf /= differencePsf.sum()
    scoreFilter = differencePsf[::-1, ::-1] / np.sum(differencePsf ** 2)
    scorePsf = convolve(scoreFilter, differencePsf, mode="full")
    scorePsf /= scorePsf.sum()
    fluxZeroPoint = fluxRatio / np.sqrt(scienceVariance * fluxRatio ** 2 + templateVariance)
    return ZogyKernels(science=kn, template=kr, differencePsf=differencePsf,
                       scoreFilter=scoreFilter,
                       scoreScience=convolve(scoreFilter, kn, mode="full"),
                       scoreTemplate=convolve(scoreFilter, kr, mode="full"), scorePsf=scorePsf,
                       fluxZeroPoint=float(fluxZeroPoint), fourierFloor=float(floor))


def _multipliers(scienceHat: np.ndarray, templateHat: np.ndarray, scienceVariance: float,
                 templateVariance: float, fluxRatio: float) -> tuple[np.ndarray, np.ndarray]:
    """The Fourier multipliers of the science image and the template (eq. 13).

    Where ``Δ`` underflows (both PSF transforms exactly zero) the multipliers take
    their zero-frequency form, as LSST does: a plain scaled difference.
    """
    delta = (scienceVariance * fluxRatio ** 2 * np.abs(templateHat) ** 2
             + templateVariance * np.abs(scienceHat) ** 2)
    good = delta > 100.0 * np.finfo(np.float64).tiny
    plain = np.sqrt(scienceVariance * fluxRatio ** 2 + templateVariance)
    root = np.where(good, np.sqrt(np.where(good, delta, 1.0)), plain)
    scienceMult = np.where(good, fluxRatio * templateHat, fluxRatio) / root
    templateMult = np.where(good, scienceHat, 1.0) / root
    return scienceMult, templateMult


def _containmentRadius(kernel: np.ndarray) -> int:
    """Smallest half-width of a centred square holding all but the tolerance of ``kernel²``."""
    size = kernel.shape[0]
    center = size // 2
    offsets = np.abs(np.arange(size) - center)
    ring = np.maximum(offsets[:, None], offsets[None, :])
    energy = np.bincount(ring.ravel(), weights=(kernel ** 2).ravel())
    outside = energy.sum() - np.cumsum(energy)
    return int(np.argmax(outside <= KERNEL_ENERGY_TOLERANCE * energy.sum()))


def _crop(array: np.ndarray, radius: int) -> np.ndarray:
    """The centred ``(2*radius+1)²`` part of a square array centred on ``size // 2``."""
    center = array.shape[0] // 2
    return array[center - radius:center + radius + 1, center - radius:center + radius + 1].copy()
