"""Measure the PSF of an image from its own stars.

The recipe follows what PSF determiners in survey pipelines do, in a compact
form:

1. estimate and subtract the sky (a mesh of clipped means, re-estimated with
   the detected objects masked, see :func:`skyMap`);
2. detect objects with sep and measure each one's half-light radius;
3. keep bright, compact, unmasked, reasonably isolated objects whose size is
   on the stellar locus (the robust mode of the bright objects' sizes:
   cosmic rays fall below it, galaxies and blends above);
4. cut a stamp around each star, recentre it to its windowed centroid by a
   sub-pixel cubic-spline shift, and blank the pixels that are masked or
   belong to other detected objects (grown by a FWHM, to take their wings);
5. normalise each stamp by a least-squares amplitude against the current PSF
   estimate and combine the stamps with a clipped, S/N-weighted mean;
   reject stars whose shape departs from the mean (binaries, galaxies) and
   iterate;
6. replace the noise-dominated outer wings by their azimuthal average;
7. with ``spatialOrder > 0``, fit each PSF pixel as a polynomial in position
   over the stars (S/N-weighted), renormalise and reject stars against the
   local model, and refit (:class:`~diffim.psf.SpatialPsf`).
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import sep
from scipy import ndimage
from scipy.interpolate import RectBivariateSpline
from scipy.spatial import cKDTree

from .errors import InputError
from .mask import MaskPlanes
from .psf import FWHM_PER_SIGMA, ImagePsf, Psf, SpatialPsf

log = logging.getLogger(__name__)

#: Mask planes whose pixels never enter a PSF stamp.
BAD_PLANES: tuple[str, ...] = ("BAD", "SAT", "CR", "NO_DATA", "SUSPECT", "INTRP", "EDGE")

#: Stamp widths (pixels) the automatic choice is clamped to.
MIN_STAMP, MAX_STAMP = 11, 65

#: Above this S/N a stamp's error is dominated by systematics (recentring
#: interpolation, flat fielding), not noise, so its weight stops growing.
WEIGHT_SNR_CAP = 1000.0

#: Stars whose shape differs from the mean PSF by more than this fraction (RMS,
#: beyond their noise) are rejected, unless three times the typical difference
#: is larger (as when the PSF varies across the image).
MAX_SHAPE_EXCESS = 0.03

#: Pixels added around a stamp before the sub-pixel shift, cropped afterwards.
_SHIFT_PAD = 3


@dataclass
class _Stars:
    """Candidate PSF stars: positions (0-based), S/N and sep segment ids."""

    x: np.ndarray
    y: np.ndarray
    snr: np.ndarray
    segId: np.ndarray

    def take(self, keep: np.ndarray) -> _Stars:
        return _Stars(self.x[keep], self.y[keep], self.snr[keep], self.segId[keep])

    def __len__(self) -> int:
        return len(self.x)


def measurePsf(image: np.ndarray, variance: np.ndarray, mask: np.ndarray,
               maskPlanes: MaskPlanes, stampSize: int | None = None, spatialOrder: int = 0,
               maxStars: int = 500, minStars: int = 5, minSnr: float = 20.0) -> Psf:
    """Measure the PSF of an image from its stars.

    Parameters
    ----------
    image : numpy.ndarray
        Pixel values (the sky may or may not be subtracted).
    variance : numpy.ndarray
        Per-pixel variance of ``image``.
    mask : numpy.ndarray
        Integer mask; pixels in any of :data:`BAD_PLANES` are not used.
    maskPlanes : MaskPlanes
        Meaning of the mask bits.
    stampSize : int, optional
        Width of the PSF stamp (made odd); ``2*ceil(3*FWHM)+1`` clamped to
        [11, 65] and to the image size when omitted.
    spatialOrder : int
        Polynomial order of the PSF variation across the image; 0 gives one
        PSF for the whole image (:class:`~diffim.psf.ImagePsf`). With fewer
        than three usable stars per polynomial term a constant PSF is
        returned and the fact is logged.
    maxStars : int
        Use at most this many stars (the highest S/N ones).
    minStars : int
        Fewer usable stars than this is an error.
    minSnr : float
        Minimum aperture S/N of a PSF star.

    Returns
    -------
    Psf
        :class:`~diffim.psf.ImagePsf`, or :class:`~diffim.psf.SpatialPsf` when
        ``spatialOrder > 0`` and the stars allow it.

    Raises
    ------
    InputError
        If fewer than ``minStars`` usable stars are found.
    """
    image = np.asarray(image, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    bad = _bad_pixels(image, variance, mask, maskPlanes)
    data, err = _subtract_background(image, variance, bad)
    objects, segmap = _detect(data, err, bad)
    stars, fwhm = _select_stars(objects, segmap, data, err, bad, minSnr)
    size = _stamp_size(fwhm, image.shape) if stampSize is None else int(stampSize) | 1
    stars = _usable(stars, objects, bad, image.shape, size, fwhm)
    stars = stars.take(np.argsort(-stars.snr)[:maxStars])
    if len(stars) < minStars:
        raise InputError(f"could not measure a PSF: found {len(stars)} usable stars, "
                         f"need {minStars}")
    x, y = sep.winpos(data, stars.x, stars.y, np.full(len(stars), fwhm / FWHM_PER_SIGMA),
                      mask=bad)[:2]
    moved = np.hypot(x - stars.x, y - stars.y) > fwhm
    stars.x = np.where(moved | ~np.isfinite(x), stars.x, x)
    stars.y = np.where(moved | ~np.isfinite(y), stars.y, y)
    stamps, variances = _cut_stamps(data, err ** 2, bad, segmap, stars, size,
                                    grow=int(np.ceil(fwhm)))
    weights = np.minimum(stars.snr, WEIGHT_SNR_CAP) ** 2
    if spatialOrder > 0:
        _, normalised, normVariances, keep = _fit_mean_psf(stamps, variances, weights,
                                                           reject=False)
        spatial = _spatial_psf(normalised, normVariances, weights[keep], stars.take(keep),
                               spatialOrder, image.shape)
        if spatial is not None:
            return spatial
        log.info("too few stars for a PSF of spatial order %d; using a constant PSF",
                 spatialOrder)
    psfImage, _, _, keep = _fit_mean_psf(stamps, variances, weights)
    if len(keep) < minStars:
        raise InputError(f"could not measure a PSF: found {len(keep)} usable stars, "
                         f"need {minStars}")
    average = (float(np.average(stars.x[keep], weights=weights[keep])),
               float(np.average(stars.y[keep], weights=weights[keep])))
    return ImagePsf(psfImage, averagePosition=average)


def _bad_pixels(image: np.ndarray, variance: np.ndarray, mask: np.ndarray,
                maskPlanes: MaskPlanes) -> np.ndarray:
    """Pixels that are masked in a bad plane or carry no finite value or variance."""
    names = [name for name in BAD_PLANES if name in maskPlanes]
    bad = (np.asarray(mask) & maskPlanes.bitmask(names)) != 0
    return bad | ~np.isfinite(image) | ~(np.isfinite(variance) & (variance > 0))


def _background_box(shape: tuple[int, int]) -> int:
    """Mesh size of the sky estimate: 64 px, smaller for small images."""
    return int(np.clip(min(shape) // 4, 8, 64))


def _subtract_background(image: np.ndarray, variance: np.ndarray,
                         bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the sky-subtracted image (0 at bad pixels) and the per-pixel noise.

    The sky is estimated twice: the second time with the objects detected on
    the first estimate masked (dilated by three pixels).
    """
    data = np.where(bad, 0.0, image)
    good = ~bad
    noise = np.sqrt(np.where(good, variance, np.median(variance[good]) if good.any() else 1.0))
    box = _background_box(image.shape)
    sky = skyMap(data, bad, box)
    objects = _detect(data - sky, noise, bad)[1] > 0
    objects = ndimage.binary_dilation(objects, iterations=3)
    sky = skyMap(data, bad | objects, box)
    return np.where(bad, 0.0, data - sky), noise


def skyMap(image: np.ndarray, exclude: np.ndarray, box: int) -> np.ndarray:
    """Smooth sky image: the mean of the unexcluded pixels in ``box``-sized cells.

    Each cell's value is the mean of its pixels that are not excluded and lie
    within 5 robust sigmas of their median; the cell values are median
    filtered (3×3) and interpolated with a bicubic spline. A *mean* (not a
    mode or median) is used on purpose: the light of faint, undetected
    sources is part of what surrounds any star on average, so a PSF stamp
    cut from the sky-subtracted image has no pedestal. The PSF's second
    moments, taken over a stamp several FWHM wide, are very sensitive to a
    pedestal.

    Parameters
    ----------
    image : numpy.ndarray
        The image.
    exclude : numpy.ndarray
        True for pixels not to use (masked pixels, detected objects).
    box : int
        Cell size in pixels.
    """
    h, w = image.shape
    ny, nx = max(1, round(h / box)), max(1, round(w / box))
    yEdges = np.linspace(0, h, ny + 1).astype(int)
    xEdges = np.linspace(0, w, nx + 1).astype(int)
    cells = np.full((ny, nx), np.nan)
    for i in range(ny):
        for j in range(nx):
            cell = (slice(yEdges[i], yEdges[i + 1]), slice(xEdges[j], xEdges[j + 1]))
            values = image[cell][~exclude[cell]]
            if values.size < 0.1 * image[cell].size:
                continue
            median = np.median(values)
            sigma = 1.4826 * np.median(np.abs(values - median))
            if sigma > 0:
                values = values[np.abs(values - median) < 5.0 * sigma]
            cells[i, j] = values.mean()
    if np.isnan(cells).all():
        return np.zeros(image.shape)
    cells = np.where(np.isnan(cells), np.nanmedian(cells), cells)
    cells = ndimage.median_filter(cells, size=3, mode="nearest")
    if ny < 2 or nx < 2:
        return np.full(image.shape, cells.mean())
    yCentres = (yEdges[:-1] + yEdges[1:] - 1) / 2.0
    xCentres = (xEdges[:-1] + xEdges[1:] - 1) / 2.0
    spline = RectBivariateSpline(yCentres, xCentres, cells, kx=min(3, ny - 1),
                                 ky=min(3, nx - 1))
    return spline(np.arange(h), np.arange(w))


def _detect(data: np.ndarray, err: np.ndarray, bad: np.ndarray,
            threshold: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Detect objects with sep; return its catalogue and segmentation map."""
    if sep.get_extract_pixstack() < data.size:
        sep.set_extract_pixstack(data.size)
    return sep.extract(data, threshold, err=err, mask=bad, minarea=5, segmentation_map=True)


def _select_stars(objects: np.ndarray, segmap: np.ndarray, data: np.ndarray, err: np.ndarray,
                  bad: np.ndarray, minSnr: float) -> tuple[_Stars, float]:
    """Bright objects on the stellar size locus, and the FWHM that locus implies.

    The half-light radius ``r50`` of a Gaussian is FWHM/2; the locus is the
    median ``r50`` of the objects above ``minSnr``, and objects more than three
    robust standard deviations (at least 10 %) from it are rejected.
    """
    usable = (objects["flag"] & (sep.OBJ_TRUNC | sep.OBJ_SINGU)) == 0
    objects = objects[usable]
    segId = np.flatnonzero(usable).astype(np.int32) + 1
    if len(objects) == 0:
        return _Stars(*(np.empty(0),) * 3, np.empty(0, dtype=np.int32)), 0.0
    x, y = objects["x"], objects["y"]
    rmax = np.maximum(5.0 * np.sqrt(objects["a"] * objects["b"]), 3.0)
    r50 = sep.flux_radius(data, x, y, rmax, 0.5, mask=bad, segmap=segmap, seg_id=segId)[0]
    fwhm = _locus_fwhm(r50, objects, err, minSnr)
    radius = np.full(len(x), max(fwhm, 2.0))
    flux, fluxErr, _ = sep.sum_circle(data, x, y, radius, err=err, mask=bad, segmap=segmap,
                                      seg_id=segId)
    snr = flux / np.maximum(fluxErr, 1e-30)
    r50 = sep.flux_radius(data, x, y, np.full(len(x), 3.0 * max(fwhm, 2.0)), 0.5, mask=bad,
                          segmap=segmap, seg_id=segId)[0]
    bright = (snr >= minSnr) & np.isfinite(r50) & (r50 > 0)
    if not bright.any():
        return _Stars(x[bright], y[bright], snr[bright], segId[bright]), fwhm
    centre = np.median(r50[bright])
    spread = max(3.0 * 1.4826 * np.median(np.abs(r50[bright] - centre)), 0.1 * centre)
    onLocus = bright & (np.abs(r50 - centre) <= spread)
    return _Stars(x[onLocus], y[onLocus], snr[onLocus], segId[onLocus]), 2.0 * centre


def _locus_fwhm(r50: np.ndarray, objects: np.ndarray, err: np.ndarray, minSnr: float) -> float:
    """First FWHM guess: twice the median half-light radius of the brighter objects.

    Brightness here is the isophotal S/N, ``flux / (noise at the peak * sqrt(npix))``.
    """
    noise = err[np.clip(objects["ycpeak"], 0, err.shape[0] - 1),
                np.clip(objects["xcpeak"], 0, err.shape[1] - 1)]
    snr = objects["flux"] / (noise * np.sqrt(np.maximum(objects["npix"], 1)))
    good = np.isfinite(r50) & (r50 > 0)
    bright = good & (snr >= minSnr)
    chosen = r50[bright] if bright.sum() >= 3 else r50[good]
    return float(2.0 * np.median(chosen)) if len(chosen) else 0.0


def _stamp_size(fwhm: float, shape: tuple[int, int]) -> int:
    """``2*ceil(3*FWHM)+1``, clamped to [MIN_STAMP, MAX_STAMP] and to fit in the image."""
    size = 2 * int(np.ceil(3.0 * fwhm)) + 1
    size = int(np.clip(size, MIN_STAMP, MAX_STAMP))
    fits = min(shape) - 2 * _SHIFT_PAD - 4
    if size > fits:
        size = fits - (1 - fits % 2)
    return size


def _usable(stars: _Stars, objects: np.ndarray, bad: np.ndarray, shape: tuple[int, int],
            size: int, fwhm: float) -> _Stars:
    """Stars whose stamp fits in the image, with clean cores and no bright close neighbour.

    A neighbour is *bright* when its isophotal flux exceeds 30 % of the star's
    and it lies within the stamp; any object closer than 1.5 FWHM is a blend.
    Fainter neighbours stay: their pixels are blanked in the stamp.
    """
    if len(stars) == 0:
        return stars
    half = size // 2 + _SHIFT_PAD + 1
    h, w = shape
    inside = ((stars.x >= half) & (stars.x <= w - 1 - half)
              & (stars.y >= half) & (stars.y <= h - 1 - half))
    stars = stars.take(inside)
    if len(stars) == 0:
        return stars
    core = np.full(len(stars), max(1.5 * fwhm, 2.0))
    badInCore = sep.sum_circle(bad.astype(np.float64), stars.x, stars.y, core, subpix=0)[0]
    stars = stars.take(badInCore == 0)
    if len(stars) == 0:
        return stars
    flux = objects["flux"]
    tree = cKDTree(np.column_stack([objects["x"], objects["y"]]))
    ownFlux = flux[stars.segId - 1]
    isolated = np.ones(len(stars), dtype=bool)
    for i, near in enumerate(tree.query_ball_point(np.column_stack([stars.x, stars.y]),
                                                   r=np.sqrt(2.0) * (size // 2))):
        near = [j for j in near if j != stars.segId[i] - 1]
        if not near:
            continue
        d = np.hypot(objects["x"][near] - stars.x[i], objects["y"][near] - stars.y[i])
        if np.any(d < 1.5 * fwhm) or np.any(flux[near] > 0.3 * ownFlux[i]):
            isolated[i] = False
    return stars.take(isolated)


def _cut_stamps(data: np.ndarray, variance: np.ndarray, bad: np.ndarray, segmap: np.ndarray,
                stars: _Stars, size: int, grow: int) -> tuple[np.ndarray, np.ndarray]:
    """Stamps centred on the stars to sub-pixel accuracy, and their variance; NaN where unusable.

    Each cut-out (with a margin) is shifted by the star's sub-pixel offset with
    a cubic spline; masked pixels and pixels of other objects (their
    segments grown by ``grow`` pixels, to take their wings too) are zeroed
    before the shift, and every output pixel the shift drew from them is
    blanked. The variance stamps are cut without the shift.
    """
    half = size // 2
    big = half + _SHIFT_PAD
    stamps = np.empty((len(stars), size, size))
    variances = np.empty_like(stamps)
    crop = (slice(_SHIFT_PAD, -_SHIFT_PAD),) * 2
    for i in range(len(stars)):
        xi, yi = int(round(stars.x[i])), int(round(stars.y[i]))
        box = (slice(yi - big, yi + big + 1), slice(xi - big, xi + big + 1))
        seg = segmap[box]
        others = (seg != 0) & (seg != stars.segId[i])
        if grow > 0 and others.any():
            others = ndimage.binary_dilation(others, iterations=grow)
        invalid = bad[box] | others
        shift = (yi - stars.y[i], xi - stars.x[i])
        values = ndimage.shift(np.where(invalid, 0.0, data[box]), shift, order=3, mode="nearest")
        weight = ndimage.shift((~invalid).astype(np.float64), shift, order=1, mode="constant")
        usable = weight[crop] > 0.999
        stamps[i] = np.where(usable, values[crop], np.nan)
        variances[i] = np.where(usable, variance[box][crop], np.nan)
    return stamps, variances


def _combine(stamps: np.ndarray, weights: np.ndarray, nsigma: float = 4.0) -> np.ndarray:
    """Per-pixel weighted mean of the stamps, clipped at ``nsigma`` robust sigmas of the median."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(stamps, axis=0)
        sigma = 1.4826 * np.nanmedian(np.abs(stamps - median), axis=0)
    keep = np.isfinite(stamps) & ((np.abs(stamps - median) <= nsigma * sigma) | (sigma == 0))
    w = weights[:, None, None] * keep
    total = w.sum(axis=0)
    mean = (np.where(keep, stamps, 0.0) * w).sum(axis=0) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, mean, 0.0)


def _amplitudes(stamps: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Least-squares amplitude of ``model`` in each stamp over its valid pixels.

    NaN where the valid pixels hold less than half of the model's power.
    """
    valid = np.isfinite(stamps)
    m = np.where(valid, model, 0.0)
    power = (m ** 2).sum(axis=(1, 2))
    amp = (np.where(valid, stamps, 0.0) * m).sum(axis=(1, 2)) / np.where(power > 0, power, 1.0)
    return np.where((power >= 0.5 * (model ** 2).sum()) & (amp > 0), amp, np.nan)


def _fit_mean_psf(stamps: np.ndarray, variances: np.ndarray, weights: np.ndarray,
                  reject: bool = True,
                  iterations: int = 3,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise and combine the stamps, rejecting stars that do not look like the rest.

    With ``reject=False`` (used before a spatial fit, where stars differ from
    the mean on purpose) only stars whose amplitude cannot be fitted are dropped.
    Returns the PSF image (unit sum), the normalised stamps of the kept stars
    and their variances, and the indices of those stars.
    """
    keep = np.arange(len(stamps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nansum(stamps, axis=(1, 2))
    good = scale > 0
    keep, scale = keep[good], scale[good]
    model = _combine(stamps[keep] / scale[:, None, None], weights[keep])
    for _ in range(iterations):
        amp = _amplitudes(stamps[keep] / scale[:, None, None], model)
        good = np.isfinite(amp)
        keep, scale = keep[good], scale[good] * amp[good]
        if len(keep) == 0:
            break
        if reject:
            norm = scale[:, None, None]
            excess = _shape_excess(stamps[keep] / norm, variances[keep] / norm ** 2, model)
            good = excess <= max(3.0 * np.median(excess), MAX_SHAPE_EXCESS)
            keep, scale = keep[good], scale[good]
        model = _combine(stamps[keep] / scale[:, None, None], weights[keep])
    model = _smooth_wings(model)
    total = model.sum()
    norm = scale[:, None, None]
    psf = model / total if total > 0 else model
    return psf, stamps[keep] / norm, variances[keep] / norm ** 2, keep


def _shape_excess(stamps: np.ndarray, variances: np.ndarray, model: np.ndarray) -> np.ndarray:
    """How much each normalised stamp differs from the model beyond its noise.

    ``sqrt(max(sum((s - P)**2) - sum(var), 0) / sum(P**2))`` over the stamp's
    valid pixels: the fractional RMS shape difference once the expected noise
    is removed, so faint and bright stars are judged on the same scale.
    """
    valid = np.isfinite(stamps)
    diff2 = (np.where(valid, stamps - model, 0.0) ** 2).sum(axis=(1, 2))
    noise2 = np.where(valid, variances, 0.0).sum(axis=(1, 2))
    norm = (np.where(valid, model, 0.0) ** 2).sum(axis=(1, 2))
    return np.sqrt(np.maximum(diff2 - noise2, 0.0) / np.where(norm > 0, norm, np.inf))


def _monomials(x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """``(n, nterms)`` monomials ``x**i * y**j`` with ``i + j <= order``."""
    return np.stack([x ** i * y ** j for i in range(order + 1) for j in range(order + 1 - i)],
                    axis=-1)


def _fit_pixels(stamps: np.ndarray, weights: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Weighted least-squares polynomial of every stamp pixel over the stars.

    Each pixel uses only the stars where it is valid. Returns ``(nterms, h, w)``
    coefficients; a pixel with too few valid stars gets a constant (its weighted mean).
    """
    n, h, w = stamps.shape
    valid = np.isfinite(stamps).reshape(n, -1)
    values = np.where(valid, stamps.reshape(n, -1), 0.0)
    wv = weights[:, None] * valid
    normal = np.einsum("ip,it,iu->ptu", wv, terms, terms)
    rhs = np.einsum("ip,it->pt", wv * values, terms)
    solvable = np.linalg.matrix_rank(normal) == terms.shape[1]
    coeffs = np.zeros((h * w, terms.shape[1]))
    coeffs[solvable] = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0]
    total = wv.sum(axis=0)
    coeffs[~solvable, 0] = np.where(total > 0, (wv * values).sum(axis=0)
                                    / np.where(total > 0, total, 1.0), 0.0)[~solvable]
    return coeffs.T.reshape(-1, h, w)


def _spatial_psf(stamps: np.ndarray, variances: np.ndarray, weights: np.ndarray, stars: _Stars,
                 order: int, shape: tuple[int, int],
                 iterations: int = 2) -> SpatialPsf | None:
    """A SpatialPsf whose pixels are polynomials in position, fitted to the star stamps.

    Every pixel is fitted by S/N-weighted least squares over the stars. Each
    star is then renormalised to the model at its own position and stars
    whose shape departs from it (beyond their noise) are rejected, twice. The
    model is handed to :class:`~diffim.psf.SpatialPsf` as its values on a
    grid of ``(order+2)²`` positions spanning the image, which that class's
    polynomial of the same order reproduces. Returns None when there are
    fewer than three stars per polynomial term.
    """
    h, w = shape
    nterms = (order + 1) * (order + 2) // 2
    if len(stars) < 3 * nterms:
        return None
    stamps, variances = stamps.copy(), variances.copy()
    scaled = (2.0 * stars.x / max(w - 1, 1) - 1.0, 2.0 * stars.y / max(h - 1, 1) - 1.0)
    terms = _monomials(*scaled, order)
    keep = np.arange(len(stars))
    for _ in range(iterations):
        coeffs = _fit_pixels(stamps[keep], weights[keep], terms[keep])
        models = np.einsum("it,tyx->iyx", terms[keep], coeffs)
        amp = np.array([_amplitudes(s[None], m)[0] for s, m in zip(stamps[keep], models)])
        good = np.isfinite(amp)
        keep, amp, models = keep[good], amp[good], models[good]
        stamps[keep] /= amp[:, None, None]
        variances[keep] /= amp[:, None, None] ** 2
        excess = _shape_excess(stamps[keep], variances[keep], models)
        keep = keep[excess <= max(3.0 * np.median(excess), MAX_SHAPE_EXCESS)]
        if len(keep) < 3 * nterms:
            return None
    coeffs = _fit_pixels(stamps[keep], weights[keep], terms[keep])
    grid = np.linspace(-1.0, 1.0, order + 2)
    gx, gy = (g.ravel() for g in np.meshgrid(grid, grid))
    gridStamps = [_smooth_wings(np.einsum("t,tyx->yx", t, coeffs))
                  for t in _monomials(gx, gy, order)]
    if any(stamp.sum() <= 0 for stamp in gridStamps):
        return None
    return SpatialPsf(np.array(gridStamps), (gx + 1.0) * (w - 1) / 2.0,
                      (gy + 1.0) * (h - 1) / 2.0, order, (w, h))


def _smooth_wings(psf: np.ndarray, minSnr: float = 3.0) -> np.ndarray:
    """Replace the noise-dominated outer PSF by its azimuthal average.

    Rings are 1 pixel wide. Beyond the first ring whose mean is below
    ``minSnr`` times the RMS scatter of its pixels about that mean, each
    pixel takes the ring mean at its radius (linearly interpolated). Ring
    sums, hence the PSF's light and width, are nearly kept, while the pixel
    noise of the wings is averaged away; models that clip negative pixel
    values (SpatialPsf) would otherwise turn that noise into extra width.
    Ring means are not clipped at zero, which would bias the width upwards.
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


def estimateFwhm(image: np.ndarray, variance: np.ndarray, mask: np.ndarray,
                 maskPlanes: MaskPlanes, minFwhm: float = 1.5, maxFwhm: float = 10.0,
                 minSnr: float = 10.0) -> float | None:
    """Rough FWHM (pixels) of the most compact sources: twice their half-light radius.

    A fallback for images with too few stars for :func:`measurePsf` (small
    cut-outs). Sources are skipped when cut by the image edge, with masked
    pixels in their core, or detected at an S/N below ``minSnr`` (their size
    is then mostly noise). Of the rest, those with a FWHM in
    [``minFwhm``, ``maxFwhm``] are kept (narrower ones are cosmic rays or hot
    pixels, wider ones galaxies), and since stars are the most compact
    sources the result is the median FWHM of the three most compact (or of
    all, if fewer).

    Returns
    -------
    float or None
        The FWHM, or None when no usable source is detected.
    """
    image = np.asarray(image, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    bad = _bad_pixels(image, variance, mask, maskPlanes)
    data, err = _subtract_background(image, variance, bad)
    objects, segmap = _detect(data, err, bad)
    if len(objects) == 0:
        return None
    x, y = objects["x"], objects["y"]
    segId = np.arange(1, len(objects) + 1, dtype=np.int32)
    size = np.sqrt(objects["a"] * objects["b"])
    rmax = np.maximum(5.0 * size, 3.0)
    fwhm = 2.0 * sep.flux_radius(data, x, y, rmax, 0.5, mask=bad, segmap=segmap,
                                 seg_id=segId)[0]
    flux, fluxErr, _ = sep.sum_circle(data, x, y, rmax, err=err, mask=bad, segmap=segmap,
                                      seg_id=segId)
    core = np.maximum(2.0 * size, 1.5)
    badInCore = sep.sum_circle(bad.astype(np.float64), x, y, core, subpix=0)[0] > 0
    usable = (((objects["flag"] & sep.OBJ_TRUNC) == 0) & ~badInCore
              & (flux >= minSnr * fluxErr) & (fwhm >= minFwhm) & (fwhm <= maxFwhm))
    if not usable.any():
        return None
    return float(np.median(np.sort(fwhm[usable])[:3]))
