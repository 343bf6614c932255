"""Detect and measure the sources of a science exposure (when the task gives no catalog).

Every step is a core measurement (``diffim.background``, ``diffim.sourcefinding``,
``diffim.moments``, ``diffim.matching``, ``diffim.morphology``) with this
selector's parameters:

1. Subtract the background (:func:`diffim.background.backgroundModel`,
   ``backgroundBinSize`` bins; BAD, NO_DATA, SAT and non-finite pixels left
   out) from a copy of the image; the same model of the variance plane gives
   the sky variance.
2. Detection image: the background-subtracted image smoothed with a
   Gaussian half as wide as the PSF (PSF sigma 2 pixels assumed without
   one), divided by
   the sky noise of that smoothed image. A PSF-wide filter would be more
   sensitive to faint isolated sources but merges a faint star into the
   wing of a bright neighbour a few sigma away; the half-width filter keeps
   such pairs apart, and the isolation cut needs to see them. Dividing by
   the sky noise (not the full variance) keeps a bright star's own photon
   noise from flattening its profile in the detection image.
3. Detect (:func:`diffim.sourcefinding.extractObjects`, no further filter)
   at ``detectionThreshold``, ``minArea`` pixels, deblending at
   ``deblendContrast``; BAD and NO_DATA pixels excluded. Cleaning
   (merging faint objects into bright neighbours whose wings could explain
   them) is off: it absorbs real faint stars next to bright ones.
4. Measure adaptive moments and the Gaussian flux of every source
   (:func:`diffim.moments.adaptiveMoments`, centre iterated, from the sep
   barycentre and width) on a stamp of half-width ``6 sigma`` of the
   exposure PSF (8 to 40 pixels; 12 without a PSF), with the pixels of other
   sources' footprints and excluded pixels given zero weight; a source whose
   Ixx or Iyy exceeds the stamp half-width squared fails.
5. Flag each source from the mask planes its footprint touches and from sep.
6. Neighbour peaks: deblending does not split a compact object (a
   faint star, a cosmic ray) off the wing of a bright star when few of its
   pixels rise above the saddle between them. So every local maximum of the
   unsmoothed image, in sky-noise units, that reaches ``detectionThreshold``
   and is the highest pixel within :data:`PEAK_SEPARATION` pixels counts as
   a peak (:func:`diffim.sourcefinding.localMaxima`), and
   ``neighbourDistance`` is the distance from each source to the nearest
   peak that is not its own (its own lies within :data:`OWN_PEAK_RADIUS`
   pixels of its centre; :func:`diffim.matching.nearestDistance`).

The catalog's columns are listed in :data:`COLUMNS`.
"""
from __future__ import annotations

import numpy as np
import sep
from astropy.table import Column, Table
from scipy import ndimage, special

from diffim.exposure import Exposure
from diffim.matching import nearestDistance
from diffim.moments import Moments, adaptiveMoments
from diffim.sourcefinding import Objects, extractObjects, footprintsTouching, localMaxima

from .config import SourceMeasurementConfig
from .sky import SkySubtracted, subtractSky

#: Flag column -> mask planes of which one pixel touching the footprint sets it.
FLAG_PLANES: dict[str, tuple[str, ...]] = {
    "flag_edge": ("EDGE", "NO_DATA"),
    "flag_saturated": ("SAT",),
    "flag_interpolated": ("INTRP",),
    "flag_cr": ("CR",),
    "flag_bad": ("BAD",),
}

#: Column -> (unit, description) of the catalog :func:`measureSources` returns.
COLUMNS: dict[str, tuple[str | None, str]] = {
    "id": (None, "source id: the label of its footprint in the segmentation map (1, 2, ...)"),
    "x": ("pix", "column of the adaptive-moment centre, 0-based (sep barycentre if flag_shape)"),
    "y": ("pix", "row of the adaptive-moment centre, 0-based (sep barycentre if flag_shape)"),
    "ra": ("deg", "right ascension of (x, y) through the exposure WCS"),
    "dec": ("deg", "declination of (x, y) through the exposure WCS"),
    "flux": ("adu", "Gaussian flux: twice the sum of the pixels under the adaptive weight"),
    "fluxErr": ("adu", "error of flux, from the variance plane"),
    "Ixx": ("pix2", "adaptive second moment along x"),
    "Iyy": ("pix2", "adaptive second moment along y"),
    "Ixy": ("pix2", "adaptive cross moment"),
    "peak": ("adu", "highest background-subtracted pixel of the footprint"),
    "npix": (None, "pixels in the footprint (above threshold)"),
    "neighbourDistance": ("pix", "distance to the nearest significant peak of the image that is "
                                 "not the source's own (inf: none)"),
    "flag_edge": (None, "footprint touches the image border or an EDGE or NO_DATA pixel"),
    "flag_saturated": (None, "footprint touches a SAT pixel"),
    "flag_interpolated": (None, "footprint touches an INTRP pixel"),
    "flag_cr": (None, "footprint touches a CR pixel"),
    "flag_bad": (None, "footprint touches a BAD pixel"),
    "flag_blended": (None, "split from a neighbour by deblending"),
    "flag_shape": (None, "adaptive moments failed (narrower than a pixel, too wide, no "
                         "convergence); Ixx, Iyy, Ixy, flux are NaN"),
}

#: PSF sigma (pixels) assumed when the exposure has no PSF.
DEFAULT_PSF_SIGMA = 2.0

#: Width of the detection filter in units of the PSF sigma (see step 2 above).
DETECTION_FILTER_SCALE = 0.5

#: A peak is the highest pixel within this many pixels (a (2n+1)² box; step 6 above).
PEAK_SEPARATION = 2

#: A source's own peak lies within this distance (pixels) of its centre.
OWN_PEAK_RADIUS = 2.0


def measureSources(exposure: Exposure, config: SourceMeasurementConfig) -> Table:
    """Detect the sources of ``exposure`` and measure their centres, moments, fluxes and flags.

    Parameters
    ----------
    exposure : Exposure
        The science exposure, with a variance plane; not modified.
    config : SourceMeasurementConfig
        Detection threshold, minimum area, deblending and background mesh.

    Returns
    -------
    astropy.table.Table
        One row per source with the columns of :data:`COLUMNS` (``ra``, ``dec``
        only when the exposure has a celestial WCS).

    Raises
    ------
    InputError
        If the exposure has no variance plane or no usable pixels.
    """
    sky = subtractSky(exposure, config.backgroundBinSize)
    sigma = _psfSigma(exposure)
    detection = _detectionImage(sky, DETECTION_FILTER_SCALE * sigma)
    objects = extractObjects(detection, config.detectionThreshold, exclude=sky.excluded,
                             minArea=config.minArea, filterKernel=None,
                             deblendContrast=config.deblendContrast, clean=False,
                             segmentation=True)
    moments = _measure(sky, objects, _stampHalf(sigma))
    peaks = _imagePeaks(sky, config.detectionThreshold)
    return _catalog(exposure, sky.data, objects, moments,
                    _neighbourDistance(peaks, moments.x, moments.y))


def _psfSigma(exposure: Exposure) -> float:
    """Determinant radius of the exposure PSF, or :data:`DEFAULT_PSF_SIGMA` without one."""
    return DEFAULT_PSF_SIGMA if exposure.psf is None else float(exposure.psf.sigma())


def _gaussian1d(sigma: float) -> np.ndarray:
    """Unit-sum, pixel-integrated Gaussian on ``2 * ceil(4 sigma) + 1`` pixels."""
    half = int(np.ceil(4.0 * sigma))
    edges = (np.arange(-half, half + 2) - 0.5) / (np.sqrt(2.0) * sigma)
    g = np.diff(special.erf(edges))
    return g / g.sum()


def _detectionImage(sky: SkySubtracted, sigma: float) -> np.ndarray:
    """Sky-subtracted image smoothed by a Gaussian of ``sigma``, in units of its sky noise."""
    g = _gaussian1d(sigma)
    smoothed = ndimage.convolve1d(ndimage.convolve1d(sky.data, g, axis=0, mode="constant"), g,
                                  axis=1, mode="constant")
    noise = np.sqrt(sky.skyVariance) * float((g * g).sum())
    detection = np.zeros_like(smoothed)
    np.divide(smoothed, noise, out=detection, where=(noise > 0) & ~sky.excluded)
    return detection


def _imagePeaks(sky: SkySubtracted, threshold: float) -> np.ndarray:
    """``(n, 2)`` x, y of the local maxima of ``data / sky noise`` that reach ``threshold``."""
    snr = np.zeros(sky.data.shape, dtype=np.float32)
    np.divide(sky.data, np.sqrt(sky.skyVariance), out=snr,
              where=(sky.skyVariance > 0) & ~sky.excluded)
    x, y = localMaxima(snr, threshold, PEAK_SEPARATION, exclude=sky.excluded)
    return np.column_stack([x, y]).astype(np.float64)


def _neighbourDistance(peaks: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance from each ``(x, y)`` to the nearest peak farther than :data:`OWN_PEAK_RADIUS`."""
    if len(peaks) == 0 or len(x) == 0:      # nearestDistance does not take an empty list
        return np.full(len(x), np.inf)
    return nearestDistance(np.column_stack([x, y]), peaks, ignoreWithin=OWN_PEAK_RADIUS)


def _stampHalf(sigma: float) -> int:
    """Half-width of the moment stamps: ``6 sigma`` of the PSF, within [8, 40] pixels."""
    return int(np.clip(np.ceil(6.0 * sigma), 8, 40))


def _measure(sky: SkySubtracted, objects: Objects, half: int) -> Moments:
    """Adaptive moments of every object, in image coordinates (step 4 above).

    Each starts from the sep barycentre and a circular width ``sqrt(a b)``
    (within [0.7, half / 3] pixels); a failed source keeps the barycentre.
    """
    catalog = objects.catalog
    sigma0 = np.clip(np.sqrt(catalog["a"] * catalog["b"]), 0.7, half / 3.0)
    return adaptiveMoments(sky.data, catalog["x"], catalog["y"], sigma0, half=half,
                           variance=sky.variance, usable=~sky.excluded,
                           labels=objects.segmentation,
                           owner=np.arange(1, len(catalog) + 1), fixCentre=False,
                           maxMoment=float(half * half))


def _footprintFlags(exposure: Exposure, segmap: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """For each flag of :data:`FLAG_PLANES`: does the source's footprint touch such a pixel.

    Touching (a footprint pixel is the masked pixel or one of its 8 neighbours)
    catches the BAD and NO_DATA pixels, which detection leaves out of footprints;
    a footprint on the image border is ``flag_edge`` too.
    """
    return {name: footprintsTouching(segmap, exposure.maskedPixels(*planes, context="sourceSelector"),
                                     n, grow=1,
                                     border=name == "flag_edge")
            for name, planes in FLAG_PLANES.items()}


def _footprintPeaks(data: np.ndarray, segmap: np.ndarray, n: int) -> np.ndarray:
    """Highest pixel of ``data`` in each footprint (labels 1 to ``n``)."""
    if n == 0:
        return np.empty(0)
    return np.asarray(ndimage.maximum(data, labels=segmap, index=np.arange(1, n + 1)),
                      dtype=np.float64)


def _catalog(exposure: Exposure, data: np.ndarray, objects: Objects, moments: Moments,
             neighbourDistance: np.ndarray) -> Table:
    """Assemble the source table with units and descriptions."""
    n = len(objects)
    segmap, sepFlags = objects.segmentation, objects.catalog["flag"]
    flags = _footprintFlags(exposure, segmap, n)
    flags["flag_edge"] |= (sepFlags & sep.OBJ_TRUNC) != 0
    flags["flag_blended"] = (sepFlags & sep.OBJ_MERGED) != 0
    flags["flag_shape"] = moments.failed.copy()
    values = {"id": np.arange(1, n + 1, dtype=np.int64), "x": moments.x, "y": moments.y}
    wcs = exposure.wcs
    if wcs is not None and wcs.has_celestial:
        ra, dec = wcs.pixel_to_world_values(moments.x, moments.y) if n else (np.empty(0),) * 2
        values["ra"], values["dec"] = np.asarray(ra, float), np.asarray(dec, float)
    values.update({"flux": moments.flux, "fluxErr": moments.fluxErr, "Ixx": moments.ixx,
                   "Iyy": moments.iyy, "Ixy": moments.ixy,
                   "peak": _footprintPeaks(data, segmap, n),
                   "npix": np.asarray(objects.catalog["npix"], dtype=np.int64),
                   "neighbourDistance": neighbourDistance})
    values.update(flags)
    return Table([Column(values[name], name=name, unit=COLUMNS[name][0],
                         description=COLUMNS[name][1]) for name in values])


def scienceSources(sources: Table | None, exposure: Exposure,
                   config: SourceMeasurementConfig) -> Table:
    """``sources`` when the task gave a catalog, else the sources measured on ``exposure``."""
    return measureSources(exposure, config) if sources is None else sources
