"""What a plain image does not say about itself, derived from its pixels and header.

A calibrated exposure carries its mask, variance, detections and PSF. A plain
FITS image (as it comes from a telescope or an archive) carries pixels and a
header; these functions derive the rest, each recording how in the exposure's
metadata:

* :func:`deriveMask` -- NO_DATA (non-finite and blank pixels) and SAT (at the
  saturation level), ``SATLEVEL``;
* :func:`deriveVariance` -- from GAIN and RDNOISE, or the sky noise, ``VARNOTE``;
* :func:`markDetected` -- the DETECTED plane of the image's own sources, so that
  statistics on the difference leave their residuals out (``DETNOTE`` when it
  cannot be made);
* :func:`headerSeeing` -- the seeing FWHM the header states, for a PSF plugin
  that finds too few stars.

The PSF itself is measured by the ``measurePsf`` plugin slot.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .background import backgroundModel
from .exposure import Exposure
from .morphology import growMask
from .sourcefinding import extractObjects
from .statistics import SIGMA_PER_MAD, madSigma

#: Header keys giving the gain (e-/ADU), read noise (e-), saturation level and
#: seeing FWHM in pixels and in arcsec, in order of preference.
GAIN_KEYS = ("GAIN", "EGAIN", "CCDGAIN", "GAINEFF")
READNOISE_KEYS = ("RDNOISE", "READNOIS", "RON", "READNOISE", "RDNOIS", "ENOISE")
SATURATION_KEYS = ("SATURATE", "SATLEVEL", "SATUR", "MAXLIN")
FWHM_PIXEL_KEYS = ("PFWHM", "FWHM", "FWHM_IMG", "PSF_FWHM")
FWHM_ARCSEC_KEYS = ("SEEING", "FWHM_WORLD")

#: Pixel values beyond this magnitude are "blank" sentinels (e.g. -FLT_MAX), not data.
BLANK_THRESHOLD = 1e30

#: Pixels by which the SAT plane is grown around saturated pixels of a plain image.
SATURATION_GROW = 2

#: Detection threshold (sky sigma) and footprint growth (pixels) of the DETECTED plane.
DETECTED_THRESHOLD = 3.0
DETECTED_GROW = 2


def headerNumber(header: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    """The value of the first of ``keys`` that holds a finite number, or None."""
    for key in keys:
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            return float(value)
    return None


def deriveMask(exposure: Exposure, header: Mapping[str, Any], raw: np.ndarray) -> None:
    """Flag (and zero) non-finite and blank pixels as NO_DATA, saturated ones as SAT.

    The saturation level is the header's SATURATE (or an alias); for integer data
    without one, the largest value the stored type can hold, or a lower clipping
    plateau (three or more pixels exactly at a maximum far above the sky, as left
    by flat-fielding saturated pixels). Saturated pixels are grown by
    :data:`SATURATION_GROW` pixels.

    Parameters
    ----------
    exposure : Exposure
        The exposure read from ``raw`` (its image and mask are updated).
    header : Mapping
        The image's header cards.
    raw : numpy.ndarray
        The pixels as stored (their type tells an integer range).
    """
    image = exposure.image
    nodata = ~np.isfinite(image) | (np.abs(image) > BLANK_THRESHOLD)
    image[nodata] = 0.0
    exposure.setMask(nodata, "NO_DATA")
    level = _saturationLevel(header, raw, image, nodata)
    if level is None:
        return
    exposure.metadata["SATLEVEL"] = level
    saturated = (image >= level) & ~nodata
    if saturated.any():
        grown = growMask(saturated, SATURATION_GROW, metric="chessboard")
        exposure.setMask(grown & ~nodata, "SAT")


def _saturationLevel(header: Mapping[str, Any], raw: np.ndarray, image: np.ndarray,
                     nodata: np.ndarray) -> float | None:
    """Saturation level from the header, the integer type's range, or a clipping plateau."""
    level = headerNumber(header, SATURATION_KEYS)
    if level is not None:
        return level
    good = image[~nodata]
    if good.size == 0:
        return None
    if np.issubdtype(raw.dtype, np.integer):
        level = float(np.iinfo(raw.dtype).max)
    peak = float(good.max())
    if np.count_nonzero(good == peak) < 3:
        return level
    rows = _rowStride(image.shape)
    sample = image[::rows][~nodata[::rows]]
    if sample.size == 0:
        sample = good
    sky = float(np.median(sample))
    plateau = peak > sky + 100.0 * max(madSigma(sample, nIter=2), 1e-30)
    if plateau and (level is None or peak < level):
        level = peak
    return level


def _rowStride(shape: tuple[int, int], limit: int = 1_000_000) -> int:
    """Row step that leaves about ``limit`` pixels: sky statistics need no more."""
    return max(1, int(shape[0] * shape[1] // limit))


def _pixelNoise(image: np.ndarray, good: np.ndarray) -> float:
    """Noise from second differences along rows, ``x[i] - (x[i-1] + x[i+1]) / 2``.

    For white noise of standard deviation s they have standard deviation
    ``s * sqrt(1.5)``; smooth structure (crowded stars, nebulosity) hardly
    contributes. Only triples of good pixels are used.
    """
    diff = image[:, 1:-1] - 0.5 * (image[:, :-2] + image[:, 2:])
    usable = good[:, 1:-1] & good[:, :-2] & good[:, 2:]
    if not usable.any():
        return 0.0
    return madSigma(diff[usable]) / np.sqrt(1.5)


def _noiseLevel(image: np.ndarray, good: np.ndarray) -> tuple[float, str]:
    """Sky noise: the clipped MAD of the good pixels, unless the field is crowded.

    In a crowded field few pixels are pure sky and the MAD is inflated by the
    stars; when it exceeds the pixel-to-pixel (second-difference) noise by more
    than a factor 2, the latter is used. (It is not used always because it
    underestimates noise that is correlated between pixels, as in resampled
    images.)
    """
    rows = _rowStride(image.shape)
    image, good = image[::rows], good[::rows]
    pixels = image[good] if good.any() else image.ravel()
    mad = madSigma(pixels, nIter=2)
    local = _pixelNoise(image, good)
    if local > 0 and mad > 2.0 * local:
        return local, f"pixel-to-pixel noise {local:.4g} (crowded: sky MAD {mad:.4g})"
    return mad, f"sky noise {SIGMA_PER_MAD:.4f}*MAD = {mad:.4g}"


def deriveVariance(exposure: Exposure, header: Mapping[str, Any]) -> None:
    """Set the variance plane from GAIN / RDNOISE or from the sky noise; note which.

    The variance is ``max(image, 0) / gain + (readNoise / gain)**2``, which
    assumes the pixel values still contain the sky. When that model and the
    measured sky noise disagree by more than a factor 10 in variance (sky
    subtracted, or a bias pedestal left in), the sky term is the measured one:
    ``max(image - sky, 0) / gain + skyNoise**2``. Without a gain the variance is
    the constant ``skyNoise**2``. The choice is recorded as ``VARNOTE``.

    Parameters
    ----------
    exposure : Exposure
        The exposure (its variance plane is set; NO_DATA already flagged).
    header : Mapping
        The image's header cards.
    """
    image = exposure.image
    good = exposure.mask == 0
    rows = _rowStride(image.shape)
    sample, sampleGood = image[::rows], good[::rows]
    sky = float(np.median(sample[sampleGood] if sampleGood.any() else sample))
    skyNoise, how = _noiseLevel(image, good)
    skyVar = skyNoise ** 2 if skyNoise > 0 else 1.0
    gain = headerNumber(header, GAIN_KEYS)
    if gain is not None and gain <= 0:
        gain = None
    if gain is None:
        variance = np.full(image.shape, skyVar, dtype=np.float32)
        note = f"constant, from the {how}; no GAIN in header"
    else:
        readNoise = headerNumber(header, READNOISE_KEYS) or 0.0
        readVar = (readNoise / gain) ** 2
        predicted = max(sky, 0.0) / gain + readVar
        if 0.1 <= predicted / skyVar <= 10.0:
            variance = np.maximum(image, 0.0) / gain + readVar
            note = (f"image/GAIN + (RDNOISE/GAIN)^2 with GAIN={gain:g}, RDNOISE={readNoise:g}"
                    f" (sky noise predicted {np.sqrt(predicted):.4g}, measured: {how})")
        else:
            variance = np.maximum(image - sky, 0.0) / gain + skyVar
            note = (f"(image-sky)/GAIN + measured sky noise^2 with GAIN={gain:g}: the header "
                    f"predicts sky noise {np.sqrt(predicted):.4g}, but measured is the {how}")
    variance = np.asarray(variance, dtype=np.float32)
    variance[exposure.maskedPixels("NO_DATA")] = skyVar
    exposure.variance = variance
    exposure.metadata["VARNOTE"] = note


def markDetected(exposure: Exposure) -> None:
    """Set DETECTED on the footprints of the image's own sources.

    Sources are detected at :data:`DETECTED_THRESHOLD` times the pixel noise on
    the background-subtracted image (:func:`diffim.background.backgroundModel`,
    :func:`diffim.sourcefinding.extractObjects`) and their footprints grown by
    :data:`DETECTED_GROW` pixels, so that statistics on the difference (variance
    rescaling, decorrelation) leave the sources' residuals out, as in LSST.

    Parameters
    ----------
    exposure : Exposure
        An exposure with a variance plane (its mask is updated).
    """
    bad = exposure.maskedPixels("NO_DATA", "SAT", "BAD")
    try:
        data = exposure.image - backgroundModel(exposure.image, bad)
        segmentation = extractObjects(np.where(bad, 0.0, data), DETECTED_THRESHOLD,
                                      noise=np.sqrt(exposure.variance), exclude=bad,
                                      segmentation=True).segmentation
    except Exception as exc:  # sep refuses some degenerate images; leave the plane empty
        exposure.metadata["DETNOTE"] = f"no DETECTED plane ({' '.join(str(exc).split())})"
        return
    exposure.setMask(growMask(segmentation > 0, DETECTED_GROW, metric="taxicab"),
                     "DETECTED")


def headerSeeing(header: Mapping[str, Any],
                 pixelScale: float | None) -> tuple[float | None, str]:
    """The seeing FWHM in pixels that the header states, and the key that gave it.

    Parameters
    ----------
    header : Mapping
        Header cards (an exposure's metadata holds those of a file it was read from).
    pixelScale : float or None
        Arcsec per pixel, to convert a seeing given in arcsec (SEEING); None
        without a WCS.

    Returns
    -------
    fwhm : float or None
        FWHM in pixels; None when no key gives one.
    source : str
        ``header <KEY>`` (with ``(arcsec)`` for a converted value); empty without one.
    """
    for key in FWHM_PIXEL_KEYS:
        value = headerNumber(header, (key,))
        if value is not None and value > 0:
            return value, f"header {key}"
    if pixelScale:
        for key in FWHM_ARCSEC_KEYS:
            value = headerNumber(header, (key,))
            if value is not None and value > 0:
                return value / pixelScale, f"header {key} (arcsec)"
    return None, ""
