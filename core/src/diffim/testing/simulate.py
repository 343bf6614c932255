"""Simulated science/template pairs with known truth, for tests and benchmarks.

:func:`simulatePair` renders a star field twice: a *science* exposure with
worse seeing, a sky gradient and a handful of injected transients, and a
deeper *template* exposure on a pixel grid shifted by a sub-pixel ``offset``,
with a different sky level and photometric scale. Both carry a celestial TAN
WCS that describes where the stars really fall, their true PSF models, a
variance plane computed from the noiseless model, saturation masks and
photometric zero points. The truth table lists every injected object.

Noise model (both images): the noiseless model ``M`` (sky plus sources, in
ADU) becomes ``Poisson(M * gain) / gain + Normal(0, readNoise / gain)``; the
variance plane is ``M / gain + (readNoise / gain)**2``. Pixels whose noisy
value reaches ``saturation`` are clipped to it and flagged SAT (grown by one
pixel).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS
from scipy import ndimage, special
from scipy.spatial import cKDTree

from ..exposure import Exposure
from ..fits_io import writeExposure, writeTable
from ..morphology import growMask
from ..photocalib import PhotoCalib
from ..psf import FWHM_PER_SIGMA, GaussianPsf, ImagePsf, Psf, SpatialPsf

#: Default star density (stars per pixel), about 2100 stars on a 2048² image.
STAR_DENSITY = 5e-4

#: Slope of the cumulative star counts, N(>flux) ∝ flux**-STAR_COUNT_SLOPE.
STAR_COUNT_SLOPE = 0.75

#: Largest stamp half-width used to render one star (pixels).
MAX_RENDER_HALF = 200

#: Range of the science S/N of moving stars (log-uniform): bright enough that both lobes
#: of the dipole a 0.5 px motion leaves in the difference are detected, faint enough that
#: they do not saturate in the (deeper) template.
MOVER_SNR_RANGE = (100.0, 400.0)

#: Range of the motion of moving stars between the epochs (pixels, uniform).
MOVER_SHIFT_RANGE = (0.5, 3.0)

#: Distance of a neighbour transient from its host star or transient (pixels, uniform).
NEIGHBOUR_DISTANCE_RANGE = (3.0, 15.0)

#: Science and template observation dates written on the exposures.
SCIENCE_DATE = "2024-03-10T05:12:00.000"
TEMPLATE_DATE = "2023-02-21T04:48:00.000"


@dataclass(frozen=True)
class _Profile:
    """A circular PSF profile of given width ``sigma`` (FWHM / 2.3548).

    ``kind`` is ``"gaussian"`` or ``"moffat"``; a Moffat profile of index
    ``beta`` has the FWHM of the Gaussian with the same ``sigma``.
    """

    kind: str
    beta: float

    def alpha(self, sigma: float) -> float:
        """Moffat core radius giving FWHM = 2.3548 * sigma."""
        return FWHM_PER_SIGMA * sigma / (2.0 * np.sqrt(2.0 ** (1.0 / self.beta) - 1.0))

    def radial(self, sigma: float, r: np.ndarray) -> np.ndarray:
        """Surface brightness of a unit-flux source at radius ``r`` (per pixel²)."""
        if self.kind == "gaussian":
            return np.exp(-0.5 * (r / sigma) ** 2) / (2.0 * np.pi * sigma ** 2)
        a = self.alpha(sigma)
        return (self.beta - 1.0) / (np.pi * a * a) * (1.0 + (r / a) ** 2) ** -self.beta

    def half_width(self, sigma: float, flux: float, level: float) -> int:
        """Stamp half-width beyond which ``flux`` times the profile stays below ``level``.

        At least 5 sigma (Gaussian) or 4 FWHM (Moffat), at most :data:`MAX_RENDER_HALF`.
        """
        floor = 5.0 * sigma if self.kind == "gaussian" else 4.0 * FWHM_PER_SIGMA * sigma
        if self.kind == "gaussian":
            ratio = flux / (2.0 * np.pi * sigma ** 2 * level)
            r = sigma * np.sqrt(2.0 * np.log(ratio)) if ratio > 1.0 else 0.0
        else:
            a = self.alpha(sigma)
            ratio = flux * (self.beta - 1.0) / (np.pi * a * a * level)
            r = a * np.sqrt(max(ratio ** (1.0 / self.beta) - 1.0, 0.0))
        return int(np.ceil(min(max(r, floor), MAX_RENDER_HALF)))

    def stamp(self, sigma: float, dx: float, dy: float, half: int) -> np.ndarray:
        """Pixel-integrated unit-flux source on a ``2*half+1`` stamp.

        The source centre is ``(dx, dy)`` pixels from the stamp's middle pixel.
        Gaussian pixels are integrated exactly (erf); Moffat pixels by 5×5
        sub-sampling.
        """
        edges = np.arange(-half, half + 2) - 0.5
        if self.kind == "gaussian":
            scale = np.sqrt(2.0) * sigma
            gx = np.diff(special.erf((edges - dx) / scale)) / 2.0
            gy = np.diff(special.erf((edges - dy) / scale)) / 2.0
            return np.outer(gy, gx)
        sub = 5
        offs = (np.arange(sub) + 0.5) / sub - 0.5
        coords = (np.arange(-half, half + 1)[:, None] + offs[None, :]).ravel()
        r2 = (coords[None, :] - dx) ** 2 + (coords[:, None] - dy) ** 2
        fine = self.radial(sigma, np.sqrt(r2))
        n = 2 * half + 1
        return fine.reshape(n, sub, n, sub).mean(axis=(1, 3))


@dataclass(frozen=True)
class _Seeing:
    """PSF width across an image: ``sigma0 * (1 + variation * (u - 0.5))``.

    ``u = (x + y) / (width - 1 + height - 1)`` runs from 0 at pixel (0, 0) to 1
    at the opposite corner, so ``variation`` is the fractional width change
    from corner to corner.
    """

    sigma0: float
    variation: float
    shape: tuple[int, int]

    def sigma(self, x, y):
        h, w = self.shape
        u = (np.asarray(x, dtype=np.float64) + np.asarray(y, dtype=np.float64)) / max(w + h - 2, 1)
        return self.sigma0 * (1.0 + self.variation * (u - 0.5))


def simulatePair(size: int = 2048, seeingRatio: float = 1.3, templateSigma: float = 1.5,
                 offset: tuple[float, float] = (0.3, 0.2), nStars: int | None = None,
                 nTransients: int = 50, nVariables: int = 0, seed: int = 1,
                 psfVariation: float = 0.0, profile: str = "gaussian", moffatBeta: float = 3.0,
                 pixelScale: float = 0.2, skyLevel: float = 1000.0, skyGradient: float = 0.05,
                 templateSkyLevel: float = 3000.0, templateFluxScale: float = 3.6,
                 gain: float = 2.0, readNoise: float = 5.0, saturation: float = 60000.0,
                 zeroPoint: float = 28.0, filterName: str = "r",
                 center: tuple[float, float] = (150.0, 2.0), nMovers: int = 0,
                 resampledNoise: float = 0.0,
                 nNeighbourTransients: int = 0) -> tuple[Exposure, Exposure, Table]:
    """Simulate a science and a template exposure of the same star field.

    Parameters
    ----------
    size : int
        Width and height of both images (pixels).
    seeingRatio : float
        Science PSF width over template PSF width.
    templateSigma : float
        Template PSF width as a Gaussian sigma (pixels); a Moffat profile gets
        the same FWHM.
    offset : tuple of float
        ``(dx, dy)``: a star at science pixel ``(x, y)`` is at template pixel
        ``(x - dx, y - dy)``; both WCSs describe this.
    nStars : int, optional
        Number of stars; ``STAR_DENSITY * size**2`` when omitted.
    nTransients : int
        Point sources added to the science image only, away from bright stars
        and the edges, with science S/N spread log-uniformly over 5 to 100.
    nVariables : int
        Stars whose science flux is 0.5–0.8 or 1.25–2 times what the template
        predicts.
    seed : int
        Seed of the ``numpy.random.default_rng`` that draws everything.
    psfVariation : float
        Fractional PSF-width change from corner (0, 0) to the opposite corner
        (e.g. 0.3), in both images; the attached PSFs are then SpatialPsf.
    profile : {"gaussian", "moffat"}
        PSF profile of both images.
    moffatBeta : float
        Moffat index when ``profile="moffat"``.
    pixelScale : float
        Pixel scale of both images (arcsec).
    skyLevel : float
        Science sky (ADU) at the image centre.
    skyGradient : float
        Fractional science sky change across the image (along x, half as much along y).
    templateSkyLevel : float
        Template sky (ADU), flat.
    templateFluxScale : float
        Template counts per science count of the same source (exposure-time
        ratio times transparency); it makes the template deeper and sets the
        photometric scale between the images.
    gain : float
        Electrons per ADU in both images.
    readNoise : float
        Read noise (electrons) in both images.
    saturation : float
        Pixel level (ADU) at which both images saturate.
    zeroPoint : float
        Science AB zero point (magnitude of a source giving 1 ADU); the
        template's is ``zeroPoint + 2.5 log10(templateFluxScale)``.
    filterName : str
        Band written on both exposures.
    center : tuple of float
        ``(ra, dec)`` in degrees of the science image centre.
    nMovers : int
        Stars that moved between the epochs: the same flux in both images, but
        the science position is 0.5–3 px (uniform) from the template position,
        in a uniformly random direction. They are isolated (their light, grown
        by the motion and a 6-sigma gap, overlaps no other object's) and have
        science S/N log-uniform in :data:`MOVER_SNR_RANGE` against the sky
        noise at the image centre, so each leaves a detectable dipole in the
        difference. They are drawn after the other objects, whose positions
        and fluxes therefore do not depend on ``nMovers``.
    resampledNoise : float
        Fractional shift ``s`` (0 to 0.5) of a bilinear resampling applied to the
        noise of both images, as a warp to a common grid does: each pixel's noise
        becomes ``(1-s)²``, ``s(1-s)``, ``s(1-s)``, ``s²`` of four neighbours'. The
        variance planes hold the resulting per-pixel variance, as pipelines
        propagate it, and say nothing of the correlation between pixels (0: white
        noise). The sources are not resampled, so the attached PSFs stay exact.
    nNeighbourTransients : int
        Transients placed :data:`NEIGHBOUR_DISTANCE_RANGE` pixels (uniform, in a
        uniformly random direction) from an unsaturated star or from another
        transient (half each, the host drawn uniformly), with the science S/N of the
        other transients: the cases a detection that merges neighbours loses. They
        are drawn after everything else, so the other objects do not depend on it.

    Returns
    -------
    science, template : Exposure
        The pair, with mask, variance, true PSF, WCS, photoCalib, filter and obsDate.
    truth : astropy.table.Table
        One row per injected object: ``id``, ``kind`` ('star', 'variable',
        'transient', 'mover'), ``x``, ``y`` (science pixels, 0-based), ``ra``, ``dec``,
        ``scienceFlux``, ``templateFlux`` (each image's own ADU),
        ``differenceFlux`` (science minus template-predicted flux, science
        ADU), ``differenceSnr`` (PSF-optimal S/N of ``scienceFlux`` against
        the difference-image noise, i.e. science plus scaled template noise:
        the detection S/N of a transient, the brightness of a star for
        residual tests), ``differenceFluxSnr`` (the same for
        ``differenceFlux``: the S/N of a variable's change), ``saturated``,
        and ``templateX``, ``templateY`` (the position at the template epoch
        in science pixels: ``x``, ``y`` except for movers).
    """
    if profile not in ("gaussian", "moffat"):
        raise ValueError(f"profile must be 'gaussian' or 'moffat', got {profile!r}")
    rng = np.random.default_rng(seed)
    shape = (int(size), int(size))
    psfProfile = _Profile(profile, moffatBeta)
    scienceSeeing = _Seeing(templateSigma * seeingRatio, psfVariation, shape)
    templateSeeing = _Seeing(templateSigma, psfVariation, shape)
    scienceSky = _sky(shape, skyLevel, skyGradient)
    templateSky = np.full(shape, float(templateSkyLevel))
    readVar = (readNoise / gain) ** 2

    n = int(round(STAR_DENSITY * size * size)) if nStars is None else int(nStars)
    x, y = rng.uniform(0.0, size - 1.0, (2, n))
    skyVar = skyLevel / gain + readVar
    fmin = _flux_for_snr(5.0, psfProfile.stamp(scienceSeeing.sigma0, 0, 0, 30), skyVar, gain)
    peak = psfProfile.stamp(scienceSeeing.sigma0, 0, 0, 1)[1, 1]
    fmax = 3.0 * saturation / peak
    staticFlux = _power_law(rng, n, fmin, fmax, STAR_COUNT_SLOPE)
    scienceFlux = staticFlux.copy()
    kind = np.full(n, "star", dtype="<U9")
    _make_variables(rng, nVariables, kind, scienceFlux, fmin, peak, saturation)

    tx, ty, tflux = _place_transients(rng, nTransients, x, y, scienceFlux, psfProfile,
                                      scienceSeeing, scienceSky, gain, readVar,
                                      np.sqrt(skyVar))
    x, y = np.concatenate([x, tx]), np.concatenate([y, ty])
    scienceFlux = np.concatenate([scienceFlux, tflux])
    staticFlux = np.concatenate([staticFlux, np.zeros(len(tx))])
    templateFlux = templateFluxScale * staticFlux
    kind = np.concatenate([kind, np.full(len(tx), "transient")])
    mx, my, mdx, mdy, mflux = _place_movers(rng, nMovers, x, y, scienceFlux, psfProfile,
                                            scienceSeeing, gain, skyVar)
    templateX, templateY = np.concatenate([x, mx - mdx]), np.concatenate([y, my - mdy])
    x, y = np.concatenate([x, mx]), np.concatenate([y, my])
    scienceFlux = np.concatenate([scienceFlux, mflux])
    staticFlux = np.concatenate([staticFlux, mflux])
    templateFlux = templateFluxScale * staticFlux
    kind = np.concatenate([kind, np.full(len(mx), "mover")])
    nx, ny, nflux = _place_neighbours(rng, nNeighbourTransients, x, y, kind,
                                      scienceFlux * peak < 0.5 * saturation, psfProfile,
                                      scienceSeeing, scienceSky, gain, readVar)
    x, y = np.concatenate([x, nx]), np.concatenate([y, ny])
    templateX, templateY = np.concatenate([templateX, nx]), np.concatenate([templateY, ny])
    scienceFlux = np.concatenate([scienceFlux, nflux])
    staticFlux = np.concatenate([staticFlux, np.zeros(len(nx))])
    templateFlux = templateFluxScale * staticFlux
    kind = np.concatenate([kind, np.full(len(nx), "transient")])

    noiseLevel = np.sqrt(skyVar)
    scienceModel, scienceErr, scienceSat = _render(
        scienceSky, x, y, scienceFlux, scienceSeeing, psfProfile, gain, readVar,
        saturation, 0.01 * noiseLevel)
    ox, oy = offset
    templateModel, templateErr, templateSat = _render(
        templateSky, templateX - ox, templateY - oy, templateFlux, templateSeeing, psfProfile,
        gain, readVar, saturation, 0.01 * np.sqrt(templateSkyLevel / gain + readVar))

    scienceWcs = _tan_wcs(shape, center, pixelScale, (0.0, 0.0))
    templateWcs = _tan_wcs(shape, center, pixelScale, offset)
    metadata = {"GAIN": gain, "RDNOISE": readNoise, "SATURATE": saturation, "SIMSEED": seed}
    science = _exposure(scienceModel, gain, readVar, saturation, rng,
                        _true_psf(psfProfile, scienceSeeing), scienceWcs, zeroPoint,
                        filterName, SCIENCE_DATE, metadata, resampledNoise)
    template = _exposure(templateModel, gain, readVar, saturation, rng,
                         _true_psf(psfProfile, templateSeeing), templateWcs,
                         zeroPoint + 2.5 * np.log10(templateFluxScale), filterName,
                         TEMPLATE_DATE, metadata, resampledNoise)

    ra, dec = scienceWcs.pixel_to_world_values(x, y)
    differenceFlux = scienceFlux - staticFlux
    differenceErr = np.hypot(scienceErr, templateErr / templateFluxScale)
    truth = _truth_table(kind, x, y, ra, dec, scienceFlux, templateFlux, differenceFlux,
                         differenceErr, scienceSat | templateSat)
    truth["templateX"] = templateX
    truth["templateY"] = templateY
    for name in ("templateX", "templateY"):
        truth[name].unit = "pix"
        truth[name].description = (f"science-image {'column' if name == 'templateX' else 'row'} "
                                   f"of the centre at the template epoch, 0-based (differs "
                                   f"from {name[-1].lower()} for movers only)")
    return science, template, truth


def pairPaths(directory: str | os.PathLike) -> dict[str, Path]:
    """The files :func:`writePair` writes in ``directory``: science, template and truth."""
    return {name: Path(directory) / f"{name}.fits" for name in ("science", "template", "truth")}


def writePair(directory: str | os.PathLike, overwrite: bool = False,
              **kwargs) -> dict[str, Path]:
    """Simulate a pair and write ``science.fits``, ``template.fits`` and ``truth.fits``.

    Parameters
    ----------
    directory : str or os.PathLike
        Output directory (created if missing).
    overwrite : bool
        Replace existing files.
    **kwargs
        Passed to :func:`simulatePair`.

    Returns
    -------
    dict
        ``{"science": path, "template": path, "truth": path}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    science, template, truth = simulatePair(**kwargs)
    paths = pairPaths(directory)
    writeExposure(science, paths["science"], overwrite=overwrite)
    writeExposure(template, paths["template"], overwrite=overwrite)
    writeTable(truth, paths["truth"], overwrite=overwrite)
    return paths


@dataclass
class RenderedCatalog:
    """A sky catalog rendered on one pixel grid (see :func:`renderSkyCatalog`).

    Attributes
    ----------
    model : numpy.ndarray
        Noiseless image (float64, ADU): the background plus every source.
    x, y : numpy.ndarray
        Pixel position (0-based) of every catalog entry on this grid, inside the
        image or not.
    fluxErr : numpy.ndarray
        PSF-optimal flux error of each entry against the background, read noise
        and its own Poisson noise (neighbours ignored); inf where its stamp
        misses the image.
    saturated : numpy.ndarray
        Whether the entry's peak pixel plus the background reaches ``saturation``.
    """

    model: np.ndarray
    x: np.ndarray
    y: np.ndarray
    fluxErr: np.ndarray
    saturated: np.ndarray

    def inside(self, margin: float = 0.0) -> np.ndarray:
        """Whether each entry's centre lies at least ``margin`` pixels inside the image."""
        h, w = self.model.shape
        return ((self.x >= margin - 0.5) & (self.x <= w - 0.5 - margin)
                & (self.y >= margin - 0.5) & (self.y <= h - 0.5 - margin))


def renderSkyCatalog(wcs: WCS, shape: tuple[int, int], ra: np.ndarray, dec: np.ndarray,
                     flux: np.ndarray, sigma: float, background: float | np.ndarray = 0.0, *,
                     profile: str = "gaussian", moffatBeta: float = 3.0,
                     psfVariation: float = 0.0, gain: float = 2.0, readNoise: float = 5.0,
                     saturation: float = np.inf, level: float | None = None) -> RenderedCatalog:
    """Render point sources given on the sky onto the pixel grid of ``wcs``.

    Each source lands where ``wcs`` puts its ``(ra, dec)``, pixel-integrated
    with the PSF :func:`simulatePair` uses, so the same catalog rendered through
    two WCSs gives images that agree wherever the grids describe the same sky.
    Sources whose stamps reach the image from outside it contribute their wings.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image (0-based pixel positions).
    shape : tuple of int
        ``(height, width)`` of the image.
    ra, dec : numpy.ndarray
        Source positions (degrees).
    flux : numpy.ndarray
        Total flux of each source (ADU).
    sigma : float
        PSF width as a Gaussian sigma (pixels); a Moffat profile gets the same FWHM.
    background : float or numpy.ndarray
        Sky level (ADU) under the sources: a constant or an image of ``shape``.
    profile : {"gaussian", "moffat"}
        PSF profile.
    moffatBeta : float
        Moffat index when ``profile="moffat"``.
    psfVariation : float
        Fractional PSF-width change from pixel (0, 0) to the opposite corner.
    gain : float
        Electrons per ADU, for the flux errors.
    readNoise : float
        Read noise (electrons), for the flux errors.
    saturation : float
        Peak level (ADU) flagged as saturated.
    level : float, optional
        Surface brightness (ADU) below which a source's stamp is cut; 1% of the
        noise of the median background when omitted.

    Returns
    -------
    RenderedCatalog
        The noiseless model and every source's pixel position, flux error and
        saturation flag.
    """
    if profile not in ("gaussian", "moffat"):
        raise ValueError(f"profile must be 'gaussian' or 'moffat', got {profile!r}")
    shape = (int(shape[0]), int(shape[1]))
    h, w = shape
    sky = np.array(np.broadcast_to(np.asarray(background, dtype=np.float64), shape))
    readVar = (readNoise / gain) ** 2
    if level is None:
        level = 0.01 * float(np.sqrt(max(np.median(sky), 0.0) / gain + readVar))
    ra, dec = np.atleast_1d(np.asarray(ra, np.float64)), np.atleast_1d(np.asarray(dec, np.float64))
    flux = np.atleast_1d(np.asarray(flux, dtype=np.float64))
    x, y = (np.asarray(v, dtype=np.float64) for v in wcs.world_to_pixel_values(ra, dec))
    reach = MAX_RENDER_HALF + 1.0
    near = np.flatnonzero((x > -reach) & (x < w - 1 + reach) & (y > -reach) & (y < h - 1 + reach))
    fluxErr = np.full(len(x), np.inf)
    saturated = np.zeros(len(x), dtype=bool)
    model, fluxErr[near], saturated[near] = _render(
        sky, x[near], y[near], flux[near], _Seeing(float(sigma), psfVariation, shape),
        _Profile(profile, moffatBeta), gain, readVar, saturation, level)
    return RenderedCatalog(model, x, y, fluxErr, saturated)


def noisyExposure(model: np.ndarray, rng: np.random.Generator, psf: Psf, wcs: WCS,
                  zeroPoint: float, filterName: str, obsDate: str, metadata: dict, *,
                  gain: float = 2.0, readNoise: float = 5.0,
                  saturation: float = 60000.0) -> Exposure:
    """The Exposure of a noiseless ``model`` observed with :func:`simulatePair`'s noise model.

    ``Poisson(model * gain) / gain + Normal(0, readNoise / gain)``, clipped at
    ``saturation`` and flagged SAT (grown by one pixel); the variance plane is
    ``model / gain + (readNoise / gain)**2``.
    """
    return _exposure(np.asarray(model, dtype=np.float64), gain, (readNoise / gain) ** 2,
                     saturation, rng, psf, wcs, zeroPoint, filterName, obsDate, dict(metadata))


def _sky(shape: tuple[int, int], level: float, gradient: float) -> np.ndarray:
    """Sky of ``level`` at the centre, changing by ``gradient`` (fraction) across x, half in y."""
    h, w = shape
    gx = (np.arange(w) - (w - 1) / 2.0) / max(w, 1)
    gy = (np.arange(h) - (h - 1) / 2.0) / max(h, 1)
    return level * (1.0 + gradient * (gx[None, :] + 0.5 * gy[:, None]))


def _power_law(rng: np.random.Generator, n: int, fmin: float, fmax: float,
               slope: float) -> np.ndarray:
    """Fluxes with N(>f) ∝ f**-slope between ``fmin`` and ``fmax`` (inverse-CDF draw)."""
    u = rng.uniform(0.0, 1.0, n)
    tail = (fmin / fmax) ** slope
    return fmin * (1.0 - u * (1.0 - tail)) ** (-1.0 / slope)


def _optimal_snr(flux: float, unit: np.ndarray, background: np.ndarray | float,
                 gain: float) -> float:
    """PSF-weighted (optimal) S/N of a source of ``flux`` with unit profile ``unit``.

    ``background`` is the per-pixel variance without the source; the
    source's own Poisson variance ``flux * unit / gain`` is added.
    """
    model = flux * unit
    return float(np.sqrt((model ** 2 / (background + model / gain)).sum()))


def _flux_error(flux: float, unit: np.ndarray, background: np.ndarray, gain: float) -> float:
    """Error of a PSF-optimal flux measurement: ``1 / sqrt(sum(unit**2 / variance))``."""
    variance = background + max(flux, 0.0) * unit / gain
    return float(1.0 / np.sqrt((unit ** 2 / variance).sum()))


def _flux_for_snr(snr: float, unit: np.ndarray, background: np.ndarray | float,
                  gain: float) -> float:
    """Flux at which the optimal S/N reaches ``snr`` (bisection in log10 flux)."""
    lo, hi = -3.0, 12.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _optimal_snr(10.0 ** mid, unit, background, gain) > snr:
            hi = mid
        else:
            lo = mid
    return 10.0 ** (0.5 * (lo + hi))


def _make_variables(rng: np.random.Generator, nVariables: int, kind: np.ndarray,
                    scienceFlux: np.ndarray, fmin: float, peak: float,
                    saturation: float) -> None:
    """Turn ``nVariables`` well-measured unsaturated stars into variables (in place).

    Their science flux becomes 0.5–0.8 or 1.25–2 times the value the template predicts.
    """
    if nVariables <= 0:
        return
    eligible = np.flatnonzero((scienceFlux > 20.0 * fmin)
                              & (2.0 * scienceFlux * peak < 0.5 * saturation))
    if len(eligible) < nVariables:
        raise ValueError(f"only {len(eligible)} stars are bright and unsaturated enough to "
                         f"become variables; asked for {nVariables}")
    chosen = rng.choice(eligible, nVariables, replace=False)
    factor = np.where(rng.uniform(size=nVariables) < 0.5,
                      rng.uniform(0.5, 0.8, nVariables), rng.uniform(1.25, 2.0, nVariables))
    scienceFlux[chosen] *= factor
    kind[chosen] = "variable"


def _place_transients(rng: np.random.Generator, n: int, starX: np.ndarray, starY: np.ndarray,
                      starFlux: np.ndarray, profile: _Profile, seeing: _Seeing, sky: np.ndarray,
                      gain: float, readVar: float, noise: float,
                      snrRange: tuple[float, float] = (5.0, 100.0),
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions and fluxes of ``n`` transients.

    A position is accepted when it is at least ``max(20, 6 sigma)`` pixels from
    the edges, outside every star's radius where that star is brighter than
    half the sky noise (and at least 3 sigma from any star), and at least
    10 sigma from the other transients. Science S/N targets are log-uniform
    in ``snrRange``.
    """
    if n <= 0:
        return np.empty(0), np.empty(0), np.empty(0)
    h, w = sky.shape
    sigmaMax = float(seeing.sigma(w - 1, h - 1))
    margin = max(20.0, 6.0 * sigmaMax)
    radius = np.array([max(profile.half_width(sigmaMax, f, 0.5 * noise), 3.0 * sigmaMax)
                       if f > 0 else 0.0 for f in starFlux])
    reach = float(radius.max()) if len(radius) else 0.0
    tree = cKDTree(np.column_stack([starX, starY])) if len(starX) else None
    accepted: list[tuple[float, float]] = []
    for _ in range(200):
        cand = rng.uniform((margin, margin), (w - 1 - margin, h - 1 - margin), (4 * n, 2))
        for cx, cy in cand:
            if tree is not None:
                near = tree.query_ball_point((cx, cy), reach)
                if near and np.any(np.hypot(starX[near] - cx, starY[near] - cy) < radius[near]):
                    continue
            if any(np.hypot(cx - ax, cy - ay) < 10.0 * sigmaMax for ax, ay in accepted):
                continue
            accepted.append((cx, cy))
            if len(accepted) == n:
                break
        if len(accepted) == n:
            break
    if len(accepted) < n:
        raise ValueError(f"could place only {len(accepted)} of {n} transients away from stars; "
                         f"use fewer stars or transients, or a larger image")
    tx, ty = np.array(accepted).T
    return tx, ty, _transient_fluxes(rng, tx, ty, profile, seeing, sky, gain, readVar,
                                     snrRange)


def _transient_fluxes(rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
                      profile: _Profile, seeing: _Seeing, sky: np.ndarray, gain: float,
                      readVar: float, snrRange: tuple[float, float] = (5.0, 100.0),
                      ) -> np.ndarray:
    """Fluxes giving science S/N log-uniform in ``snrRange`` against the local sky."""
    targets = np.exp(rng.uniform(np.log(snrRange[0]), np.log(snrRange[1]), len(x)))
    flux = np.empty(len(x))
    for i in range(len(x)):
        sigma = float(seeing.sigma(x[i], y[i]))
        xi, yi = int(round(x[i])), int(round(y[i]))
        half = profile.half_width(sigma, 1.0, 1e-4)
        unit = profile.stamp(sigma, x[i] - xi, y[i] - yi, half)
        local = sky[yi, xi] / gain + readVar
        flux[i] = _flux_for_snr(targets[i], unit, local, gain)
    return flux


def _place_neighbours(rng: np.random.Generator, n: int, x: np.ndarray, y: np.ndarray,
                      kind: np.ndarray, unsaturated: np.ndarray, profile: _Profile,
                      seeing: _Seeing, sky: np.ndarray, gain: float,
                      readVar: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions and fluxes of ``n`` transients next to a star or another transient.

    Each picks a host (an unsaturated star or a transient, including neighbours placed
    before it, with equal odds) and a position :data:`NEIGHBOUR_DISTANCE_RANGE` pixels
    from it, redrawn until it is ``max(20, 6 sigma)`` pixels from the edges.
    """
    if n <= 0:
        return np.empty(0), np.empty(0), np.empty(0)
    h, w = sky.shape
    margin = max(20.0, 6.0 * float(seeing.sigma(w - 1, h - 1)))
    stars = np.flatnonzero((kind == "star") & unsaturated)
    hostX, hostY = list(x[kind == "transient"]), list(y[kind == "transient"])
    nx, ny = np.empty(n), np.empty(n)
    for i in range(n):
        for _ in range(1000):
            if rng.uniform() < 0.5 or not hostX:
                host = stars[rng.integers(stars.size)]
                cx, cy = x[host], y[host]
            else:
                host = rng.integers(len(hostX))
                cx, cy = hostX[host], hostY[host]
            distance = rng.uniform(*NEIGHBOUR_DISTANCE_RANGE)
            angle = rng.uniform(0.0, 2.0 * np.pi)
            px, py = cx + distance * np.cos(angle), cy + distance * np.sin(angle)
            if margin <= px <= w - 1 - margin and margin <= py <= h - 1 - margin:
                break
        else:
            raise ValueError(f"could place only {i} of {n} neighbour transients inside "
                             f"the image; use a larger image")
        nx[i], ny[i] = px, py
        hostX.append(px)
        hostY.append(py)
    return nx, ny, _transient_fluxes(rng, nx, ny, profile, seeing, sky, gain, readVar)


def _place_movers(rng: np.random.Generator, n: int, objX: np.ndarray, objY: np.ndarray,
                 objFlux: np.ndarray, profile: _Profile, seeing: _Seeing, gain: float,
                 skyVar: float) -> tuple[np.ndarray, ...]:
    """Science positions, motions and fluxes of ``n`` moving stars.

    Fluxes give a science S/N (against the sky variance ``skyVar``) drawn
    log-uniformly from :data:`MOVER_SNR_RANGE`; motions are uniform in
    :data:`MOVER_SHIFT_RANGE` in a uniform direction. Each object's reach is
    the radius where its light falls to half the sky noise (at least 3 sigma),
    plus its motion for a mover. A position is accepted when it is at least
    ``max(20, 6 sigma)`` pixels plus its reach from the edges and, for every
    object already placed, the distance exceeds the sum of their reaches plus
    a 6-sigma gap (so that grown detection footprints stay apart).

    Returns
    -------
    x, y : numpy.ndarray
        Science positions.
    dx, dy : numpy.ndarray
        Science minus template position.
    flux : numpy.ndarray
        Flux in both images (science ADU).
    """
    if n <= 0:
        empty = np.empty(0)
        return empty, empty.copy(), empty.copy(), empty.copy(), empty.copy()
    h, w = seeing.shape
    sigmaMax = float(seeing.sigma(w - 1, h - 1))
    noise = np.sqrt(skyVar)
    unit = profile.stamp(seeing.sigma0, 0.0, 0.0, int(np.ceil(6.0 * sigmaMax)))
    snr = np.exp(rng.uniform(*np.log(MOVER_SNR_RANGE), n))
    flux = np.array([_flux_for_snr(s, unit, skyVar, gain) for s in snr])
    shift = rng.uniform(*MOVER_SHIFT_RANGE, n)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)

    def reach(f):
        return max(profile.half_width(sigmaMax, f, 0.5 * noise), 3.0 * sigmaMax) if f > 0 else 0.0

    gap = 6.0 * sigmaMax
    placedX, placedY = list(objX), list(objY)
    placedReach = [reach(f) for f in objFlux]
    x, y = np.empty(n), np.empty(n)
    for i in range(n):
        own = reach(flux[i]) + shift[i]
        margin = max(20.0, 6.0 * sigmaMax) + own
        for _ in range(1000):
            cx, cy = rng.uniform((margin, margin), (w - 1 - margin, h - 1 - margin))
            distance = np.hypot(np.asarray(placedX) - cx, np.asarray(placedY) - cy)
            if np.all(distance > np.asarray(placedReach) + own + gap):
                break
        else:
            raise ValueError(f"could place only {i} of {n} movers away from other objects; "
                             f"use fewer stars, transients or movers, or a larger image")
        x[i], y[i] = cx, cy
        placedX.append(cx)
        placedY.append(cy)
        placedReach.append(own)
    return x, y, shift * np.cos(angle), shift * np.sin(angle), flux


def _render(sky: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray, seeing: _Seeing,
            profile: _Profile, gain: float, readVar: float, saturation: float,
            level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noiseless model (sky plus sources) and each source's optimal flux error.

    Sources are rendered on stamps out to where they fall below ``level``.
    Returns the model, the PSF-optimal flux error at each source position
    (from the sky, read noise and the source's own Poisson noise, neighbours
    ignored; defined for zero-flux sources too) and whether the source's
    peak pixel exceeds ``saturation``.
    """
    h, w = sky.shape
    model = sky.astype(np.float64).copy()
    fluxErr = np.full(len(x), np.inf)
    saturated = np.zeros(len(x), dtype=bool)
    for i in range(len(x)):
        sigma = float(seeing.sigma(x[i], y[i]))
        xi, yi = int(round(x[i])), int(round(y[i]))
        half = profile.half_width(sigma, flux[i], level)
        unit = profile.stamp(sigma, x[i] - xi, y[i] - yi, half)
        y0, y1 = max(yi - half, 0), min(yi + half + 1, h)
        x0, x1 = max(xi - half, 0), min(xi + half + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        part = unit[y0 - (yi - half):y1 - (yi - half), x0 - (xi - half):x1 - (xi - half)]
        background = sky[y0:y1, x0:x1] / gain + readVar
        fluxErr[i] = _flux_error(flux[i], part, background, gain)
        saturated[i] = flux[i] * part.max() + sky[min(max(yi, 0), h - 1),
                                                  min(max(xi, 0), w - 1)] >= saturation
        model[y0:y1, x0:x1] += flux[i] * part
    return model, fluxErr, saturated


def _exposure(model: np.ndarray, gain: float, readVar: float, saturation: float,
              rng: np.random.Generator, psf: Psf, wcs: WCS, zeroPoint: float, filterName: str,
              obsDate: str, metadata: dict, resampledNoise: float = 0.0) -> Exposure:
    """Add Poisson and read noise to ``model``, clip and flag saturation, build the Exposure."""
    noise = rng.poisson(model * gain) / gain - model
    noise += rng.normal(0.0, np.sqrt(readVar), model.shape)
    variance = model / gain + readVar
    if resampledNoise:
        weights = np.array([1.0 - resampledNoise, resampledNoise])
        kernel = np.outer(weights, weights)
        noise = ndimage.correlate(noise, kernel, mode="nearest", origin=(-1, -1))
        variance = variance * float((kernel ** 2).sum())
    image = model + noise
    saturated = image >= saturation
    image[saturated] = saturation
    exposure = Exposure(image=image, variance=variance, psf=psf, wcs=wcs,
                        photoCalib=PhotoCalib(float(zeroPoint)), filter=filterName,
                        obsDate=obsDate, metadata=dict(metadata))
    exposure.setMask(growMask(saturated, 1, metric="taxicab"), "SAT")
    return exposure


def _true_psf(profile: _Profile, seeing: _Seeing) -> Psf:
    """The PSF model the image was rendered with.

    Constant Gaussian: GaussianPsf; constant Moffat: ImagePsf of the
    pixel-integrated profile out to 4 FWHM; varying width: SpatialPsf of
    order 2 fitted to stamps on a 5×5 grid.
    """
    h, w = seeing.shape
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    if seeing.variation == 0.0:
        if profile.kind == "gaussian":
            return GaussianPsf(seeing.sigma0, averagePosition=centre)
        half = int(np.ceil(4.0 * FWHM_PER_SIGMA * seeing.sigma0))
        return ImagePsf(profile.stamp(seeing.sigma0, 0.0, 0.0, half), averagePosition=centre)
    grid = np.linspace(0.0, 1.0, 5)
    gx, gy = np.meshgrid(grid * (w - 1), grid * (h - 1))
    gx, gy = gx.ravel(), gy.ravel()
    sigmaMax = float(seeing.sigma(w - 1, h - 1))
    half = (int(np.ceil(5.0 * sigmaMax)) if profile.kind == "gaussian"
            else int(np.ceil(4.0 * FWHM_PER_SIGMA * sigmaMax)))
    stamps = np.array([profile.stamp(float(seeing.sigma(px, py)), 0.0, 0.0, half)
                       for px, py in zip(gx, gy)])
    return SpatialPsf(stamps, gx, gy, order=2, bbox=(w, h))


def _tan_wcs(shape: tuple[int, int], center: tuple[float, float], pixelScale: float,
             offset: tuple[float, float]) -> WCS:
    """TAN WCS with north up, east left; the reference pixel moves by ``-offset``.

    With ``offset=(dx, dy)``, the sky position at pixel ``p`` of the unshifted
    WCS is at pixel ``p - (dx, dy)`` of the shifted one.
    """
    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [float(center[0]), float(center[1])]
    wcs.wcs.crpix = [(w + 1) / 2.0 - offset[0], (h + 1) / 2.0 - offset[1]]
    scale = pixelScale / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    return wcs


def _truth_table(kind, x, y, ra, dec, scienceFlux, templateFlux, differenceFlux,
                 differenceErr, saturated) -> Table:
    """The truth catalog with units and column descriptions."""
    table = Table()
    table["id"] = np.arange(len(x), dtype=np.int64)
    table["kind"] = kind
    table["x"] = x
    table["y"] = y
    table["ra"] = ra
    table["dec"] = dec
    table["scienceFlux"] = scienceFlux
    table["templateFlux"] = templateFlux
    table["differenceFlux"] = differenceFlux
    table["differenceSnr"] = scienceFlux / differenceErr
    table["differenceFluxSnr"] = differenceFlux / differenceErr
    table["saturated"] = saturated
    units = {"x": "pix", "y": "pix", "ra": "deg", "dec": "deg", "scienceFlux": "adu",
             "templateFlux": "adu", "differenceFlux": "adu"}
    docs = {
        "id": "row number",
        "kind": "star, variable (flux differs between images), transient (science only) or "
                "mover (moved between the images)",
        "x": "science-image column of the centre, 0-based",
        "y": "science-image row of the centre, 0-based",
        "ra": "right ascension (ICRS)",
        "dec": "declination (ICRS)",
        "scienceFlux": "total flux in the science image",
        "templateFlux": "total flux in the template image",
        "differenceFlux": "science flux minus template flux on the science scale",
        "differenceSnr": "PSF-optimal S/N of scienceFlux against the difference-image noise "
                         "(science and scaled template noise)",
        "differenceFluxSnr": "PSF-optimal S/N of differenceFlux (the change) against the "
                             "difference-image noise",
        "saturated": "peak pixel above saturation in either image",
    }
    for name, unit in units.items():
        table[name].unit = unit
    for name, doc in docs.items():
        table[name].description = doc
    return table
