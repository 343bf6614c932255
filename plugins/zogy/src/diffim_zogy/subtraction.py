"""The ``zogy`` implementation of the ``subtract`` slot: proper image subtraction.

Zackay, Ofek & Gal-Yam (2016) difference ``D`` and score ``S`` of a science image
and a template already on one pixel grid, computed with FFTs on padded cutouts
(one cutout for the whole image, or one per grid cell), the variance of both
propagated from the two per-pixel variance planes through the squared kernels.

Conventions of the outputs:

* ``D`` is in science counts, positive where the science image is brighter; a
  science point source of flux ``f`` appears as ``f P_D`` (``P_D`` its PSF, unit
  sum), a template one as ``-f_template / F_r P_D``. It carries the science
  photoCalib, WCS and metadata.
* The score image is the matched-filter flux of a point source at each pixel
  (science counts), with its propagated variance: ``image / sqrt(variance)`` is
  the paper's ``S_corr``, ready for ``pixel_stdev`` thresholding without smoothing.
* Outside the image the cutouts are filled by mirroring it (no random numbers:
  ``rng`` is not used); missing input pixels (NO_DATA, non-finite, non-positive
  variance in either image) are set to the background level with zero variance.
* Masks are the OR of both inputs' masks; ``growMaskPlanes`` are grown by the
  reach of the kernel that made each image (NO_DATA pixels are NaN with infinite
  variance), and that many pixels along the image border are EDGE, where the
  mirrored padding makes the propagated variance approximate.
* ``convolveTemplate`` and ``kernelSources`` do not apply: ZOGY convolves both
  images and fits no kernel.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from astropy.table import Table

from diffim.background import backgroundModel
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.hookspecs import hookimpl
from diffim.mask import MaskPlanes, remapMask
from diffim.morphology import growMaskBits
from diffim.psf import ImagePsf, Psf, moments
from diffim.results import SubtractionResult, SubtractionTraits
from diffim.sanitize import checkSubtractionPair
from diffim.statistics import clippedMean, sampleGood
from diffim.threads import parallelMap

from .config import ZogyConfig
from .errors import PsfCentroidError
from .fluxscale import FluxScaling, fluxScaling
from .fourier import FourierGrid, fastShape
from .grid import Cell, CellGrid
from .kernels import ZogyKernels, makeKernels
from .masks import setBorder
from .psf import GridPsf

T = TypeVar("T")

#: Largest kernel half-width, in units of the larger PSF stamp half-width.
KERNEL_RADIUS_PER_PSF_RADIUS = 3

#: Fewest bins along each axis of the background fitted to the difference and score
#: (one bin would leave a sky gradient across a small image in them).
MIN_BACKGROUND_BINS = 2

#: Corrections of that background's bin levels by their residuals.
BACKGROUND_REFINE_ROUNDS = 5


@dataclass
class _Inputs:
    """The two images as the Fourier step reads them.

    Cutouts are float32 copies with the background level subtracted (images) and
    missing pixels set to zero (images and variances), so the inputs are never
    copied whole.
    """

    science: Exposure
    template: Exposure
    missing: np.ndarray
    good: np.ndarray
    scienceLevel: float
    templateLevel: float
    meanVariances: tuple[float, float]

    def imageCutout(self, exposure: Exposure, rows: tuple[int, int],
                    cols: tuple[int, int]) -> np.ndarray:
        """Padded cutout of ``exposure``'s image (the science or the template)."""
        level = self.scienceLevel if exposure is self.science else self.templateLevel
        return _cutout(exposure.image, self.missing, level, rows, cols)

    def varianceCutout(self, exposure: Exposure, rows: tuple[int, int],
                       cols: tuple[int, int]) -> np.ndarray:
        """Padded cutout of ``exposure``'s variance plane."""
        return _cutout(exposure.variance, self.missing, 0.0, rows, cols)


@dataclass
class _Planes:
    """Per-pixel outputs accumulated over the cells."""

    difference: np.ndarray
    score: np.ndarray
    differenceVariance: np.ndarray
    scoreVariance: np.ndarray


@dataclass
class _InputMasks:
    """The two inputs' masks combined in the science plane dictionary.

    Attributes
    ----------
    planes : MaskPlanes
        Planes of the outputs (the science planes plus any the template adds).
    combined : numpy.ndarray
        OR of both masks, NO_DATA also set where either image is unusable.
    missing : numpy.ndarray
        True where either image has no usable value (NO_DATA, non-finite, variance <= 0).
    ignored : numpy.ndarray
        True where a pixel is left out of statistics (``ignoreMaskPlanes`` or missing).
    unusableForFit : numpy.ndarray
        Like ``ignored`` but keeping DETECTED pixels, for the flux-ratio stars.
    ignoreBits : int
        Bits of ``ignoreMaskPlanes``.
    """

    planes: MaskPlanes
    combined: np.ndarray
    missing: np.ndarray
    ignored: np.ndarray
    unusableForFit: np.ndarray
    ignoreBits: int

    @classmethod
    def of(cls, science: Exposure, template: Exposure, config: ZogyConfig) -> "_InputMasks":
        planes = science.maskPlanes.copy()
        for name in ("NO_DATA", "EDGE"):
            planes.add(name)
        combined = science.mask | remapMask(template.mask, template.maskPlanes, planes)
        missing = _missing(science, combined, planes) | _missing(template, combined, planes)
        combined[missing] |= combined.dtype.type(planes.bitmask("NO_DATA"))
        ignoreBits = planes.bitmask(config.ignoreMaskPlanes, "subtract.ignoreMaskPlanes")
        detectedBits = planes.bitmask(("DETECTED", "DETECTED_NEGATIVE"), "subtract")
        ignored = ((combined & ignoreBits) != 0) | missing
        unusableForFit = ((combined & (ignoreBits & ~detectedBits)) != 0) | missing
        return cls(planes, combined, missing, ignored, unusableForFit, ignoreBits)

    def outputMasks(self, config: ZogyConfig, radius: int,
                    scoreRadius: int) -> tuple[np.ndarray, np.ndarray]:
        """Masks of D and of the score image.

        ``growMaskPlanes`` (and NO_DATA) are grown by each image's kernel radius, and
        a border of that width is EDGE.
        """
        growBits = (self.planes.bitmask(config.growMaskPlanes, "subtract.growMaskPlanes")
                    | self.planes.bitmask("NO_DATA"))
        differenceMask = growMaskBits(self.combined, growBits, radius)
        scoreMask = growMaskBits(differenceMask, growBits, scoreRadius - radius)
        edgeBit = self.planes.bitmask("EDGE")
        setBorder(differenceMask, edgeBit, radius)
        setBorder(scoreMask, edgeBit, scoreRadius)
        return differenceMask, scoreMask


@dataclass(frozen=True)
class _Layout:
    """Kernel size limit, cell border and grid of one subtraction.

    The largest kernel half-width is :data:`KERNEL_RADIUS_PER_PSF_RADIUS` times the
    larger PSF stamp half-width ``h``; the score kernels reach ``h`` further, and
    every cell is padded by that (plus one pixel) so that no pixel it keeps sees
    the cyclic wrap of its FFTs. Stamp sizes are read at the image centre (diffim's
    PSF models keep one stamp size over the image).
    """

    maxRadius: int
    border: int
    grid: CellGrid

    @classmethod
    def of(cls, science: Exposure, template: Exposure, config: ZogyConfig) -> "_Layout":
        half = max(science.psf.at(*science.center).shape[0],
                   template.psf.at(*science.center).shape[0]) // 2
        maxRadius = KERNEL_RADIUS_PER_PSF_RADIUS * half
        border = maxRadius + half + 1
        follow = (config.doSpatialGrid or science.psf.isSpatiallyVarying
                  or template.psf.isSpatiallyVarying)
        spacing = config.gridInnerSize * border if follow else None
        return cls(maxRadius, border, CellGrid(science.shape, spacing))


class ZogySubtraction:
    """Proper image subtraction (ZOGY): optimal difference and score images.

    Both images are convolved, each with a filter built from the other's PSF and
    both noise levels, so that the difference has white noise whatever the two
    PSFs (either may be the sharper one). Works as LSST's ZogyTask, with the
    variance of the difference and score propagated pixel by pixel.
    """

    ConfigClass = ZogyConfig
    traits = SubtractionTraits(needsDecorrelation=False, makesScoreImage=True,
                               makesMatchedExposure=False, usesKernelSources=False)

    @hookimpl
    def diffim_subtract(self, science: Exposure, template: Exposure, config: ZogyConfig,
                        convolveTemplate: bool, kernelSources: Table | None,
                        rng: np.random.Generator) -> SubtractionResult:
        """Subtract ``template`` from ``science`` (see :mod:`diffim.hookspecs`).

        Parameters
        ----------
        science : Exposure
            Science exposure with PSF and variance; not modified.
        template : Exposure
            Template on the science pixel grid (NO_DATA, possibly NaN, where it has
            no pixels), with PSF and variance; not modified.
        config : ZogyConfig
            The config.
        convolveTemplate : bool
            Ignored: ZOGY convolves both images.
        kernelSources : astropy.table.Table or None
            Ignored: ZOGY fits no kernel.
        rng : numpy.random.Generator
            Unused: the subtraction is deterministic.

        Returns
        -------
        SubtractionResult
            ``subtractedExposure`` = D (science counts, PSF ``P_D``),
            ``scoreExposure`` = matched-filter flux with its variance,
            ``warpedExposure`` = ``template``; no matched exposure or kernel.

        Raises
        ------
        diffim.errors.InputError
            If the images differ in shape, lack a PSF or variance, have no usable pixel,
            or are too small for the kernels (every pixel would be in the EDGE border).
        PsfCentroidError
            If the two PSFs are centred more than ``maxPsfCentroidDist`` apart.
        FluxScaleError
            If the flux ratio must be fitted and too few stars allow it.
        """
        config.validate()
        checkSubtractionPair(science, template, "zogy")
        masks = _InputMasks.of(science, template, config)
        scaling = fluxScaling(science, template, config, masks.unusableForFit)
        inputs = _prepare(science, template, masks, config.correctBackground)
        layout = _Layout.of(science, template, config)
        cells = layout.grid.cells()
        cellKernels = [self._cellKernels(cell, inputs, scaling, config, layout.maxRadius)
                       for cell in cells]
        radius = max(k.radius for k in cellKernels)
        scoreRadius = max(k.scoreRadius for k in cellKernels)
        _checkSize(science.shape, radius)
        outputMasks = lambda: masks.outputMasks(config, radius, scoreRadius)  # noqa: E731
        if len(cells) == 1:
            images, variances, (differenceMask, scoreMask) = _runJobs(
                _cellJobs(cells[0], cellKernels[0], inputs, layout.border) + [outputMasks])
            output = _Planes(images[0], images[1], variances[0], variances[1])
        else:
            output = _blend(cells, cellKernels, inputs, layout.border)
            differenceMask, scoreMask = outputMasks()
        if config.correctBackground:
            _runJobs([lambda: _subtractBackground(output.difference, differenceMask,
                                                  masks.ignoreBits, config.backgroundBinSize),
                      lambda: _subtractBackground(output.score, scoreMask, masks.ignoreBits,
                                                  config.backgroundBinSize)])

        grid = layout.grid
        difference = _exposure(science, output.difference, output.differenceVariance,
                               differenceMask, masks.planes,
                               _outputPsf(grid, [k.differencePsf for k in cellKernels],
                                          science.psf.averagePosition))
        score = _exposure(science, output.score, output.scoreVariance, scoreMask, masks.planes,
                          _outputPsf(grid, [k.scorePsf for k in cellKernels],
                                     science.psf.averagePosition))
        metadata = _metadata(scaling, inputs, cellKernels, radius, scoreRadius, layout)
        return SubtractionResult(subtractedExposure=difference, warpedExposure=template,
                                 matchedExposure=None, psfMatchingKernel=None,
                                 scoreExposure=score, convolvedScience=False,
                                 needsDecorrelation=False,
                                 nKernelStars=scaling.nStars if scaling.source == "fit" else None,
                                 fluxScaleError=(scaling.error / scaling.ratio
                                                 if scaling.source == "fit" else None),
                                 metadata=metadata)

    @staticmethod
    def _cellKernels(cell: Cell, inputs: _Inputs, scaling: FluxScaling, config: ZogyConfig,
                     maxRadius: int) -> ZogyKernels:
        """Kernels from the PSFs at the cell centre and the mean variances over the cell."""
        sciencePsf = inputs.science.psf.at(*cell.center)
        templatePsf = inputs.template.psf.at(*cell.center)
        _checkCentroids(sciencePsf, templatePsf, config.maxPsfCentroidDist, cell.center)
        box = (cell.ySlice, cell.xSlice)
        variances = []
        for exposure, fallback in zip((inputs.science, inputs.template), inputs.meanVariances):
            value = _meanVariance(exposure.variance[box], inputs.good[box])
            variances.append(value if value > 0 else fallback)
        return makeKernels(sciencePsf, templatePsf, variances[0], variances[1], scaling.ratio,
                           config.psfFourierFloor, maxRadius)


def _checkSize(shape: tuple[int, int], radius: int) -> None:
    """Refuse images on which the EDGE border of the difference (``radius``) leaves no pixel."""
    smallest = 2 * radius + 1
    if min(shape) < smallest:
        raise InputError(f"the {shape[1]}x{shape[0]} px images are too small for the zogy "
                         f"subtraction: its kernels reach {radius} px, so every pixel would be "
                         f"in the EDGE border; give images of at least {smallest} px on a side "
                         f"(or PSF models with smaller stamps)")


def _missing(exposure: Exposure, combined: np.ndarray, planes: MaskPlanes) -> np.ndarray:
    """True where ``exposure`` has no usable value (NO_DATA in either mask, non-finite value,
    variance not positive)."""
    return (((combined & planes.bitmask("NO_DATA")) != 0) | ~np.isfinite(exposure.image)
            | ~np.isfinite(exposure.variance) | ~(exposure.variance > 0))


def _checkCentroids(sciencePsf: np.ndarray, templatePsf: np.ndarray, maximum: float,
                    position: tuple[float, float]) -> None:
    sx, sy, *_ = moments(sciencePsf)
    tx, ty, *_ = moments(templatePsf)
    distance = float(np.hypot(sx - tx, sy - ty))
    if distance > maximum:
        raise PsfCentroidError(distance, maximum, position)


def _meanVariance(variance: np.ndarray, good: np.ndarray) -> float:
    """Clipped mean (:func:`diffim.statistics.clippedMean`: 3σ, 3 passes) of the usable
    pixels of a variance plane."""
    value = clippedMean(sampleGood(variance, good))
    return value if np.isfinite(value) else 0.0


def _prepare(science: Exposure, template: Exposure, masks: _InputMasks,
             correctBackground: bool) -> _Inputs:
    """The inputs with their background levels (sigma-clipped means, or 0) and mean variances.

    Raises
    ------
    diffim.errors.InputError
        If no pixel is usable for the mean variances.
    """
    good = ~masks.ignored
    levels = []
    for exposure in (science, template):
        level = clippedMean(sampleGood(exposure.image, good)) if correctBackground else 0.0
        levels.append(level if np.isfinite(level) else 0.0)
    variances = (_meanVariance(science.variance, good), _meanVariance(template.variance, good))
    if not all(v > 0 for v in variances):
        raise InputError("no usable pixels to measure the mean variances: every pixel is "
                         "NO_DATA, non-finite or in ignoreMaskPlanes")
    return _Inputs(science, template, masks.missing, good, levels[0], levels[1], variances)


def _cutout(array: np.ndarray, missing: np.ndarray, level: float, rows: tuple[int, int],
            cols: tuple[int, int]) -> np.ndarray:
    """float32 ``array[rows, cols] - level``, 0 where missing, mirrored outside the image."""
    height, width = array.shape
    y0, y1 = max(rows[0], 0), min(rows[1], height)
    x0, x1 = max(cols[0], 0), min(cols[1], width)
    piece = array[y0:y1, x0:x1].astype(np.float32)
    if level:
        piece -= np.float32(level)
    piece[missing[y0:y1, x0:x1]] = 0.0
    pad = ((y0 - rows[0], rows[1] - y1), (x0 - cols[0], cols[1] - x1))
    if any(p for pair in pad for p in pair):
        piece = np.pad(piece, pad, mode="reflect")
    return piece


@dataclass(frozen=True)
class _CellGrid:
    """The padded FFT grid of one cell: where its cutouts come from and what is kept."""

    fourier: FourierGrid
    rows: tuple[int, int]
    cols: tuple[int, int]
    crop: tuple[slice, slice]

    @classmethod
    def of(cls, cell: Cell, border: int) -> "_CellGrid":
        ys, xs = cell.ySlice, cell.xSlice
        inner = (ys.stop - ys.start, xs.stop - xs.start)
        shape = fastShape((inner[0] + 2 * border, inner[1] + 2 * border))
        before = [border + (shape[i] - inner[i] - 2 * border) // 2 for i in range(2)]
        rows = (ys.start - before[0], ys.start - before[0] + shape[0])
        cols = (xs.start - before[1], xs.start - before[1] + shape[1])
        crop = (slice(before[0], before[0] + inner[0]), slice(before[1], before[1] + inner[1]))
        return cls(FourierGrid(shape), rows, cols, crop)


def _cellImages(grid: _CellGrid, kernels: ZogyKernels,
                inputs: _Inputs) -> tuple[np.ndarray, np.ndarray]:
    """D and the score over one cell's pixels (float32 arrays)."""
    fourier, rows, cols = grid.fourier, grid.rows, grid.cols
    science, template = inputs.science, inputs.template
    spectrum = fourier.convolvePair(
        fourier.transform(inputs.imageCutout(science, rows, cols)), kernels.science,
        fourier.transform(inputs.imageCutout(template, rows, cols)), -kernels.template)
    difference = np.ascontiguousarray(fourier.inverse(spectrum)[grid.crop])
    spectrum *= fourier.kernelTransform(kernels.scoreFilter)
    score = np.ascontiguousarray(fourier.inverse(spectrum)[grid.crop])
    return difference, score


def _cellVariances(grid: _CellGrid, kernels: ZogyKernels,
                   inputs: _Inputs) -> tuple[np.ndarray, np.ndarray]:
    """The variances of D and of the score over one cell's pixels (float32 arrays)."""
    fourier, rows, cols = grid.fourier, grid.rows, grid.cols
    scienceVar = fourier.transform(inputs.varianceCutout(inputs.science, rows, cols))
    templateVar = fourier.transform(inputs.varianceCutout(inputs.template, rows, cols))
    variances = []
    for scienceKernel, templateKernel in ((kernels.science, kernels.template),
                                          (kernels.scoreScience, kernels.scoreTemplate)):
        spectrum = fourier.convolvePair(scienceVar, scienceKernel ** 2, templateVar,
                                        templateKernel ** 2)
        variance = np.ascontiguousarray(fourier.inverse(spectrum)[grid.crop])
        np.maximum(variance, 0.0, out=variance)
        variances.append(variance)
    return variances[0], variances[1]


def _cellJobs(cell: Cell, kernels: ZogyKernels, inputs: _Inputs,
              border: int) -> list[Callable[[], tuple[np.ndarray, np.ndarray]]]:
    """The two independent halves of one cell's subtraction: images, then variances."""
    grid = _CellGrid.of(cell, border)
    return [lambda: _cellImages(grid, kernels, inputs),
            lambda: _cellVariances(grid, kernels, inputs)]


def _subtractCell(cell: Cell, kernels: ZogyKernels, inputs: _Inputs,
                  border: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """D, the score and their variances over one cell's pixels (float32 arrays).

    The images and the variances are computed side by side (:func:`_runJobs`).
    """
    images, variances = _runJobs(_cellJobs(cell, kernels, inputs, border))
    return images[0], images[1], variances[0], variances[1]


def _runJobs(jobs: list[Callable[[], T]]) -> list[T]:
    """Run independent jobs on the run's threads (:func:`diffim.threads.parallelMap`)."""
    return parallelMap(lambda job: job(), jobs)


def _blend(cells: list[Cell], cellKernels: list[ZogyKernels], inputs: _Inputs,
           border: int) -> _Planes:
    """Sum of the cells' outputs weighted by their tent weights.

    Images are blended linearly. Variances are blended as standard deviations:
    neighbouring cells filter the same pixels with nearly the same kernels, so
    their values are almost fully correlated and the standard deviation of the
    blend is the blend of the standard deviations.
    """
    output = _Planes(*(np.zeros(inputs.science.shape, dtype=np.float32) for _ in range(4)))
    for cell, kernels in zip(cells, cellKernels):
        difference, score, differenceVar, scoreVar = _subtractCell(cell, kernels, inputs,
                                                                   border)
        weights = cell.weights
        box = (cell.ySlice, cell.xSlice)
        output.difference[box] += weights * difference
        output.score[box] += weights * score
        output.differenceVariance[box] += weights * np.sqrt(differenceVar)
        output.scoreVariance[box] += weights * np.sqrt(scoreVar)
    np.square(output.differenceVariance, out=output.differenceVariance)
    np.square(output.scoreVariance, out=output.scoreVariance)
    return output


def _subtractBackground(image: np.ndarray, mask: np.ndarray, ignoreBits: int,
                        binSize: int) -> None:
    """Subtract the smooth background of the unmasked pixels of ``image`` (in place).

    The background is :func:`diffim.background.backgroundModel`: the clipped mean in
    ``binSize`` bins, at least two along each axis (so that a gradient across a small
    image is followed), its bin levels refined on their residuals
    (:data:`BACKGROUND_REFINE_ROUNDS` times) so that bins whose usable pixels lie off
    their centres (the masked border, masked sources) do not flatten a gradient.
    """
    exclude = (mask & ignoreBits) != 0
    image -= backgroundModel(image, exclude, binSize, minBinsPerAxis=MIN_BACKGROUND_BINS,
                             statistic="mean", refineRounds=BACKGROUND_REFINE_ROUNDS)


def _outputPsf(grid: CellGrid, stamps: list[np.ndarray],
               averagePosition: tuple[float, float]) -> Psf:
    """ImagePsf for one cell; GridPsf of the cells' stamps (padded to one size) otherwise."""
    if grid.nCells == 1:
        return ImagePsf(stamps[0], averagePosition)
    half = max(s.shape[0] for s in stamps) // 2
    padded = [np.pad(s, half - s.shape[0] // 2) for s in stamps]
    cube = np.array(padded).reshape(len(grid.yCenters), len(grid.xCenters), 2 * half + 1,
                                    2 * half + 1)
    return GridPsf(cube, grid.xCenters, grid.yCenters, averagePosition)


def _exposure(science: Exposure, image: np.ndarray, variance: np.ndarray, mask: np.ndarray,
              planes: MaskPlanes, psf: Psf) -> Exposure:
    """An output exposure on the science grid; NO_DATA pixels NaN with infinite variance."""
    missing = (mask & planes.bitmask("NO_DATA")) != 0
    np.copyto(image, np.float32(np.nan), where=missing)
    np.copyto(variance, np.float32(np.inf), where=missing)
    return Exposure(image=image, mask=mask, variance=variance, psf=psf,
                    wcs=None if science.wcs is None else science.wcs.deepcopy(),
                    photoCalib=science.photoCalib, filter=science.filter,
                    obsDate=science.obsDate, metadata=copy.deepcopy(science.metadata),
                    maskPlanes=planes.copy())


def _metadata(scaling: FluxScaling, inputs: _Inputs, cellKernels: list[ZogyKernels],
              radius: int, scoreRadius: int, layout: _Layout) -> dict[str, object]:
    """Diagnostics for the run metadata."""
    return {
        "zogyFluxRatio": scaling.ratio,
        "zogyFluxScalingSource": scaling.source,
        "zogyFluxRatioStars": scaling.nStars,
        "zogyFluxRatioError": scaling.error,
        "zogyScienceMeanVariance": inputs.meanVariances[0],
        "zogyTemplateMeanVariance": inputs.meanVariances[1],
        "zogyScienceBackground": inputs.scienceLevel,
        "zogyTemplateBackground": inputs.templateLevel,
        "zogyFluxZeroPoint": float(np.mean([k.fluxZeroPoint for k in cellKernels])),
        "zogyFourierFloor": float(max(k.fourierFloor for k in cellKernels)),
        "zogyKernelRadius": radius,
        "zogyScoreKernelRadius": scoreRadius,
        "zogyBorder": layout.border,
        "zogyGridCells": [len(layout.grid.xCenters), len(layout.grid.yCenters)],
    }
