"""Sources sharper than the PSF: cosmic rays and hot pixels left unmasked.

A PSF-shaped source cannot fall off from its brightest pixel faster than the PSF
does: for each pair of opposite neighbours (left-right, down-up and the two
diagonals) the pair's mean is at least the PSF's own neighbour-to-centre ratio
times the brightest pixel, wherever the source is centred within the pixel (the
mean of two opposite samples of a concave-down profile). A cosmic ray or a hot
pixel is a spike or a thin track: across it the neighbours hold far less. This is
the classic neighbour-ratio test of cosmic-ray finders, applied to the brightest
pixel of each diaSource's stronger lobe, with both sides taken ``noiseMargin``
sigmas in the PSF's favour and the PSF's ratio relaxed by ``neighbourFraction``,
so that a PSF model a little broader than the truth flags no bright transient.
"""
from __future__ import annotations

import numpy as np

from diffim.exposure import Exposure
from diffim.psf import Psf
from diffim.stamps import nearestPixel

from .base import Lobes, usablePixels

#: Offsets (dy, dx) of one neighbour of each opposite pair; the other is its negative.
PAIRS = ((0, 1), (1, 0), (1, 1), (1, -1))

#: Half-width of the box whose border gives the local background.
BOX = 4


def psfNeighbourRatios(psf: Psf, x: float, y: float) -> np.ndarray:
    """Mean of each opposite pair of the PSF's centre neighbours over its centre pixel."""
    stamp = psf.at(x, y)
    cy, cx = stamp.shape[0] // 2, stamp.shape[1] // 2
    centre = stamp[cy, cx]
    return np.array([0.5 * (stamp[cy + dy, cx + dx] + stamp[cy - dy, cx - dx]) / centre
                     for dy, dx in PAIRS])


def sharpFlags(lobes: Lobes, difference: Exposure, differenceUsable: np.ndarray,
               science: Exposure | None, matchedTemplate: Exposure | None,
               badMaskPlanes: tuple[str, ...], noiseMargin: float,
               neighbourFraction: float,
               usableOf: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """``ip_diffim_flag_sharp``: the change is sharper than the PSF.

    Tested on the difference at each source's stronger lobe, then for positive
    lobes on ``science`` and for negative lobes on ``matchedTemplate`` (each with
    its own PSF, when it has one): once the difference is decorrelated or an input
    convolved, a cosmic ray is spread over a few pixels in the difference but may
    still be a spike in the image it came from. Sky sources are never flagged.
    ``usableOf`` maps ``id(exposure)`` to its usable pixels where the caller has
    them already (the others are found from ``badMaskPlanes``).
    """
    usableOf = usableOf or {}
    negative = lobes.sign < 0
    flags = sharperThanPsf(difference, differenceUsable,
                           np.where(negative, lobes.negX, lobes.posX),
                           np.where(negative, lobes.negY, lobes.posY), lobes.sign,
                           noiseMargin, neighbourFraction)
    for image, lobe, x, y in ((science, lobes.positive, lobes.posX, lobes.posY),
                              (matchedTemplate, lobes.negative, lobes.negX, lobes.negY)):
        if image is None or image.psf is None or image.variance is None \
                or image.shape != difference.shape:
            continue
        usable = usableOf.get(id(image))
        if usable is None:
            usable = usablePixels(image, badMaskPlanes)
        flags |= lobe & sharperThanPsf(image, usable, x, y, np.ones(len(x)), noiseMargin,
                                       neighbourFraction)
    return flags & ~lobes.sky


def sharperThanPsf(exposure: Exposure, usable: np.ndarray, peakX: np.ndarray,
                   peakY: np.ndarray, sign: np.ndarray, noiseMargin: float,
                   neighbourFraction: float) -> np.ndarray:
    """Flag the sources whose brightest pixel stands out more than the PSF allows.

    Parameters
    ----------
    exposure : Exposure
        The image tested, with its variance and PSF; the local background (median of
        the border of the 9x9 box around the pixel tested) is subtracted.
    usable : numpy.ndarray
        Pixels that may be used; a pair with an unusable pixel is not tested.
    peakX, peakY : numpy.ndarray
        Each source's peak; the brightest pixel of ``sign`` in the 3x3 box around it
        is tested.
    sign : numpy.ndarray
        +1 or -1: the sign of the light tested.
    noiseMargin : float
        Sigmas by which the brightest pixel is lowered and each pair's mean raised.
    neighbourFraction : float
        A pair flags the source when its mean is below this fraction of what the PSF
        predicts from the brightest pixel.

    Returns
    -------
    numpy.ndarray
        True for a source sharper than the PSF (False where the peak is not finite or
        too near the image border to test).
    """
    image, variance = exposure.image, exposure.variance
    height, width = image.shape
    flags = np.zeros(len(peakX), dtype=bool)
    finite = np.isfinite(peakX) & np.isfinite(peakY)
    ix, iy = nearestPixel(np.where(finite, peakX, -10.0), np.where(finite, peakY, -10.0))
    # the brightest pixel of the 3x3 box may be one pixel off the peak: keep its box inside
    margin = BOX + 1
    inside = (finite & (ix >= margin) & (ix < width - margin) & (iy >= margin)
              & (iy < height - margin))
    for row in np.flatnonzero(inside):
        box = np.s_[iy[row] - 1:iy[row] + 2, ix[row] - 1:ix[row] + 2]
        score = np.where(usable[box], sign[row] * image[box], -np.inf)
        by, bx = np.unravel_index(np.argmax(score), score.shape)
        cy, cx = iy[row] - 1 + by, ix[row] - 1 + bx
        local = image[cy - 1:cy + 2, cx - 1:cx + 2] - _localBackground(image, usable, cy, cx)
        ratios = psfNeighbourRatios(exposure.psf, float(cx), float(cy))
        flags[row] = _spike(sign[row] * local, variance[cy - 1:cy + 2, cx - 1:cx + 2],
                            usable[cy - 1:cy + 2, cx - 1:cx + 2], ratios, noiseMargin,
                            neighbourFraction)
    return flags


def _localBackground(image: np.ndarray, usable: np.ndarray, cy: int, cx: int) -> float:
    """Median of the usable pixels on the border of the box of half-width BOX."""
    window = np.s_[cy - BOX:cy + BOX + 1, cx - BOX:cx + BOX + 1]
    border = np.ones((2 * BOX + 1, 2 * BOX + 1), dtype=bool)
    border[1:-1, 1:-1] = False
    values = image[window][border & usable[window]]
    return float(np.median(values)) if values.size else 0.0


def _spike(image: np.ndarray, variance: np.ndarray, usable: np.ndarray,
           ratios: np.ndarray, noiseMargin: float, neighbourFraction: float) -> bool:
    """Whether the centre of a 3x3 box (signed, background subtracted) is a spike."""
    if not usable[1, 1]:
        return False
    centre = image[1, 1] - noiseMargin * np.sqrt(variance[1, 1])
    if centre <= 0:
        return False
    for (dy, dx), ratio in zip(PAIRS, ratios):
        a, b = (1 + dy, 1 + dx), (1 - dy, 1 - dx)
        if not (usable[a] and usable[b]):
            continue
        mean = 0.5 * (image[a] + image[b])
        meanError = 0.5 * np.sqrt(variance[a] + variance[b])
        if mean + noiseMargin * meanError < neighbourFraction * ratio * centre:
            return True
    return False
