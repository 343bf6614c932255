"""Base measurements of every diaSource: centroid, shape, PSF and aperture fluxes, pixel flags."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from diffim.background import backgroundModel
from diffim.centroids import windowedCentroids
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.moments import adaptiveMoments
from diffim.photometry import measurePsfFlux
from diffim.stamps import nearestPixel

from .apertures import apertureFluxes
from .config import PsfMeasurementConfig
from .noise import NoiseCorrelation
from .pixelflags import pixelFlags
from .schema import CENTROID, PSF_FLUX, SHAPE, apertureName
from .sourcenoise import SourceNoisePath, ownNoiseVariance

#: Cell size (pixels) of the sky-variance estimate.
SKY_BLOCK = 64

#: The sky variance is estimated from every ``SKY_STRIDE``-th pixel in each direction.
SKY_STRIDE = 4


@dataclass
class Lobes:
    """Where each diaSource's light of each sign starts, from the detection columns.

    Attributes
    ----------
    sky : numpy.ndarray
        Sky sources (``sky_source``): measured at their given position.
    positive, negative : numpy.ndarray
        The source has a positive / negative peak.
    posX, posY, negX, negY : numpy.ndarray
        The peaks (the catalog position where the column is missing).
    sign : numpy.ndarray
        +1 or -1: the sign of the brighter peak (+1 for sky sources).
    """

    sky: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    posX: np.ndarray
    posY: np.ndarray
    negX: np.ndarray
    negY: np.ndarray
    sign: np.ndarray

    @classmethod
    def of(cls, diaSources: Table) -> "Lobes":
        """Read the lobes from the detection plugin's columns (see its README).

        Without ``isPositive`` / ``isNegative`` every row is taken to be a
        positive source at its ``x``, ``y``.
        """
        n = len(diaSources)
        x = np.asarray(diaSources["x"], dtype=np.float64)
        y = np.asarray(diaSources["y"], dtype=np.float64)

        def column(name, default):
            if name in diaSources.colnames:
                return np.asarray(diaSources[name])
            return default

        sky = column("sky_source", np.zeros(n, dtype=bool)).astype(bool)
        positive = column("isPositive", np.ones(n, dtype=bool)).astype(bool) & ~sky
        negative = column("isNegative", np.zeros(n, dtype=bool)).astype(bool) & ~sky
        positive |= ~(positive | negative | sky)
        posX = np.where(positive, column("posPeak_x", x).astype(np.float64), x)
        posY = np.where(positive, column("posPeak_y", y).astype(np.float64), y)
        negX = np.where(negative, column("negPeak_x", x).astype(np.float64), x)
        negY = np.where(negative, column("negPeak_y", y).astype(np.float64), y)
        posValue = np.abs(column("posPeakValue", np.ones(n)).astype(np.float64))
        negValue = np.abs(column("negPeakValue", np.zeros(n)).astype(np.float64))
        brighterNegative = negative & (~positive | (negValue > posValue))
        sign = np.where(brighterNegative, -1.0, 1.0)
        return cls(sky, positive, negative, posX, posY, negX, negY, sign)


def checkInputs(diaSources: Table, footprints: np.ndarray, difference: Exposure,
                config: PsfMeasurementConfig) -> None:
    """Raise a DiffimError naming what is missing or inconsistent."""
    missing = [name for name in ("x", "y") if name not in diaSources.colnames]
    if missing:
        raise InputError(f"measurement needs diaSource columns x and y, missing: "
                         f"{', '.join(missing)}")
    if difference.psf is None:
        raise InputError("measurement needs the difference image's PSF, but difference.psf "
                         "is None")
    if difference.variance is None:
        raise InputError("measurement needs the difference variance plane, but "
                         "difference.variance is None")
    if footprints.shape != difference.shape:
        raise InputError(f"footprint label image shape {footprints.shape} differs from the "
                         f"difference image shape {difference.shape}")
    if footprints.size and int(footprints.max()) > len(diaSources):
        raise InputError(f"footprint labels go up to {int(footprints.max())} but there are "
                         f"only {len(diaSources)} diaSources (row i owns label i + 1)")


def usablePixels(exposure: Exposure, badMaskPlanes: tuple[str, ...]) -> np.ndarray:
    """True where the pixel is finite, has a positive variance and no ``badMaskPlanes`` bit."""
    return (~exposure.maskedPixels(*badMaskPlanes, context="measurement.badMaskPlanes")
            & np.isfinite(exposure.image)
            & np.isfinite(exposure.variance) & (exposure.variance > 0))


def centroidColumns(diaSources: Table, lobes: Lobes, footprints: np.ndarray,
                    difference: Exposure, usable: np.ndarray, sigma: float,
                    correlatedVariance: np.ndarray) -> dict[str, np.ndarray]:
    """``base_GaussianCentroid_*``: each lobe's windowed centroid, a dipole's midpoint.

    ``correlatedVariance`` is, per row, what the noise correlation adds to the
    variance of every pixel for a sum with the centroid's weights (``(factor - 1)``
    times the sky variance). Sky sources keep their given position: a centroid
    iterated on empty sky would climb the nearest noise peak and bias the noise
    statistics they are for.
    """
    n = len(diaSources)
    owner = np.arange(1, n + 1)
    catalogX = np.asarray(diaSources["x"], dtype=np.float64)
    catalogY = np.asarray(diaSources["y"], dtype=np.float64)
    lobeX, lobeY, lobeVarX, lobeVarY = {}, {}, {}, {}
    failed = np.zeros(n, dtype=bool)
    for sign, has, startX, startY in ((1.0, lobes.positive, lobes.posX, lobes.posY),
                                      (-1.0, lobes.negative, lobes.negX, lobes.negY)):
        which = np.flatnonzero(has & np.isfinite(startX) & np.isfinite(startY))
        found = windowedCentroids(difference.image, startX[which], startY[which], sigma,
                                  variance=difference.variance, usable=usable,
                                  labels=footprints, owner=owner[which],
                                  sign=np.full(which.size, sign))
        lobeFailed = has.copy()
        lobeFailed[which] = found.failed
        failed |= lobeFailed
        extra = correlatedVariance[which]
        lobeX[sign], lobeY[sign] = np.full(n, np.nan), np.full(n, np.nan)
        lobeVarX[sign], lobeVarY[sign] = np.full(n, np.nan), np.full(n, np.nan)
        lobeX[sign][which], lobeY[sign][which] = found.x, found.y
        lobeVarX[sign][which] = np.maximum(found.xErr ** 2 + extra * found.xUnit ** 2, 0.0)
        lobeVarY[sign][which] = np.maximum(found.yErr ** 2 + extra * found.yUnit ** 2, 0.0)
    x, y = catalogX.copy(), catalogY.copy()
    xErr, yErr = np.full(n, np.nan), np.full(n, np.nan)
    both = lobes.positive & lobes.negative
    for sign, only in ((1.0, lobes.positive & ~both), (-1.0, lobes.negative & ~both)):
        x[only], y[only] = lobeX[sign][only], lobeY[sign][only]
        xErr[only], yErr[only] = np.sqrt(lobeVarX[sign][only]), np.sqrt(lobeVarY[sign][only])
    x[both] = 0.5 * (lobeX[1.0][both] + lobeX[-1.0][both])
    y[both] = 0.5 * (lobeY[1.0][both] + lobeY[-1.0][both])
    xErr[both] = 0.5 * np.sqrt(lobeVarX[1.0][both] + lobeVarX[-1.0][both])
    yErr[both] = 0.5 * np.sqrt(lobeVarY[1.0][both] + lobeVarY[-1.0][both])
    failed &= ~lobes.sky
    x[failed], y[failed] = catalogX[failed], catalogY[failed]
    xErr[failed], yErr[failed] = np.nan, np.nan
    return {f"{CENTROID}_x": x, f"{CENTROID}_y": y, f"{CENTROID}_xErr": xErr,
            f"{CENTROID}_yErr": yErr, f"{CENTROID}_flag": failed}


def skyVariance(variance: np.ndarray, quiet: np.ndarray, x: np.ndarray, y: np.ndarray,
                block: int = SKY_BLOCK) -> np.ndarray:
    """Variance of the sky noise at each position, without the sources' own photon noise.

    The background of the variance plane's quiet pixels, every fourth in each direction
    (:func:`diffim.background.backgroundModel`: the clipped mode in ``block``-pixel
    cells, not median filtered across cells, spline interpolated), at the sampled pixel
    nearest the position; the median of the sampled quiet pixels for positions off the
    image, NaN everywhere when none is quiet.
    """
    sample, usable = variance[::SKY_STRIDE, ::SKY_STRIDE], quiet[::SKY_STRIDE, ::SKY_STRIDE]
    if not usable.any():
        return np.full(len(x), np.nan)
    model = backgroundModel(sample, exclude=~usable, binSize=max(1, block // SKY_STRIDE),
                            filterSize=1, dtype=np.float64)
    height, width = variance.shape
    finite = np.isfinite(x) & np.isfinite(y)
    ix, iy = nearestPixel(np.where(finite, x, -1.0), np.where(finite, y, -1.0))
    inside = finite & (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    rows = np.clip(np.floor(iy / SKY_STRIDE + 0.5).astype(np.int64), 0, model.shape[0] - 1)
    cols = np.clip(np.floor(ix / SKY_STRIDE + 0.5).astype(np.int64), 0, model.shape[1] - 1)
    return np.where(inside, model[rows, cols], float(np.median(sample[usable])))


def centroidWeights(sigma: float) -> np.ndarray:
    """Pixel weights of a windowed centroid along x (the window times the offset)."""
    half = int(np.ceil(4.0 * sigma))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    window = np.exp(-0.5 * (offsets / sigma) ** 2)
    return np.outer(window, window * offsets)


def apertureWeights(radius: float) -> np.ndarray:
    """Pixel weights of a circular aperture: pixels whose centre lies inside the circle."""
    half = int(np.ceil(radius))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    return (np.hypot(offsets[:, None], offsets[None, :]) <= radius).astype(np.float64)


def psfFluxError(planeError: np.ndarray, flux: np.ndarray, x: np.ndarray, y: np.ndarray,
                 sky: np.ndarray, difference: Exposure, noise: NoiseCorrelation,
                 footprints: np.ndarray, paths: list[tuple[int, SourceNoisePath]]
                 ) -> np.ndarray:
    """PSF-flux errors: the variance-plane error with its sky and source parts corrected.

    The variance-plane error ``planeError`` (:func:`diffim.photometry.measurePsfFlux`)
    splits into the sky ``sky / sum(P**2)`` and the rest, the sources' own photon noise.
    The sky part is scaled by the excess of the difference's measured noise correlation
    for the PSF; the rest is replaced by the photon noise followed from the inputs
    (:func:`.sourcenoise.ownNoiseVariance`), each input's sky taken from its variance
    plane away from the footprints.

    Parameters
    ----------
    planeError, flux : numpy.ndarray
        Variance-plane PSF-flux errors and the fluxes.
    x, y : numpy.ndarray
        Where the fluxes were measured.
    sky : numpy.ndarray
        The difference's sky variance there (:func:`skyVariance`).
    difference : Exposure
        The difference, with PSF.
    noise : NoiseCorrelation
        Noise correlations; image 0 is the difference.
    footprints : numpy.ndarray
        Label image of the sources (0: no source).
    paths : list of (int, SourceNoisePath)
        The inputs followed.
    """
    psf = difference.psf.at(*difference.center)
    skyPart = sky / (psf ** 2).sum()
    sourcePart = np.maximum(planeError ** 2 - skyPart, 0.0)
    quiet = footprints == 0
    skies = [skyVariance(path.variance, quiet & (path.variance > 0), x, y) for _, path in paths]
    own = ownNoiseVariance(list(paths), skies, x, y, flux, sourcePart)
    variance = np.minimum(planeError ** 2, skyPart) + own
    variance += (noise.varianceFactor(0, psf) - 1.0) * skyPart
    return np.sqrt(np.maximum(variance, 0.0))


def measureBase(diaSources: Table, footprints: np.ndarray, difference: Exposure,
                usable: np.ndarray, noise: NoiseCorrelation, lobes: Lobes,
                config: PsfMeasurementConfig,
                paths: list[tuple[int, SourceNoisePath]] = ()) -> dict[str, np.ndarray]:
    """Every base-measurement column (:func:`.schema.baseSchema`) of every row.

    Errors come from the variance plane, and the sky part of it is scaled by how
    much the measured noise correlation of the difference raises the variance of
    each measurement's weighted pixel sum (:meth:`NoiseCorrelation.varianceFactor`).
    A source's own photon noise is followed from the input images in ``paths`` into
    the PSF flux (:func:`psfFluxError`); in aperture fluxes it is taken to be white.

    Parameters
    ----------
    diaSources : astropy.table.Table
        Rows to measure (``x``, ``y`` and the detection plugin's peak columns).
    footprints : numpy.ndarray
        Label image; row ``i`` owns the pixels labelled ``i + 1``.
    difference : Exposure
        The difference image, with PSF and variance.
    usable : numpy.ndarray
        Pixels of the difference that may be used.
    noise : NoiseCorrelation
        Noise correlation of the difference (its first image).
    lobes : Lobes
        Peaks and signs of the rows.
    config : PsfMeasurementConfig
        The aperture radii.
    paths : list of (int, SourceNoisePath)
        The inputs (sign +1: science, -1: template) whose sources' photon noise is
        followed into the PSF fluxes (:func:`.sourcenoise.sourceNoiseInputs`).
    """
    sigma = difference.psf.sigma()
    n = len(diaSources)
    sky = skyVariance(difference.variance, usable & (footprints == 0),
                      np.asarray(diaSources["x"], dtype=np.float64),
                      np.asarray(diaSources["y"], dtype=np.float64))
    excess = noise.varianceFactor(0, centroidWeights(sigma)) - 1.0
    columns = centroidColumns(diaSources, lobes, footprints, difference, usable, sigma,
                              excess * sky)
    cx, cy = columns[f"{CENTROID}_x"], columns[f"{CENTROID}_y"]
    shapes = adaptiveMoments(difference.image, cx, cy, sigma, usable=usable, labels=footprints,
                             owner=np.arange(1, n + 1), sign=lobes.sign)
    columns.update({f"{SHAPE}_xx": shapes.ixx, f"{SHAPE}_yy": shapes.iyy,
                    f"{SHAPE}_xy": shapes.ixy, f"{SHAPE}_flag": shapes.failed})
    placed = np.isfinite(cx) & np.isfinite(cy)
    flux, fluxErr = np.full(n, np.nan), np.full(n, np.nan)
    noGoodPixels, edge = ~placed, np.zeros(n, dtype=bool)
    photometry = measurePsfFlux(difference.image, difference.variance, usable, difference.psf,
                                cx[placed], cy[placed])
    flux[placed] = photometry.flux
    fluxErr[placed] = psfFluxError(photometry.fluxErr, photometry.flux, cx[placed], cy[placed],
                                   sky[placed], difference, noise, footprints, paths)
    noGoodPixels[placed], edge[placed] = photometry.noGoodPixels, photometry.edge
    failed = noGoodPixels | ~(np.isfinite(flux) & np.isfinite(fluxErr))
    flux[failed] = np.nan
    columns.update({f"{PSF_FLUX}_instFlux": flux, f"{PSF_FLUX}_instFluxErr": fluxErr,
                    f"{PSF_FLUX}_flag": failed, f"{PSF_FLUX}_flag_noGoodPixels": noGoodPixels,
                    f"{PSF_FLUX}_flag_edge": edge})
    apertures = apertureFluxes(difference.image, difference.variance, usable, cx, cy,
                               config.apertureRadii)
    for radius in config.apertureRadii:
        weights = apertureWeights(radius)
        excess = noise.varianceFactor(0, weights) - 1.0
        name = f"{apertureName(radius)}_instFluxErr"
        variance = apertures[name] ** 2 + excess * sky * weights.sum()
        apertures[name] = np.sqrt(np.maximum(variance, 0.0))
    columns.update(apertures)
    columns.update(pixelFlags(difference, footprints, cx, cy))
    return columns
