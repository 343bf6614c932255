"""Measure the translation between two images on the same pixel grid.

Used to check, before subtracting, that a science/template pair without WCS
is really aligned: AL can absorb a sub-pixel shift in its kernel, but not an
offset of many pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft

from .statistics import madSigma

#: Images are clipped to [-5, CLIP_HIGH] robust sigma so no single bright object dominates.
CLIP_HIGH = 10.0
#: A correlation peak below this many standard deviations of the correlation of two
#: unrelated frames may be chance (the highest of a 256-px map of pure noise is about 4.5).
MIN_SIGNIFICANCE = 10.0


@dataclass(frozen=True)
class Offset:
    """Translation between two images: ``science(x, y) ≈ template(x - dx, y - dy)``.

    Attributes
    ----------
    dx, dy : float
        The shift in pixels.
    zeroShiftRatio : float
        Cross-correlation at zero shift over its peak: near 1 when the images
        are consistent with no shift even if the peak is elsewhere (a broad
        peak on a small image), near 0 when they are clearly shifted.
    significance : float
        The correlation peak in standard deviations of what two unrelated frames
        with the same local power (noise and sources) would give at that shift; 0
        when no usable pixels overlap there.
    """

    dx: float
    dy: float
    zeroShiftRatio: float
    significance: float

    @property
    def measurable(self) -> bool:
        """Whether the peak stands out of the noise (``MIN_SIGNIFICANCE``), so that the
        offset is a property of the images."""
        return self.significance >= MIN_SIGNIFICANCE


def _window(image: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Apodisation (a Hann window) times the usable pixels."""
    hy = np.hanning(image.shape[0])[:, None]
    hx = np.hanning(image.shape[1])[None, :]
    return hy * hx * (~bad & np.isfinite(image))


def _prepare(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The image in units of its robust sky noise, clipped and apodised."""
    data = np.where(window > 0, image, np.nan).astype(np.float64)
    median = np.nanmedian(data)
    spread = madSigma(data, centre=median) or 1.0
    data = np.clip((data - median) / spread, -5.0, CLIP_HIGH)
    return np.nan_to_num(data, nan=0.0) * window


def _correlate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Circular cross-correlation ``c[s] = sum_x a[x] b[x - s]``."""
    return fft.irfft2(fft.rfft2(a) * np.conj(fft.rfft2(b)), s=a.shape)


def _parabola(c_minus: float, c0: float, c_plus: float) -> float:
    denom = c_minus - 2 * c0 + c_plus
    return 0.0 if denom == 0 else 0.5 * (c_minus - c_plus) / denom


def measureOffset(science: np.ndarray, template: np.ndarray,
                  scienceBad: np.ndarray | None = None,
                  templateBad: np.ndarray | None = None) -> Offset:
    """Measure the shift of ``science`` relative to ``template`` by cross-correlation.

    Both images are normalised by their robust sky noise, clipped to tame bright
    stars and apodised; the integer peak of their cross-correlation is refined
    with a parabola through its neighbours. Its significance compares it with the
    standard deviation the correlation of two unrelated images with the same local
    power would have at that shift, ``sqrt(sum_x a[x]**2 b[x - s]**2)``.

    Parameters
    ----------
    science, template : numpy.ndarray
        Images of the same shape.
    scienceBad, templateBad : numpy.ndarray of bool, optional
        Pixels to ignore.
    """
    if science.shape != template.shape:
        raise ValueError("measureOffset needs two images of the same shape")
    empty = np.zeros(science.shape, dtype=bool)
    scienceWindow = _window(science, empty if scienceBad is None else scienceBad)
    templateWindow = _window(template, empty if templateBad is None else templateBad)
    a, b = _prepare(science, scienceWindow), _prepare(template, templateWindow)
    corr = _correlate(a, b)
    iy, ix = np.unravel_index(np.argmax(corr), corr.shape)
    ny, nx = corr.shape
    dy = iy + _parabola(corr[(iy - 1) % ny, ix], corr[iy, ix], corr[(iy + 1) % ny, ix])
    dx = ix + _parabola(corr[iy, (ix - 1) % nx], corr[iy, ix], corr[iy, (ix + 1) % nx])
    dy = dy - ny if dy > ny / 2 else dy
    dx = dx - nx if dx > nx / 2 else dx
    peak = corr[iy, ix]
    ratio = float(corr[0, 0] / peak) if peak > 0 else 0.0
    noiseVariance = _correlate(a * a, b * b)[iy, ix]
    significance = float(peak / np.sqrt(noiseVariance)) if noiseVariance > 1e-12 else 0.0
    return Offset(float(dx), float(dy), ratio, significance)
