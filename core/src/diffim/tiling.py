"""Large images processed in overlapping tiles, so that memory stays bounded.

A science image with more than :data:`WHOLE_IMAGE_PIXELS` pixels (an 8192² CCD
mosaic, say) is cut into a grid of tiles of about ``tileSize`` pixels a side.
Each tile is read from the files with a margin of ``margin`` pixels on every
side (:func:`diffim.fits_io.readExposure` reads a region without the rest of the
image), with the part of the template that covers it, and goes through the
whole task on its own: its own PSFs, matching kernel, noise level and
detection, as a CCD of a mosaic would. Only the tile's core (the tile without
its margin) is kept: the exposures are written block by block
(:class:`diffim.fits_io.ExposureBlockWriter`) and a diaSource belongs to the
tile whose core holds its centre. The margin is wider than a matching kernel
and a point source's footprint, so the kept pixels and sources do not see the
tile's edge, and the result equals that of the whole image within noise.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table, vstack
from astropy.wcs import WCS

from .errors import DiffimError
from .exposure import Exposure
from .fits_io import ExposureBlockWriter, Region, imageShape, readWcs, regionLabel
from .psf import ImagePsf
from .ids import IdFactory
from .inputs import ImageFiles
from .quality import Quality
from .results import ImageDifferenceResult
from .noise import cleanSignificance, noiseRatio
from .task import ImageDifferenceTask
from .threads import limitThreads

log = logging.getLogger(__name__)

#: Science images with more pixels than this are processed in tiles when the
#: tile size is not given (4096² runs whole; 8192² in 16 tiles).
WHOLE_IMAGE_PIXELS = 24 * 2**20

#: Tile side (pixels, without the margins) when the tile size is not given.
DEFAULT_TILE_SIZE = 2048

#: Pixels read around each tile: wider than a matching kernel (about 30 px) and
#: the footprint of a bright point source.
TILE_MARGIN = 128

#: Clean pixels of each tile's core sampled (every n-th) for the run's noise ratio.
NOISE_SAMPLE_STRIDE = 7

#: Exposure outputs a tiled run stitches, by output kind.
EXPOSURE_OUTPUTS = {"differenceExp": "subtractedExposure", "scoreExp": "scoreExposure",
                    "warpedExp": "warpedExposure", "matchedExp": "matchedExposure"}


@dataclass(frozen=True)
class Tile:
    """One tile: the pixels it is responsible for, and those it reads."""

    core: Region
    padded: Region

    @property
    def label(self) -> str:
        """``[y0:y1, x0:x1]`` of the core, as messages show it."""
        return regionLabel(self.core)

    def local(self) -> Region:
        """The core in the pixel coordinates of the padded region."""
        (rows, columns), (prows, pcolumns) = self.core, self.padded
        return (slice(rows.start - prows.start, rows.stop - prows.start),
                slice(columns.start - pcolumns.start, columns.stop - pcolumns.start))


def shouldTile(shape: tuple[int, int], tileSize: int | None) -> bool:
    """Whether an image of ``shape`` runs in tiles (``tileSize``: None auto, 0 never)."""
    if tileSize is None:
        return shape[0] * shape[1] > WHOLE_IMAGE_PIXELS
    return tileSize > 0 and max(shape) > tileSize


def tileLayout(shape: tuple[int, int], tileSize: int = DEFAULT_TILE_SIZE,
               margin: int = TILE_MARGIN) -> list[Tile]:
    """Tiles covering an image of ``shape`` (rows by rows), cores of near-equal size.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the image.
    tileSize : int
        Largest core side (pixels).
    margin : int
        Pixels added on every side of a core (within the image).
    """
    if tileSize < 1 or margin < 0:
        raise ValueError(f"tileSize must be >= 1 and margin >= 0, got {tileSize}, {margin}")

    def edges(n: int) -> np.ndarray:
        return np.linspace(0, n, -(-n // tileSize) + 1).round().astype(int)

    height, width = shape
    tiles = []
    rowEdges, columnEdges = edges(height), edges(width)
    for y0, y1 in zip(rowEdges[:-1], rowEdges[1:]):
        for x0, x1 in zip(columnEdges[:-1], columnEdges[1:]):
            core = (slice(int(y0), int(y1)), slice(int(x0), int(x1)))
            padded = (slice(max(0, int(y0) - margin), min(height, int(y1) + margin)),
                      slice(max(0, int(x0) - margin), min(width, int(x1) + margin)))
            tiles.append(Tile(core, padded))
    return tiles


def templateRegion(region: Region, scienceWcs: WCS | None, templateWcs: WCS | None,
                   templateShape: tuple[int, int], margin: int) -> Region:
    """The template pixels that cover science ``region``, plus ``margin``.

    With both WCSs, the region's outline is mapped onto the template; without,
    the two images are taken to share their pixel grid (as registration
    assumes a small offset).
    """
    rows, columns = region
    if scienceWcs is None or templateWcs is None:
        y0, y1, x0, x1 = rows.start, rows.stop, columns.start, columns.stop
    else:
        ys = np.linspace(rows.start, rows.stop - 1, 9)
        xs = np.linspace(columns.start, columns.stop - 1, 9)
        outlineX = np.concatenate([xs, xs, np.full(9, xs[0]), np.full(9, xs[-1])])
        outlineY = np.concatenate([np.full(9, ys[0]), np.full(9, ys[-1]), ys, ys])
        tx, ty = templateWcs.world_to_pixel_values(
            *scienceWcs.pixel_to_world_values(outlineX, outlineY))
        x0, x1 = int(np.floor(np.min(tx))), int(np.ceil(np.max(tx))) + 1
        y0, y1 = int(np.floor(np.min(ty))), int(np.ceil(np.max(ty))) + 1
    height, width = templateShape
    return (slice(max(0, y0 - margin), min(height, y1 + margin)),
            slice(max(0, x0 - margin), min(width, x1 + margin)))


@dataclass
class TiledRun:
    """What :func:`runTiles` gathered: catalogues, quality and metadata of the whole image."""

    result: ImageDifferenceResult
    noiseRatio: float
    written: set[str] = field(default_factory=set)


def runTiles(task: ImageDifferenceTask, science: ImageFiles, template: ImageFiles,
             shape: tuple[int, int], staging: Path, planned: dict[str, str],
             threads: int | None, tileSize: int | None) -> TiledRun:
    """Run ``task`` tile by tile; write the exposure outputs into ``staging`` as it goes.

    A tile the task cannot process (no usable pixels, no template coverage)
    is written as NO_DATA and makes the run ``suspect``, naming the tile;
    when no tile can be processed the first tile's error is raised.

    Parameters
    ----------
    task : ImageDifferenceTask
        The configured task.
    science, template : ImageFiles
        The input files.
    shape : tuple of int
        ``(height, width)`` of the science image.
    staging : pathlib.Path
        Folder the exposure outputs are written into.
    planned : dict
        Output kind -> file name (:func:`diffim.runner.plannedOutputs`).
    threads : int or None
        FFT worker threads.
    tileSize : int or None
        Core side of the tiles (:data:`DEFAULT_TILE_SIZE` when None).
    """
    tiles = tileLayout(shape, tileSize or DEFAULT_TILE_SIZE)
    scienceWcs, templateWcs = readWcs(science.image), readWcs(template.image)
    templateShape = imageShape(template.image)
    log.info("science image %dx%d: %d tiles of up to %d px with %d px margins", shape[1],
             shape[0], len(tiles), tileSize or DEFAULT_TILE_SIZE, TILE_MARGIN)
    ids = IdFactory()
    gathered = _Gathered(shape)
    writers: dict[str, ExposureBlockWriter] = {}
    errors: list[DiffimError] = []
    unprocessed: list[Tile] = []
    with contextlib.ExitStack() as openFiles:
        for index, tile in enumerate(tiles):
            start = time.perf_counter()
            try:
                result = _runTile(task, science, template, tile, scienceWcs, templateWcs,
                                  templateShape, threads, ids)
            except DiffimError as exc:
                log.warning("tile %s (%d of %d) not processed: %s", tile.label, index + 1,
                            len(tiles), exc)
                errors.append(exc)
                gathered.failed(tile, str(exc))
                unprocessed.append(tile)
                continue
            if not writers:
                writers = _openWriters(result, tile, shape, staging, planned)
                for writer in writers.values():
                    openFiles.enter_context(writer)
            for kind, writer in writers.items():
                exposure = getattr(result, EXPOSURE_OUTPUTS[kind])
                writer.write(*tile.core, _cut(exposure, tile.local()))
            gathered.add(tile, result, time.perf_counter() - start)
            del result  # before the next tile's planes are made
            log.info("tile %s (%d of %d) done", tile.label, index + 1, len(tiles))
        if len(errors) == len(tiles):
            raise errors[0]
        for kind, writer in writers.items():
            for tile in unprocessed:       # the file reads 0 there: flag it as holding no data
                writer.write(*tile.core, _noData(tile))
            writer.finish(gathered.psfs.get(kind))
    result = gathered.result(tiles, tileSize or DEFAULT_TILE_SIZE)
    return TiledRun(result, result.quality.figures["noiseRatio"], set(writers))


def _runTile(task: ImageDifferenceTask, science: ImageFiles, template: ImageFiles, tile: Tile,
             scienceWcs: WCS | None, templateWcs: WCS | None,
             templateShape: tuple[int, int], threads: int | None,
             ids: Callable[[int], np.ndarray]) -> ImageDifferenceResult:
    """Read one tile of both images and run the task on it."""
    scienceTile = science.read(tile.padded)
    region = templateRegion(tile.padded, scienceWcs, templateWcs, templateShape, TILE_MARGIN)
    templateTile = template.read(region)
    with limitThreads(threads):
        scienceTile = task.characterize(scienceTile, "science")
        templateTile = task.characterize(templateTile, "template")
    return task.run(exposure=scienceTile, templateExposure=templateTile, threads=threads,
                    idFactory=ids)


def _cut(exposure: Exposure, region: Region) -> Exposure:
    """``region`` of ``exposure``'s planes (views; the models are not needed)."""
    return Exposure(image=exposure.image[region], mask=exposure.mask[region],
                    variance=exposure.variance[region], maskPlanes=exposure.maskPlanes)


def _noData(tile: Tile) -> Exposure:
    """A block for a tile that was not processed: zeros flagged NO_DATA."""
    rows, columns = tile.core
    shape = (rows.stop - rows.start, columns.stop - columns.start)
    blank = Exposure(image=np.zeros(shape, np.float32), variance=np.zeros(shape, np.float32))
    blank.maskPlanes.add("NO_DATA")
    blank.setMask(np.ones(shape, bool), "NO_DATA")
    return blank


def _openWriters(result: ImageDifferenceResult, tile: Tile, shape: tuple[int, int],
                 staging: Path, planned: dict[str, str]) -> dict[str, ExposureBlockWriter]:
    """One block writer per planned exposure output, headers from the first tile's result."""
    writers = {}
    rows, columns = tile.padded
    for kind, attribute in EXPOSURE_OUTPUTS.items():
        exposure = getattr(result, attribute)
        if kind not in planned or exposure is None:
            continue
        wcs = None
        if exposure.wcs is not None:
            wcs = exposure.wcs.deepcopy()
            wcs.wcs.crpix = wcs.wcs.crpix + np.array([columns.start, rows.start])
        description = dataclasses.replace(exposure, wcs=wcs, psf=None)
        writers[kind] = ExposureBlockWriter(staging / planned[kind], shape, description)
    return writers


class _Gathered:
    """Catalogues, PSFs, quality and timings of the tiles processed so far."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.center = ((shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0)
        self.tiles: list[dict[str, Any]] = []
        self.diaSources: list[Table] = []
        self.kernelSources: list[Table] = []
        self.reasons: list[str] = []
        self.timing: dict[str, dict[str, float]] = {"timing": {}, "cpuTiming": {}}
        self.noiseSample: list[np.ndarray] = []
        #: Each exposure output's PSF at the middle of the tile nearest the image centre.
        self.psfs: dict[str, ImagePsf] = {}
        self._psfDistance = np.inf

    def failed(self, tile: Tile, message: str) -> None:
        self.tiles.append({"core": tile.label, "status": "not processed", "error": message})
        self.reasons.append(f"tile {tile.label} not processed ({message})")

    def add(self, tile: Tile, result: ImageDifferenceResult, seconds: float) -> None:
        kept = 0
        for name, table in (("diaSources", result.diaSources),
                            ("kernelSources", result.kernelSources)):
            if table is not None:
                getattr(self, name).append(_kept(table, tile))
                kept = len(self.diaSources[-1]) if name == "diaSources" else kept
        quality = result.quality
        if quality is not None:
            self.reasons.extend(f"tile {tile.label}: {reason}" for reason in quality.reasons)
        for key in ("timing", "cpuTiming"):
            for step, value in result.metadata.get(key, {}).items():
                self.timing[key][step] = round(self.timing[key].get(step, 0.0) + value, 3)
        difference = result.subtractedExposure
        if difference is not None:
            self.noiseSample.append(_noiseSample(_cut(difference, tile.local())))
        self._keepPsfs(tile, result)
        self.tiles.append({
            "core": tile.label, "status": "ok" if quality is None else quality.status,
            "nDiaSources": kept,
            "seconds": round(seconds, 3),
            "quality": None if quality is None else quality.toDict()})

    def _keepPsfs(self, tile: Tile, result: ImageDifferenceResult) -> None:
        """Keep the exposures' PSFs (as images) if this tile is the nearest the centre yet.

        Only images are kept: a model such as a warped PSF refers to its tile's
        exposure, which would then stay in memory.
        """
        (rows, columns), (prows, pcolumns) = tile.core, tile.padded
        middle = ((columns.start + columns.stop - 1) / 2.0, (rows.start + rows.stop - 1) / 2.0)
        distance = np.hypot(middle[0] - self.center[0], middle[1] - self.center[1])
        if distance >= self._psfDistance:
            return
        self._psfDistance = distance
        for kind, attribute in EXPOSURE_OUTPUTS.items():
            exposure = getattr(result, attribute)
            if exposure is not None and exposure.psf is not None:
                image = exposure.psf.at(middle[0] - pcolumns.start, middle[1] - prows.start)
                self.psfs[kind] = ImagePsf(image, averagePosition=middle)

    def noise(self) -> float:
        return noiseRatio(np.concatenate(self.noiseSample) if self.noiseSample
                          else np.empty(0))

    def result(self, tiles: list[Tile], tileSize: int) -> ImageDifferenceResult:
        metadata = {"tileSize": tileSize, "tileMargin": TILE_MARGIN, "tiles": self.tiles,
                    **self.timing}
        quality = Quality(figures={"noiseRatio": self.noise(), "nTiles": len(tiles)},
                          reasons=self.reasons)
        return ImageDifferenceResult(
            diaSources=vstack(self.diaSources) if self.diaSources else None,
            kernelSources=vstack(self.kernelSources) if self.kernelSources else None,
            quality=quality, metadata=metadata)


def _kept(table: Table, tile: Tile) -> Table:
    """The rows of ``table`` whose centre is in the tile's core, in full-image pixels."""
    if "x" not in table.colnames or "y" not in table.colnames:
        return table
    rows, columns = tile.local()
    x, y = np.asarray(table["x"], float), np.asarray(table["y"], float)
    inside = ((x >= columns.start - 0.5) & (x < columns.stop - 0.5)
              & (y >= rows.start - 0.5) & (y < rows.stop - 0.5))
    kept = table[inside]
    prows, pcolumns = tile.padded
    for name in kept.colnames:
        if str(kept[name].unit) not in ("pix", "pixel"):
            continue
        if name == "x" or name.endswith("_x"):
            kept[name] += pcolumns.start
        elif name == "y" or name.endswith("_y"):
            kept[name] += prows.start
    return kept


def _noiseSample(difference: Exposure) -> np.ndarray:
    """Every n-th value of the run's noise-ratio sample (:func:`cleanSignificance`)."""
    return cleanSignificance(difference)[::NOISE_SAMPLE_STRIDE].copy()
