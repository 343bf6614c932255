"""Finding sources in an image: thresholded objects, the PSF matched filter, peaks, isolation.

Every step that looks for stars or sources (kernel candidates, registration
stars, aperture-correction stars, the DETECTED plane of a plain image, the
flux-scale stars, the sky of the forced photometry) uses these functions with
its own parameters:

* :func:`extractObjects` -- connected pixels above a threshold, with
  ``sep`` (SExtractor's detection, deblending and cleaning);
* :func:`sourcePixels` -- the pixels of every such object, as one mask;
* :func:`matchedFilter` -- the PSF matched-filter image: at each pixel the
  S/N and flux of a point source centred there (the optimal detection image
  for point sources);
* :func:`localMaxima` -- the peaks of an image;
* :func:`isolated` -- which peaks have no comparably bright neighbour;
* :func:`footprintsTouching` -- which footprints hold (or come near) flagged pixels.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import sep
from scipy import ndimage
from scipy.spatial import cKDTree

from .convolution import convolve
from .morphology import growMask


#: Active object pixels sep makes room for at first (see :func:`extractObjects`).
PIXEL_STACK = 1 << 20

_SEP_STACK = threading.Lock()


@dataclass
class Objects:
    """What :func:`extractObjects` found.

    Attributes
    ----------
    catalog : numpy.ndarray
        ``sep``'s structured array, one row per object (``x``, ``y``, ``a``, ``b``,
        ``flux``, ``npix``, ``xpeak``, ``ypeak``, ``flag``, ...).
    segmentation : numpy.ndarray or None
        int32 map, object ``i`` is label ``i + 1``; None unless asked for.
    """

    catalog: np.ndarray
    segmentation: np.ndarray | None

    def __len__(self) -> int:
        return len(self.catalog)


def extractObjects(data: np.ndarray, threshold: float, noise: np.ndarray | float | None = None,
                   exclude: np.ndarray | None = None, minArea: int = 5,
                   filterKernel: np.ndarray | None | str = "default",
                   deblendThresholds: int = 32, deblendContrast: float = 0.005,
                   clean: bool = True, segmentation: bool = False) -> Objects:
    """Detect the objects of a background-subtracted image.

    Parameters
    ----------
    data : numpy.ndarray
        Background-subtracted image (finite where not excluded).
    threshold : float
        Detection threshold: in units of ``noise`` when given, else in data units.
    noise : numpy.ndarray or float, optional
        Per-pixel (or global) 1-sigma noise.
    exclude : numpy.ndarray, optional
        True for pixels never part of an object.
    minArea : int
        Fewest connected pixels of an object.
    filterKernel : numpy.ndarray, None or "default"
        Convolution applied before thresholding: ``sep``'s default 3×3 kernel, a
        given kernel, or None for none (``data`` is then already a detection image).
    deblendThresholds, deblendContrast : int, float
        Multi-threshold deblending levels and the contrast a branch needs to become
        its own object (1.0: no deblending, and no levels are built).
    clean : bool
        Merge objects that a neighbour's wing can explain (SExtractor's cleaning).
    segmentation : bool
        Also return the segmentation map.

    Returns
    -------
    Objects
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    kwargs = {}
    if noise is not None:
        kwargs["err"] = (np.ascontiguousarray(noise, dtype=np.float32)
                         if np.ndim(noise) else float(noise))
    if exclude is not None:
        kwargs["mask"] = np.ascontiguousarray(exclude, dtype=bool)
    if not (isinstance(filterKernel, str) and filterKernel == "default"):
        kwargs["filter_kernel"] = filterKernel
    if deblendContrast >= 1.0:
        # no branch can hold more than its whole object: nothing is split, but sep would
        # still build the multi-threshold tree of every object, whose cost grows faster
        # than the object's area (0.3 s for one 150,000-pixel blend of a crowded frame)
        deblendThresholds = 1
    kwargs.update(minarea=minArea, deblend_nthresh=deblendThresholds,
                  deblend_cont=deblendContrast, clean=clean, segmentation_map=segmentation)
    found = _extract(data, threshold, kwargs)
    if segmentation:
        catalog, segmap = found
        return Objects(catalog, segmap.astype(np.int32, copy=False))
    return Objects(found, None)


def _extract(data: np.ndarray, threshold: float, kwargs: dict) -> object:
    """``sep.extract`` with a pixel stack that grows to the whole image only when needed.

    sep allocates and clears its stack of active pixels on every call, which costs
    as much as the extraction itself when the stack is the size of a 4096² image;
    ``PIXEL_STACK`` holds any field diffim has met, and a call that overflows it is
    repeated with a stack of every pixel (sep then cannot overflow). The stack size
    is global to sep, so calls from different threads take turns.
    """
    with _SEP_STACK:
        sep.set_extract_pixstack(min(data.size, PIXEL_STACK))
        try:
            return sep.extract(data, threshold, **kwargs)
        except Exception as error:
            if "pixel buffer full" not in str(error) or data.size <= PIXEL_STACK:
                raise
        sep.set_extract_pixstack(data.size)
        return sep.extract(data, threshold, **kwargs)


def sourcePixels(data: np.ndarray, threshold: float, noise: np.ndarray | float | None = None,
                 exclude: np.ndarray | None = None, minArea: int = 5) -> np.ndarray:
    """The pixels of every object of :func:`extractObjects`, as one boolean mask.

    Every group of at least ``minArea`` connected pixels above ``threshold`` in the
    filtered image (sep's default 3x3 kernel). For a mask of source light the objects
    need not be split, so they are not deblended nor cleaned: deblending would only
    drop the pixels of branches too small to stand alone (1 to 15 % of them), and its
    cost grows faster than a blend's area (0.3 s for one 128,000-pixel blend of a
    crowded bulge frame, against 0.04 s for the whole frame without it).

    Parameters
    ----------
    data, threshold, noise, exclude, minArea
        As :func:`extractObjects`.

    Returns
    -------
    numpy.ndarray
        True on the objects' pixels.
    """
    return extractObjects(data, threshold, noise=noise, exclude=exclude, minArea=minArea,
                          deblendContrast=1.0, clean=False, segmentation=True).segmentation > 0


@dataclass
class MatchedFilter:
    """The PSF matched-filter image of :func:`matchedFilter`.

    Attributes
    ----------
    significance : numpy.ndarray
        S/N of a point source centred on each pixel (0 where nothing was usable).
    flux : numpy.ndarray
        Its PSF flux (0 where nothing was usable).
    """

    significance: np.ndarray
    flux: np.ndarray


def matchedFilter(data: np.ndarray, variance: np.ndarray, exclude: np.ndarray,
                  psfImage: np.ndarray) -> MatchedFilter:
    """Filter an image with its PSF, weighting every pixel by its inverse variance.

    At each pixel ``p``, with the PSF ``P`` centred there, ``signal = sum(P d / V)``
    and ``power = sum(P**2 / V)`` over the usable pixels; ``signal / power`` is the
    least-squares PSF flux of a point source at ``p`` and ``signal / sqrt(power)``
    its S/N. Excluded pixels carry no weight, so a source next to a masked pixel
    is judged on the pixels that remain. Two FFT convolutions (zero outside the
    image).

    Parameters
    ----------
    data : numpy.ndarray
        Background-subtracted image.
    variance : numpy.ndarray
        Its per-pixel variance.
    exclude : numpy.ndarray
        True for pixels not to use (masked, non-finite, non-positive variance).
    psfImage : numpy.ndarray
        The PSF stamp (odd size, centred).

    Returns
    -------
    MatchedFilter
    """
    unusable = exclude | ~np.isfinite(data) | ~(variance > 0)
    # full-frame planes are made in place and let go as soon as they are used
    weight = np.where(unusable, 1.0, variance)
    np.reciprocal(weight, out=weight)
    weight[unusable] = 0.0
    weight = weight.astype(np.float32, copy=False)
    weighted = np.where(unusable, np.float32(0.0), data).astype(np.float32, copy=False)
    weighted *= weight
    psf = np.asarray(psfImage, dtype=np.float32)[::-1, ::-1]
    signal_ = convolve(weighted, psf)
    del weighted
    power = convolve(weight, psf * psf)
    del weight
    usable = power > 1e-12 * float(power.max()) if power.size else power > 0
    significance = np.zeros(data.shape, dtype=np.float32)
    flux = np.zeros(data.shape, dtype=np.float32)
    np.divide(signal_, np.sqrt(np.where(usable, power, 1.0)), out=significance, where=usable)
    np.divide(signal_, power, out=flux, where=usable)
    return MatchedFilter(significance, flux)


def localMaxima(image: np.ndarray, threshold: float = -np.inf, separation: int = 1,
                exclude: np.ndarray | None = None,
                within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixels that are the highest within ``separation`` pixels and reach ``threshold``.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image (negate it to find minima).
    threshold : float
        Lowest value of a peak.
    separation : int
        A peak is the largest value (ties kept) of the ``(2 separation + 1)``-pixel
        square around it; pixels beyond the image border do not count.
    exclude : numpy.ndarray, optional
        True for pixels that cannot be peaks.
    within : numpy.ndarray, optional
        Look only at these pixels (footprints, say): the cost then grows with their
        number, not with the image's.

    Returns
    -------
    x, y : numpy.ndarray
        int64 positions of the peaks, in row-major order.
    """
    if within is None:
        highest = ndimage.maximum_filter(image, size=2 * int(separation) + 1, mode="nearest")
        peak = (image >= threshold) & (image == highest)
        if exclude is not None:
            peak &= ~exclude
        y, x = np.nonzero(peak)
        return x.astype(np.int64), y.astype(np.int64)
    y, x = np.nonzero(within)
    value = image[y, x]
    candidate = value >= threshold
    if exclude is not None:
        candidate &= ~exclude[y, x]
    y, x, value = y[candidate], x[candidate], value[candidate]
    height, width = image.shape
    flat = image.ravel()
    reach = int(separation)
    rowStart = [np.clip(y + dy, 0, height - 1) * width for dy in range(-reach, reach + 1)]
    column = [np.clip(x + dx, 0, width - 1) for dx in range(-reach, reach + 1)]
    keep = np.ones(len(y), dtype=bool)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy or dx:
                keep &= value >= flat[rowStart[dy + reach] + column[dx + reach]]
    return x[keep].astype(np.int64), y[keep].astype(np.int64)


def isolated(x: np.ndarray, y: np.ndarray, flux: np.ndarray, reach: float,
             maxFluxRatio: float = 0.0, minSeparation: float = 0.0,
             combine: str = "sum") -> np.ndarray:
    """True for objects without a comparably bright neighbour.

    An object is isolated when the flux of the other objects within ``reach``
    (their sum, or the brightest one's) is at most ``maxFluxRatio`` times its own,
    and no other object lies closer than ``minSeparation`` however faint. An
    object with a non-finite position is never isolated.

    Parameters
    ----------
    x, y : numpy.ndarray
        Positions (pixels).
    flux : numpy.ndarray
        Brightness of each object (any unit common to all).
    reach : float
        Radius (pixels) within which neighbours count.
    maxFluxRatio : float
        Largest neighbour flux, summed, as a fraction of the object's flux
        (0: no neighbour at all within ``reach``).
    minSeparation : float
        Radius within which any neighbour disqualifies.
    combine : str
        ``sum``: the neighbours' fluxes add up (light that enters an aperture);
        ``max``: only the brightest neighbour counts (stars to blank around).

    Returns
    -------
    numpy.ndarray
        Boolean, one per object.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    result = finite.copy()
    index = np.flatnonzero(finite)
    if index.size < 2:
        return result
    tree = cKDTree(np.column_stack([x[index], y[index]]))
    pairs = tree.query_pairs(max(reach, minSeparation), output_type="ndarray")
    if len(pairs) == 0:
        return result
    i, j = index[pairs[:, 0]], index[pairs[:, 1]]
    distance = np.hypot(x[i] - x[j], y[i] - y[j])
    within = distance <= reach
    owners = np.concatenate([i[within], j[within]])
    neighbours = np.abs(np.concatenate([flux[j[within]], flux[i[within]]]))
    if combine == "sum":
        neighbourFlux = np.bincount(owners, weights=neighbours, minlength=len(x))
    elif combine == "max":
        neighbourFlux = np.zeros(len(x))
        np.maximum.at(neighbourFlux, owners, neighbours)
    else:
        raise ValueError(f"unknown combine {combine!r}; expected 'sum' or 'max'")
    result &= neighbourFlux <= maxFluxRatio * np.abs(flux)
    close = distance < minSeparation
    result[i[close]] = False
    result[j[close]] = False
    return result


def footprintsTouching(labels: np.ndarray, flagged: np.ndarray, count: int, grow: float = 0,
                       metric: str = "chessboard", border: bool = False) -> np.ndarray:
    """True for each footprint that holds a flagged pixel, or one within ``grow`` pixels.

    A footprint grown by ``r`` touches a flagged pixel exactly when it holds a
    pixel of the flagged set grown by ``r``, so the set is grown once for all.

    Parameters
    ----------
    labels : numpy.ndarray
        Footprint label image (footprint ``k`` is label ``k``, 1-based; 0 is none).
    flagged : numpy.ndarray
        Boolean image of the flagged pixels (a mask plane, say).
    count : int
        Number of footprints (labels 1 .. count).
    grow : float
        Distance (pixels) within which a flagged pixel counts as touching.
    metric : str
        How ``grow`` is measured (:func:`diffim.morphology.growMask`).
    border : bool
        Also count the footprints that hold a pixel of the image's outermost rows
        or columns.

    Returns
    -------
    numpy.ndarray
        ``(count,)`` booleans.
    """
    flagged = growMask(flagged, grow, metric) if grow > 0 else np.array(flagged, dtype=bool)
    if border:
        flagged[[0, -1], :] = True
        flagged[:, [0, -1]] = True
    hits = labels[flagged & (labels > 0)]
    return np.bincount(hits, minlength=count + 1)[1:count + 1] > 0
