"""A quick-look PNG of a difference-imaging run: what an astronomer looks at first.

:func:`writeQuicklook` draws the science image, the (matched or warped)
template, the difference and its significance side by side, each with a zscale
stretch, and circles the diaSources by kind (:func:`sourceKinds`).

Matplotlib is used through its object interface (:class:`matplotlib.figure.Figure`
with the Agg canvas): importing or calling this module never changes the
user's matplotlib backend.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .catalog import diaSourceKinds, flagColumn
from .exposure import Exposure

#: Quick-look figure size in inches and its resolution: the PNG is always
#: ``QUICKLOOK_SIZE[0] * QUICKLOOK_DPI`` by ``QUICKLOOK_SIZE[1] * QUICKLOOK_DPI``
#: pixels (1600 x 450).
QUICKLOOK_SIZE = (16.0, 4.5)
QUICKLOOK_DPI = 100

#: Largest side, in pixels, of an image as displayed; larger images are
#: block-averaged by an integer factor down to at most this.
MAX_DISPLAY_PIXELS = 1024

#: Source kinds in order of precedence (a row gets the first that applies).
KINDS = ("sky", "flagged", "dipole", "negative", "positive")

#: Colour of each kind: (DS9 colour name, matplotlib colour); the same hue in both.
KIND_COLOURS = {
    "positive": ("green", "#00ff00"),
    "negative": ("red", "#ff0000"),
    "dipole": ("magenta", "#ff00ff"),
    "flagged": ("yellow", "#ffff00"),
    "sky": ("blue", "#4080ff"),
}

#: Boolean columns that make a source "flagged": a pixel of the footprint (or
#: around the centroid) is saturated, bad, at the edge, without data,
#: interpolated, a cosmic ray or suspect, or the centroid is off the image.
FLAG_PREFIXES = ("pixelFlags_", "base_PixelFlags_flag_")


def sourceKinds(diaSources) -> np.ndarray:
    """The kind of each diaSource: ``sky``, ``flagged``, ``dipole``, ``negative`` or ``positive``.

    The kinds of :func:`diffim.catalog.diaSourceKinds` (the summary line's), with every
    source but a sky source that has a pixel flag (columns starting with
    :data:`FLAG_PREFIXES`) shown as ``flagged``.
    """
    kinds = diaSourceKinds(diaSources).astype("<U8")
    flagged = np.zeros(len(diaSources), dtype=bool)
    for name in diaSources.colnames:
        if name.startswith(FLAG_PREFIXES):
            flagged |= flagColumn(diaSources, name)
    kinds[flagged & (kinds != "sky")] = "flagged"
    return kinds


def blockFactor(shape: tuple[int, int], maxPixels: int = MAX_DISPLAY_PIXELS) -> int:
    """Integer factor that brings the larger side of ``shape`` to at most ``maxPixels``."""
    return max(1, math.ceil(max(shape) / maxPixels))


def blockAverage(array: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks, ignoring NaNs (edges padded with NaN).

    Pixel ``(x, y)`` of ``array`` (0-based centres) lands at ``(x + 0.5) / factor - 0.5``
    of the result.
    """
    array = np.asarray(array, dtype=np.float32)
    if factor == 1:
        return array
    ny, nx = array.shape
    py, px = -ny % factor, -nx % factor
    padded = np.pad(array, ((0, py), (0, px)), constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    count = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def zscaleLimits(array: np.ndarray) -> tuple[float, float]:
    """``(vmin, vmax)`` of the zscale stretch of the finite pixels of ``array``."""
    from astropy.visualization import ZScaleInterval

    values = np.asarray(array)[np.isfinite(array)]
    if values.size == 0:
        return 0.0, 1.0
    vmin, vmax = ZScaleInterval().get_limits(values)
    if not np.isfinite(vmin) or not np.isfinite(vmax) or vmax <= vmin:
        vmin, vmax = float(values.min()), float(values.max())
        if vmax <= vmin:
            vmax = vmin + 1.0
    return float(vmin), float(vmax)


def displayImage(exposure: Exposure | np.ndarray) -> np.ndarray:
    """The image of ``exposure`` as float, NO_DATA pixels (when the plane exists) as NaN."""
    if not isinstance(exposure, Exposure):
        return np.asarray(exposure, dtype=np.float32)
    image = exposure.image.astype(np.float32, copy=True)
    if "NO_DATA" in exposure.maskPlanes:
        image[exposure.maskedPixels("NO_DATA")] = np.nan
    return image


def significanceImage(difference: Exposure) -> np.ndarray:
    """``difference / sqrt(variance)``: per-pixel S/N of the difference (NaN without variance)."""
    image = displayImage(difference)
    if difference.variance is None:
        return np.full(image.shape, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        sig = image / np.sqrt(difference.variance.astype(np.float32))
    sig[~np.isfinite(sig)] = np.nan
    return sig


def writeQuicklook(path: str | os.PathLike, science: Exposure, template: Exposure,
                   difference: Exposure, diaSources=None,
                   significance: Exposure | np.ndarray | None = None,
                   templateLabel: str = "template", overwrite: bool = True) -> Path:
    """Write a PNG of science, template, difference and significance side by side.

    The figure is :data:`QUICKLOOK_SIZE` inches at :data:`QUICKLOOK_DPI` dpi, so the
    PNG is always 1600 x 450 pixels whatever the image size. Each panel has its
    own zscale stretch (astropy's :class:`~astropy.visualization.ZScaleInterval`);
    images larger than :data:`MAX_DISPLAY_PIXELS` on a side are block-averaged by
    an integer factor for display (the panel titles give the factor). The
    diaSources are circled on every panel, coloured by kind (:func:`sourceKinds`,
    :data:`KIND_COLOURS`) with a legend giving the count of each; sky sources are
    drawn as small squares. Pixel (0, 0) is at the lower left (DS9's orientation).

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG, written atomically.
    science, template, difference : Exposure
        The science exposure, the template on its grid (matched or warped) and
        the difference.
    diaSources : astropy.table.Table, optional
        Sources with ``x``, ``y`` (0-based pixel centres) and the kind columns.
    significance : Exposure or numpy.ndarray, optional
        Image for the fourth panel; ``difference / sqrt(variance)`` when omitted.
    templateLabel : str
        Title of the template panel (e.g. ``"matched template"``).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sig = significanceImage(difference) if significance is None else displayImage(significance)
    panels = [(displayImage(science), "science"),
              (displayImage(template), templateLabel),
              (displayImage(difference), "difference"),
              (sig, "significance (difference / sigma)")]
    factor = blockFactor(science.shape)

    fig = Figure(figsize=QUICKLOOK_SIZE, dpi=QUICKLOOK_DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.13, top=0.92, wspace=0.04)
    kinds = sourceKinds(diaSources) if diaSources is not None and len(diaSources) else None
    handles = {}
    for i, (image, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        shown = blockAverage(image, factor)
        vmin, vmax = zscaleLimits(shown)
        ax.imshow(shown, origin="lower", cmap="gray", vmin=vmin, vmax=vmax,
                  interpolation="nearest")
        suffix = f" (binned {factor}x{factor})" if factor > 1 else ""
        ax.set_title(title + suffix, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, shown.shape[1] - 0.5)
        ax.set_ylim(-0.5, shown.shape[0] - 0.5)
        if kinds is None:
            continue
        x = (np.asarray(diaSources["x"], dtype=float) + 0.5) / factor - 0.5
        y = (np.asarray(diaSources["y"], dtype=float) + 0.5) / factor - 0.5
        for kind in KINDS:
            sel = kinds == kind
            if not sel.any():
                continue
            colour = KIND_COLOURS[kind][1]
            handles[kind] = ax.scatter(
                x[sel], y[sel], s=25 if kind == "sky" else 80,
                marker="s" if kind == "sky" else "o", facecolors="none", edgecolors=colour,
                linewidths=0.6 if kind == "sky" else 1.0, label=f"{kind} ({int(sel.sum())})")
    if handles:
        order = [k for k in ("positive", "negative", "dipole", "flagged", "sky") if k in handles]
        fig.legend([handles[k] for k in order], [handles[k].get_label() for k in order],
                   loc="lower center", ncol=len(order), fontsize=9, frameon=False)
    else:
        fig.text(0.5, 0.04, "no diaSources", ha="center", fontsize=9)

    with atomic_write(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=QUICKLOOK_DPI)
    return Path(path)
