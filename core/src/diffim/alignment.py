"""Measure the translation between two images on the same pixel grid.

Used to check, before subtracting, that a science/template pair without WCS
is really aligned: AL can absorb a sub-pixel shift in its kernel, but not an
offset of many pixels.
"""
from __future__ import annotations

import numpy as np
from scipy import fft


def _prepare(image: np.ndarray, bad: np.ndarray) -> np.ndarray:
    data = np.where(bad | ~np.isfinite(image), np.nan, image).astype(np.float64)
    median = np.nanmedian(data)
    spread = 1.4826 * np.nanmedian(np.abs(data - median)) or 1.0
    data = np.clip((data - median) / spread, -5.0, 50.0)
    data = np.nan_to_num(data, nan=0.0)
    hy = np.hanning(data.shape[0])[:, None]
    hx = np.hanning(data.shape[1])[None, :]
    return data * hy * hx


def measureOffset(science: np.ndarray, template: np.ndarray,
                  scienceBad: np.ndarray | None = None,
                  templateBad: np.ndarray | None = None) -> tuple[float, float]:
    """Return ``(dx, dy)`` such that ``science(x, y) ≈ template(x - dx, y - dy)``.

    The integer shift is the peak of the phase correlation of the two images
    (clipped to tame bright stars, apodised); the sub-pixel part comes from a
    parabola through the plain cross-correlation around that peak, which is
    smooth (the PSF autocorrelation) where the phase correlation is spiky.

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
    cross = fft.rfft2(a, workers=-1) * np.conj(fft.rfft2(b, workers=-1))
    phase = fft.irfft2(cross / np.maximum(np.abs(cross), 1e-12), s=a.shape, workers=-1)
    iy, ix = np.unravel_index(np.argmax(phase), phase.shape)
    corr = fft.irfft2(cross, s=a.shape, workers=-1)

    def refine(c_minus: float, c0: float, c_plus: float) -> float:
        denom = c_minus - 2 * c0 + c_plus
        return 0.0 if denom == 0 else 0.5 * (c_minus - c_plus) / denom

    ny, nx = corr.shape
    dy = iy + refine(corr[(iy - 1) % ny, ix], corr[iy, ix], corr[(iy + 1) % ny, ix])
    dx = ix + refine(corr[iy, (ix - 1) % nx], corr[iy, ix], corr[iy, (ix + 1) % nx])
    dy = dy - ny if dy > ny / 2 else dy
    dx = dx - nx if dx > nx / 2 else dx
    return float(dx), float(dy)
