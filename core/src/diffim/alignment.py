"""Measure the translation between two images on the same pixel grid.

Used to check, before subtracting, that a science/template pair without WCS
is really aligned: AL can absorb a sub-pixel shift in its kernel, but not an
offset of many pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft

#: Images are clipped to [-5, CLIP_HIGH] robust sigma so no single bright object dominates.
CLIP_HIGH = 10.0


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
    """

    dx: float
    dy: float
    zeroShiftRatio: float


def _prepare(image: np.ndarray, bad: np.ndarray) -> np.ndarray:
    data = np.where(bad | ~np.isfinite(image), np.nan, image).astype(np.float64)
    median = np.nanmedian(data)
    spread = 1.4826 * np.nanmedian(np.abs(data - median)) or 1.0
    data = np.clip((data - median) / spread, -5.0, CLIP_HIGH)
    data = np.nan_to_num(data, nan=0.0)
    hy = np.hanning(data.shape[0])[:, None]
    hx = np.hanning(data.shape[1])[None, :]
    return data * hy * hx


def _parabola(c_minus: float, c0: float, c_plus: float) -> float:
    denom = c_minus - 2 * c0 + c_plus
    return 0.0 if denom == 0 else 0.5 * (c_minus - c_plus) / denom


def measureOffset(science: np.ndarray, template: np.ndarray,
                  scienceBad: np.ndarray | None = None,
                  templateBad: np.ndarray | None = None) -> Offset:
    """Measure the shift of ``science`` relative to ``template`` by cross-correlation.

    Both images are normalised by their robust sky noise, clipped to tame bright
    stars and apodised; the integer peak of their cross-correlation is refined
    with a parabola through its neighbours.

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
    a = _prepare(science, empty if scienceBad is None else scienceBad)
    b = _prepare(template, empty if templateBad is None else templateBad)
    corr = fft.irfft2(fft.rfft2(a) * np.conj(fft.rfft2(b)), s=a.shape)
    iy, ix = np.unravel_index(np.argmax(corr), corr.shape)
    ny, nx = corr.shape
    dy = iy + _parabola(corr[(iy - 1) % ny, ix], corr[iy, ix], corr[(iy + 1) % ny, ix])
    dx = ix + _parabola(corr[iy, (ix - 1) % nx], corr[iy, ix], corr[iy, (ix + 1) % nx])
    dy = dy - ny if dy > ny / 2 else dy
    dx = dx - nx if dx > nx / 2 else dx
    peak = corr[iy, ix]
    ratio = float(corr[0, 0] / peak) if peak > 0 else 0.0
    return Offset(float(dx), float(dy), ratio)
