"""Star stamps combined into one PSF: normalisation, clipped weighted mean, rejection, wings.

Each stamp is normalised by its least-squares amplitude against the current PSF
estimate and the stamps are combined with a clipped, S/N-weighted mean; stars
whose shape departs from the mean beyond their noise (binaries, galaxies) are
rejected, and the whole is iterated. The noise-dominated outer wings are finally
replaced by their azimuthal average.
"""
from __future__ import annotations

import warnings

import numpy as np

from diffim.statistics import SIGMA_PER_MAD

#: Stars whose shape differs from the mean PSF by more than this fraction (RMS,
#: beyond their noise) are rejected, unless three times the typical difference
#: is larger (as when the PSF varies across the image).
MAX_SHAPE_EXCESS = 0.03

#: Per-pixel clipping of the stamp stack, in robust sigmas about the median.
STACK_CLIP = 4.0


def combineStamps(stamps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-pixel weighted mean of normalised stamps, clipped about their median.

    A stamp pixel enters when it lies within :data:`STACK_CLIP` robust sigmas
    (``1.4826 MAD`` over the stack) of the pixel's median; NaN pixels never do.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(stamps, axis=0)
        sigma = SIGMA_PER_MAD * np.nanmedian(np.abs(stamps - median), axis=0)
    keep = np.isfinite(stamps) & ((np.abs(stamps - median) <= STACK_CLIP * sigma) | (sigma == 0))
    w = weights[:, None, None] * keep
    total = w.sum(axis=0)
    mean = (np.where(keep, stamps, 0.0) * w).sum(axis=0) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, mean, 0.0)


def amplitudes(stamps: np.ndarray, models: np.ndarray) -> np.ndarray:
    """Least-squares amplitude of the model in each stamp over its valid pixels.

    ``models`` is one model for all stamps or one per stamp. NaN where the valid
    pixels hold less than half of the model's power, or the amplitude is not positive.
    """
    models = np.broadcast_to(models, stamps.shape)
    valid = np.isfinite(stamps)
    m = np.where(valid, models, 0.0)
    power = (m ** 2).sum(axis=(1, 2))
    amp = (np.where(valid, stamps, 0.0) * m).sum(axis=(1, 2)) / np.where(power > 0, power, 1.0)
    full = (models ** 2).sum(axis=(1, 2))
    return np.where((power >= 0.5 * full) & (amp > 0), amp, np.nan)


def shapeExcess(stamps: np.ndarray, variances: np.ndarray, models: np.ndarray) -> np.ndarray:
    """How much each normalised stamp differs from the model beyond its noise.

    ``sqrt(max(sum((s - P)**2) - sum(var), 0) / sum(P**2))`` over the stamp's valid
    pixels: the fractional RMS shape difference once the expected noise is
    removed, so faint and bright stars are judged on the same scale.
    """
    valid = np.isfinite(stamps)
    diff2 = (np.where(valid, stamps - models, 0.0) ** 2).sum(axis=(1, 2))
    noise2 = np.where(valid, variances, 0.0).sum(axis=(1, 2))
    norm = (np.where(valid, models, 0.0) ** 2).sum(axis=(1, 2))
    return np.sqrt(np.maximum(diff2 - noise2, 0.0) / np.where(norm > 0, norm, np.inf))


def rejectOddShapes(excess: np.ndarray) -> np.ndarray:
    """True for the stars to keep: shape excess within three times the typical one."""
    return excess <= max(3.0 * np.median(excess), MAX_SHAPE_EXCESS)


def fitMeanPsf(stamps: np.ndarray, variances: np.ndarray, weights: np.ndarray,
               reject: bool = True, iterations: int = 3
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise and combine the stamps, rejecting stars that do not look like the rest.

    With ``reject=False`` (used before a spatial fit, where stars differ from the
    mean on purpose) only stars whose amplitude cannot be fitted are dropped.

    Returns
    -------
    psf : numpy.ndarray
        The PSF image (unit sum).
    normalised, normVariances : numpy.ndarray
        The kept stamps divided by their amplitudes, and their variances.
    keep : numpy.ndarray
        Indices of the kept stars.
    """
    keep = np.arange(len(stamps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nansum(stamps, axis=(1, 2))
    good = scale > 0
    keep, scale = keep[good], scale[good]
    model = combineStamps(stamps[keep] / scale[:, None, None], weights[keep])
    for _ in range(iterations):
        amp = amplitudes(stamps[keep] / scale[:, None, None], model)
        good = np.isfinite(amp)
        keep, scale = keep[good], scale[good] * amp[good]
        if len(keep) == 0:
            break
        if reject:
            norm = scale[:, None, None]
            good = rejectOddShapes(shapeExcess(stamps[keep] / norm, variances[keep] / norm ** 2,
                                               model))
            keep, scale = keep[good], scale[good]
        model = combineStamps(stamps[keep] / scale[:, None, None], weights[keep])
    model = smoothWings(model)
    total = model.sum()
    norm = scale[:, None, None]
    psf = model / total if total > 0 else model
    return psf, stamps[keep] / norm, variances[keep] / norm ** 2, keep


def smoothWings(psf: np.ndarray, minSnr: float = 3.0) -> np.ndarray:
    """Replace the noise-dominated outer PSF by its azimuthal average.

    Rings are 1 pixel wide. Beyond the first ring whose mean is below ``minSnr``
    times the RMS scatter of its pixels about that mean, each pixel takes the ring
    mean at its radius (linearly interpolated). Ring sums, hence the PSF's light
    and width, are nearly kept, while the pixel noise of the wings is averaged
    away; models that clip negative pixel values would otherwise turn that noise
    into extra width. Ring means are not clipped at zero, which would bias the
    width upwards.
    """
    half = psf.shape[0] // 2
    y, x = np.indices(psf.shape) - half
    r = np.hypot(x, y)
    ring = np.rint(r).astype(int)
    count = np.bincount(ring.ravel())
    profile = np.bincount(ring.ravel(), psf.ravel()) / count
    scatter = np.sqrt(np.bincount(ring.ravel(), (psf - profile[ring]).ravel() ** 2) / count)
    low = np.flatnonzero((profile < minSnr * scatter) & (np.arange(len(profile)) >= 2))
    if len(low) == 0:
        return psf
    smooth = np.interp(r, np.arange(len(profile)), profile)
    return np.where(r >= low[0], smooth, psf)
