"""Catalog columns of the detected sources: peaks, centroids, PSF fluxes, flags, sky positions."""
from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

from diffim.centroids import windowedCentroids
from diffim.exposure import Exposure
from diffim.morphology import growMask
from diffim.photometry import measurePsfFlux

from .footprints import FootprintSet, Peaks
from .schema import PIXEL_FLAG_PLANES, emptyColumns
from .smoothing import DetectionImage


def extremeIndex(values: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """Index of the largest value of each group ``1..count``; -1 for an empty group.

    Ties go to the later element in input order.
    """
    best = np.full(count + 1, -1, dtype=np.int64)
    if values.size:
        order = np.lexsort((values, groups))
        last = np.ones(order.size, dtype=bool)
        last[:-1] = groups[order][1:] != groups[order][:-1]
        best[groups[order][last]] = order[last]
    return best[1:]


def _inSubset(index: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """Map indices into ``subset`` back to the full array; -1 stays -1."""
    out = np.full(index.size, -1, dtype=np.int64)
    found = index >= 0
    out[found] = subset[index[found]]
    return out


def _pick(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``array[index]`` as float64, NaN where ``index`` is -1."""
    out = np.full(index.size, np.nan)
    found = index >= 0
    out[found] = array[index[found]]
    return out


def peakColumns(peaks: Peaks, count: int, image: np.ndarray,
                detection: DetectionImage) -> dict[str, np.ndarray]:
    """Columns describing the peaks of each source (see the schema)."""
    positive = np.flatnonzero(peaks.sign > 0)
    negative = np.flatnonzero(peaks.sign < 0)
    posIndex = _inSubset(extremeIndex(peaks.value[positive], peaks.footprint[positive], count),
                         positive)
    negIndex = _inSubset(extremeIndex(-peaks.value[negative], peaks.footprint[negative], count),
                         negative)
    posValue = _pick(peaks.value, posIndex)
    negValue = _pick(peaks.value, negIndex)
    useNegative = (negIndex >= 0) & ((posIndex < 0) | (np.abs(negValue) > np.abs(posValue)))
    main = np.where(useNegative, negIndex, posIndex)
    px, py = peaks.x[main], peaks.y[main]
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = detection.image[py, px] / np.sqrt(detection.variance[py, px])
    columns = {
        "peak_x": px, "peak_y": py, "peakValue": image[py, px].astype(np.float64),
        "peakSignificance": significance.astype(np.float64),
        "nPeaks": np.bincount(peaks.footprint, minlength=count + 1)[1:],
        "isPositive": posIndex >= 0, "isNegative": negIndex >= 0,
    }
    for prefix, index in (("posPeak", posIndex), ("negPeak", negIndex)):
        columns[f"{prefix}_x"] = _pick(peaks.x, index)
        columns[f"{prefix}_y"] = _pick(peaks.y, index)
        found = index >= 0
        value = np.full(count, np.nan)
        value[found] = image[peaks.y[index[found]], peaks.x[index[found]]]
        columns[f"{prefix}Value"] = value
    columns["isDipoleCandidate"] = columns["isPositive"] & columns["isNegative"]
    columns["flags_negative"] = columns["isNegative"] & ~columns["isPositive"]
    return columns


def centroidColumns(columns: dict[str, np.ndarray], labels: np.ndarray, image: np.ndarray,
                    sigma: float) -> dict[str, np.ndarray]:
    """Sign-aware centroids: each lobe from its extreme peak, a dipole at the lobes' midpoint."""
    count = columns["isPositive"].size
    lobes = {}
    for prefix, flag, sign in (("posPeak", "isPositive", 1), ("negPeak", "isNegative", -1)):
        which = np.flatnonzero(columns[flag])
        found = windowedCentroids(image, columns[f"{prefix}_x"][which],
                                  columns[f"{prefix}_y"][which], sigma, labels=labels,
                                  owner=which + 1, sign=np.full(which.size, sign),
                                  ownFootprintOnly=True, clipNegative=True)
        lobeX, lobeY, lobeFailed = np.zeros(count), np.zeros(count), np.zeros(count, dtype=bool)
        lobeX[which], lobeY[which], lobeFailed[which] = found.x, found.y, found.failed
        lobes[sign] = (lobeX, lobeY, lobeFailed)
    pos, neg = columns["isPositive"], columns["isNegative"]
    both = pos & neg
    x = np.where(pos, lobes[1][0], lobes[-1][0])
    y = np.where(pos, lobes[1][1], lobes[-1][1])
    x[both] = 0.5 * (lobes[1][0][both] + lobes[-1][0][both])
    y[both] = 0.5 * (lobes[1][1][both] + lobes[-1][1][both])
    failed = (pos & lobes[1][2]) | (neg & lobes[-1][2])
    return {"x": x, "y": y, "centroid_flag": failed}


def pixelFlagColumns(exposure: Exposure, labels: np.ndarray, count: int,
                     radius: int) -> dict[str, np.ndarray]:
    """True where the footprint grown by ``radius`` pixels touches each flagged mask plane.

    A footprint grown by r touches a plane exactly when the footprint touches the
    plane grown by r, so each plane is grown once for all sources, and only at the
    footprints' pixels. The flagged pixels are found in one pass over the mask.
    """
    footprint = labels > 0
    inside = np.flatnonzero(footprint)
    owner = labels.ravel()[inside]
    known = [plane for plane in PIXEL_FLAG_PLANES.values() if plane in exposure.maskPlanes]
    flaggedPixels = np.zeros(0, dtype=np.int64)
    if known and count:
        flaggedPixels = np.flatnonzero(exposure.mask & exposure.bitmask(*known))
    flaggedBits = exposure.mask.ravel()[flaggedPixels]
    columns = {}
    for name, plane in PIXEL_FLAG_PLANES.items():
        flagged = np.zeros(count, dtype=bool)
        if plane in known:
            where = flaggedPixels[(flaggedBits & exposure.bitmask(plane)) != 0]
            if where.size:
                planeMask = np.zeros(labels.shape, dtype=bool)
                planeMask.ravel()[where] = True
                near = growMask(planeMask, radius, metric="taxicab",
                                within=footprint).ravel()[inside]
                flagged = np.bincount(owner[near], minlength=count + 1)[1:] > 0
        columns[name] = flagged
    return columns


def skyColumns(wcs: WCS | None, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """RA and Dec (degrees) of pixel positions; NaN without a celestial WCS."""
    if wcs is None or not wcs.has_celestial or x.size == 0:
        return {"ra": np.full(x.size, np.nan), "dec": np.full(x.size, np.nan)}
    celestial = wcs.celestial
    world = celestial.pixel_to_world_values(x, y)
    return {"ra": np.asarray(world[celestial.wcs.lng], dtype=np.float64),
            "dec": np.asarray(world[celestial.wcs.lat], dtype=np.float64)}


def measureSources(sources: FootprintSet, exposure: Exposure, cleanImage: np.ndarray,
                   detection: DetectionImage, valid: np.ndarray,
                   sigma: float) -> dict[str, np.ndarray]:
    """All catalog columns of ``sources`` (one row per footprint label, in label order).

    Parameters
    ----------
    sources : FootprintSet
        The final footprints (after merging) and their peaks.
    exposure : Exposure
        The exposure detected on (mask planes and WCS are read).
    cleanImage : numpy.ndarray
        Its image with invalid pixels set to 0.
    detection : DetectionImage
        The thresholded image (for peak significances).
    valid : numpy.ndarray
        True where a pixel holds data.
    sigma : float
        PSF sigma (pixels).
    """
    count = sources.count
    columns = emptyColumns(count)
    columns["id"] = np.arange(1, count + 1, dtype=np.int64)
    columns["footprintArea"] = np.bincount(sources.labels.ravel(), minlength=count + 1)[1:]
    columns.update(peakColumns(sources.peaks, count, exposure.image, detection))
    columns.update(centroidColumns(columns, sources.labels, cleanImage, sigma))
    photometry = measurePsfFlux(cleanImage, exposure.variance, valid, exposure.psf,
                                columns["x"], columns["y"])
    columns["psfFlux"] = photometry.flux
    columns["psfFluxErr"] = photometry.fluxErr
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["snr"] = photometry.flux / photometry.fluxErr
    columns["psfFlux_flag"] = photometry.noGoodPixels
    columns["psfFlux_flag_edge"] = photometry.edge
    columns.update(pixelFlagColumns(exposure, sources.labels, count,
                                    max(1, int(np.ceil(sigma)))))
    columns.update(skyColumns(exposure.wcs, columns["x"], columns["y"]))
    return columns
