"""Run a pipeline on files: read inputs, run the task, write outputs atomically.

Outputs are written into a staging folder inside the output directory and
moved into place only when the whole run has succeeded, so an error or an
interruption never leaves partial or corrupt files behind: the output
directory ends up holding every output of the run, or none of them (and is
removed again if the run created it).
"""
from __future__ import annotations

import contextlib
import datetime
import importlib.metadata as metadata
import logging
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from astropy.table import Table

from . import plugins
from .catalog import diaSourceKinds
from .errors import InputError, OutputError
from .exposure import Exposure
from .fits_io import (imageShape, pixelUnit, readImageData, readTable, stampPrimaryHeader,
                      writeExposure, writeTable)
from .inputs import ImageFiles
from .noise import cleanSignificance, noiseRatio
from .provenance import provenanceCards
from .report import writeReport
from .sanitize import checkUsable
from .task import ImageDifferenceTask
from .task_config import ImageDifferenceConfig
from .threads import limitThreads
from .tiling import runTiles, shouldTile

log = logging.getLogger(__name__)

#: Signals that stop a run; while the outputs are published they are held back.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class RunSummary:
    """What a run wrote and a few numbers worth printing."""

    outputs: dict[str, Path] = field(default_factory=dict)
    nDiaSources: int = 0
    nPositive: int = 0
    nNegative: int = 0
    nDipoles: int = 0
    nSkySources: int = 0
    noiseRatio: float = float("nan")
    seconds: float = 0.0
    status: str = "ok"
    reasons: list[str] = field(default_factory=list)

    def count(self, sources: Table) -> None:
        """Count ``sources`` by kind, each once (see :func:`countByKind`)."""
        self.nDiaSources = len(sources)
        counts = countByKind(sources)
        self.nPositive, self.nNegative = counts["positive"], counts["negative"]
        self.nDipoles, self.nSkySources = counts["dipole"], counts["sky"]

    def line(self) -> str:
        """One summary line for the terminal (the status, and why when suspect).

        The diaSources are counted once each, by kind: the parts add up to the total.
        """
        verdict = self.status if not self.reasons else \
            f"{self.status} ({'; '.join(self.reasons)})"
        parts = (f"{self.nPositive} positive, {self.nNegative} negative, "
                 f"{self.nDipoles} dipoles")
        if self.nSkySources:
            parts += f", {self.nSkySources} sky sources"
        return (f"{self.nDiaSources} diaSources ({parts}); difference noise / expected = "
                f"{self.noiseRatio:.3f}; {self.seconds:.1f} s; status {verdict}")


    def toDict(self) -> dict[str, Any]:
        """The ``summary`` block of the run record (metadata.yaml, report.html)."""
        return {"nDiaSources": self.nDiaSources, "nPositive": self.nPositive,
                "nNegative": self.nNegative, "nDipoles": self.nDipoles,
                "nSkySources": self.nSkySources, "noiseRatio": self.noiseRatio,
                "wallSeconds": round(self.seconds, 3), "status": self.status,
                "reasons": list(self.reasons)}


def summarize(result, seconds: float, noise: float | None = None) -> RunSummary:
    """The summary of a finished run: diaSources by kind, the difference's noise ratio
    (``noise`` when given, e.g. a tiled run's, else measured here), the quality verdict."""
    summary = RunSummary(seconds=seconds)
    if result.diaSources is not None:
        summary.count(result.diaSources)
    if noise is not None:
        summary.noiseRatio = noise
    elif result.subtractedExposure is not None:
        summary.noiseRatio = noiseRatio(cleanSignificance(result.subtractedExposure))
    if result.quality is not None:
        summary.status, summary.reasons = result.quality.status, list(result.quality.reasons)
    return summary


def runRecord(config: ImageDifferenceConfig, result, summary: RunSummary,
              inputs: dict[str, Any], cards: dict[str, tuple[Any, str]],
              outputs: dict[str, str]) -> dict[str, Any]:
    """What a run did, as written to metadata.yaml and shown by report.html and
    ``diffim inspect``: date, inputs, versions, provenance, summary, outputs (kind ->
    file or dataset type), the task metadata and the config."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "inputs": inputs,
        "versions": _versions(config),
        "provenance": {key: value for key, (value, _) in cards.items()},
        "summary": summary.toDict(),
        "outputs": dict(outputs),
        "metadata": _jsonable(result.metadata),
        "config": config.toDict(),
    }


def countByKind(sources: Table) -> dict[str, int]:
    """How many diaSources of each kind (:func:`diffim.catalog.diaSourceKinds`): each row
    counts once, so the four add up to ``len(sources)``."""
    kinds = diaSourceKinds(sources)
    return {kind: int(np.count_nonzero(kinds == kind))
            for kind in ("positive", "negative", "dipole", "sky")}


def plannedOutputs(config: ImageDifferenceConfig) -> dict[str, str]:
    """Output kind -> file name for what ``config`` asks to write."""
    names = config.connections
    wanted = {
        "differenceExp": config.doWriteSubtractedExp and config.doSubtract,
        "diaSrc": config.doWriteSources and config.doDetection,
        "scoreExp": config.doWriteScoreExp,
        "warpedExp": config.doWriteWarpedExp and config.doSubtract,
        "matchedExp": config.doWriteMatchedExp and config.doSubtract,
        "kernelSrc": config.doAddMetrics and config.doSelectSources and config.doSubtract,
        "registerDebug": config.doDebugRegister and config.doUseRegister and config.doSubtract,
        "quicklook": config.doWriteQuicklook and config.doSubtract,
        "cutouts": config.doWriteCutouts and config.doSubtract and config.doDetection,
        "gallery": config.doWriteCutouts and config.doSubtract and config.doDetection,
        "regions": config.doWriteRegions and config.doDetection,
        "report": config.doWriteReport,
        "metadata": config.saveMetadata,
        "log": config.saveLogOutput,
    }
    return {kind: getattr(names, kind) for kind, on in wanted.items() if on}


def writeOutput(output: Exposure | Table, path: Path, header: dict | None = None,
                unit: str | None = None) -> None:
    """Write one output of a run (an exposure or a table) atomically.

    ``header`` holds extra primary-header cards (the provenance); ``unit`` is the
    BUNIT of an exposure's pixels (see :func:`diffim.fits_io.writeExposure`).
    """
    if isinstance(output, Table):
        writeTable(output, path, header=header)
    else:
        writeExposure(output, path, header=header, unit=unit)


#: Outputs made for looking at a run (PNG pictures, cutouts, a region file).
LOOK_AT_OUTPUTS = ("quicklook", "cutouts", "gallery", "regions")

#: Pictures embedded in report.html, each made for it when not written on its own.
REPORT_PICTURES = ("quicklook", "gallery")


def writeLookAt(kind: str, path: Path, config: ImageDifferenceConfig, science: Exposure,
                template: Exposure | None, result) -> None:
    """Write one of :data:`LOOK_AT_OUTPUTS` of a finished run.

    The template shown is the PSF-matched one, else the warped one (on the science
    grid either way); the difference is the one detected on (the score image in
    AL score mode).
    """
    from .cutouts import writeCutouts, writeGallery
    from .quicklook import writeQuicklook
    from .regionfile import writeRegions

    matched = result.matchedExposure or result.warpedExposure or template
    difference = result.subtractedExposure or result.scoreExposure
    sources = result.diaSources if result.diaSources is not None else Table()
    if kind == "quicklook":
        writeQuicklook(path, science, matched, difference, sources)
    elif kind == "cutouts":
        writeCutouts(path, science, matched, difference, sources, size=config.cutoutSize,
                     option="cutoutSize")
    elif kind == "gallery":
        writeGallery(path, science, matched, difference, sources, n=config.galleryCount,
                     size=config.cutoutSize, option="cutoutSize")
    else:
        wcs = difference.wcs if difference is not None else science.wcs
        writeRegions(path, sources, wcs=wcs)


def _missingDirectories(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _prepareOutdir(outdir: Path, planned: dict[str, str],
                   overwrite: bool) -> tuple[Path, list[Path]]:
    """Check the outputs may be written; return the staging folder and the directories made."""
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir}: exists and is not a directory (expected an output "
                          "directory)")
    created = _missingDirectories(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create the output directory ({exc.strerror}); "
                          "choose a writable location") from None
    if not overwrite:
        for name in planned.values():
            if (outdir / name).exists():
                _removeEmpty(created)
                raise OutputError(f"{outdir / name} already exists; use --overwrite to replace "
                                  "it, or choose another output directory")
    staging = outdir / f".diffim-staging-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        staging.mkdir()
    except OSError as exc:
        _removeEmpty(created)
        raise OutputError(f"{outdir}: cannot write to the output directory ({exc.strerror}); "
                          "choose a writable location") from None
    return staging, created


def _removeEmpty(directories: list[Path]) -> None:
    """Remove the directories a failed run created (deepest first), if still empty."""
    for directory in directories:
        with contextlib.suppress(OSError):
            directory.rmdir()


@contextlib.contextmanager
def _heldSignals() -> Iterator[list[int]]:
    """Hold back SIGINT and SIGTERM during the block; yield the list of those received.

    Outside the main thread signals cannot be handled, and nothing is held.
    """
    received: list[int] = []
    if threading.current_thread() is threading.main_thread():
        previous = {number: signal.signal(number, lambda number, frame: received.append(number))
                    for number in STOP_SIGNALS}
    else:
        previous = {}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _versions(config: ImageDifferenceConfig) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ["diffim", "numpy", "scipy", "astropy", "sep", "photutils"]:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    for slot_name, slot in config.slots().items():
        info = plugins.installed(slot_name).get(slot.name)
        if slot.available and info and info.distribution:
            versions[info.distribution] = info.version
    return versions


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class _LogFile(logging.FileHandler):
    """The run's log file; a failed write is kept in ``error`` instead of printed to stderr."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.error: str | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        self._keep(sys.exc_info()[1])

    def _keep(self, exc: BaseException | None) -> None:
        if self.error is None:
            self.error = (exc.strerror if isinstance(exc, OSError) and exc.strerror
                          else type(exc).__name__)

    def finish(self) -> str | None:
        """Detach from the diffim logger and close; return the first write error, if any."""
        logging.getLogger("diffim").removeHandler(self)
        try:
            self.close()
        except OSError as exc:
            self._keep(exc)
        return self.error


def _files(image: str | Path | ImageFiles | None) -> ImageFiles | None:
    """``image`` as an :class:`~diffim.inputs.ImageFiles` (a path alone has no companions)."""
    return image if image is None or isinstance(image, ImageFiles) else ImageFiles(image)


def _templateInput(template: str | Path | ImageFiles | None, templateRepo: str | Path | None,
                   result) -> Any:
    """The template for the provenance: its file, or the warped template built from a repository."""
    if template is not None:
        return _files(template)
    warped = getattr(result, "warpedExposure", None)
    if templateRepo is not None and warped is not None:
        return (f"repo:{Path(templateRepo).name}", warped)
    return None


def _describe(role: str, files: ImageFiles | None) -> dict[str, Any]:
    """The input files of ``role`` for the metadata: the image, and what came with it."""
    if files is None:
        return {role: None}
    record: dict[str, Any] = {role: str(files.image)}
    for name in ("variance", "noise", "psf"):
        if getattr(files, name) is not None:
            record[f"{role}{name.capitalize()}"] = str(getattr(files, name))
    if files.header:
        record[f"{role}Header"] = dict(files.header)
    return record


@dataclass
class _Inputs:
    """What :func:`runFiles` read, ready for :meth:`ImageDifferenceTask.run`."""

    science: Exposure
    template: Exposure | None = None
    difference: Exposure | None = None
    scienceSources: Table | None = None
    templateSources: Table | None = None
    background: np.ndarray | None = None


def _readInputs(task: ImageDifferenceTask, science: ImageFiles, template: ImageFiles | None,
                difference: ImageFiles | None, tables: dict[str, str | Path | None],
                background: str | Path | None, threads: int | None) -> _Inputs:
    """Read the input files, measure a PSF they lack, and check each can be processed at all.

    A check failing names the file, so problems are reported before anything
    is written. ``tables`` holds the ``scienceSources`` and ``templateSources``
    catalog files (either may be None).
    """
    exposures = []
    for role, files in (("science", science), ("template", template),
                        ("difference", difference)):
        if files is None:
            exposures.append(None)
            continue
        path = files.image
        exposure = files.read()
        if role == "difference" and exposure.psf is None:
            # A difference made by convolving the template has the science's PSF.
            log.info("%s has no PSF model: using the science exposure's", path)
            exposure = replace(exposure, psf=exposures[0].psf)
        try:
            with limitThreads(threads):
                exposure = task.characterize(exposure, role)
            checkUsable(exposure, role)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        exposures.append(exposure)
    read = _Inputs(*exposures)
    for name, path in tables.items():
        setattr(read, name, None if path is None else readTable(path))
    if background is not None:
        read.background = readImageData(background)
        if read.background.shape != read.science.shape:
            raise InputError(f"{background}: the calexp background is "
                             f"{read.background.shape[1]}x{read.background.shape[0]} px, the "
                             f"science image {science.image} "
                             f"{read.science.shape[1]}x{read.science.shape[0]} px")
    return read


def _checkInputsForConfig(config: ImageDifferenceConfig, template, templateRepo, background,
                          difference) -> None:
    """Refuse inputs the config cannot use, or a config whose inputs are missing, naming the
    command-line option and the config field."""
    if config.doSubtract:
        if difference is not None:
            raise InputError(f"{_files(difference).image}: an existing difference (--difference) "
                             "is only used with doSubtract=False")
        if template is None and templateRepo is None:
            raise InputError("no template given: pass a template file (--template) or a coadd "
                             "repository (--template-repo)")
    elif difference is None:
        raise InputError("doSubtract=False detects on an existing difference: pass it with "
                         "--difference FILE")
    if config.doAddCalexpBackground and background is None:
        raise InputError("doAddCalexpBackground=True adds the calexp background back to the "
                         "science image: pass it with --background FILE")
    if background is not None and not config.doAddCalexpBackground:
        raise InputError(f"{background}: a calexp background (--background) is only used with "
                         "doAddCalexpBackground=True")


def renderLookAt(kind: str, config: ImageDifferenceConfig, science: Exposure,
                 template: Exposure | None, result) -> bytes:
    """The bytes of one of :data:`LOOK_AT_OUTPUTS` (see :func:`writeLookAt`)."""
    with tempfile.TemporaryDirectory(prefix="diffim-look-") as folder:
        path = Path(folder) / kind
        writeLookAt(kind, path, config, science, template, result)
        return path.read_bytes()


def reportPictures(config: ImageDifferenceConfig, science: Exposure | None,
                   template: Exposure | None, result,
                   made: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The PNG bytes of the pictures report.html embeds: those in ``made`` (kind -> bytes,
    written as outputs already), the others rendered for it when they can be (a run that
    subtracted, and for the gallery one that detected)."""
    pictures = {}
    for kind in REPORT_PICTURES:
        if made and kind in made:
            pictures[kind] = made[kind]
        elif science is not None and config.doSubtract and \
                (kind != "gallery" or result.diaSources is not None):
            pictures[kind] = renderLookAt(kind, config, science, template, result)
    return pictures


def _write(kind: str, staging: Path, outdir: Path, name: str,
           writer: Callable[[Path], object]) -> None:
    """Write output ``name`` into ``staging``; an OSError becomes an OutputError naming it."""
    try:
        writer(staging / name)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"{outdir / name}: cannot write the {kind} output ({reason}); free "
                          "some space or choose another output directory") from None


def _publish(staging: Path, outdir: Path, planned: dict[str, str],
             onPublished: Callable[[], None] | None) -> dict[str, Path]:
    """Move every staged output into ``outdir``, with SIGINT and SIGTERM held back.

    Renames within one directory are quick and cannot run out of space; holding
    the stop signals keeps the set whole. A signal that arrives meanwhile is
    logged and the run completes: its outputs are already in place.
    """
    outputs = {}
    with _heldSignals() as received:
        for kind, name in planned.items():
            os.replace(staging / name, outdir / name)
            outputs[kind] = outdir / name
        staging.rmdir()
        if onPublished is not None:
            onPublished()
    if received:
        log.warning("%s arrived while the outputs were being published; the run completed",
                    signal.Signals(received[0]).name)
    return outputs


def runFiles(config: ImageDifferenceConfig, science: str | Path | ImageFiles,
             template: str | Path | ImageFiles | None,
             outdir: str | Path, overwrite: bool = False,
             pipeline: str | Path | None = None,
             scienceSources: str | Path | None = None,
             threads: int | None = None,
             onPublished: Callable[[], None] | None = None,
             templateRepo: str | Path | None = None,
             tileSize: int | None = None,
             templateSources: str | Path | None = None,
             background: str | Path | None = None,
             difference: str | Path | ImageFiles | None = None) -> RunSummary:
    """Run ``config`` on a science and a template FITS file and write the outputs.

    The outputs appear in ``outdir`` all together when the run succeeds; on an
    error or an interruption (KeyboardInterrupt) none do, and an output
    directory the run created is removed again.

    Parameters
    ----------
    config : ImageDifferenceConfig
        Validated config (frozen by the task).
    science, template : path or ImageFiles
        Input FITS files (diffim MEF or plain single-HDU images), alone or with their
        companion variance, noise and PSF files and header cards
        (:class:`diffim.inputs.ImageFiles`); ``template`` may be None with
        ``templateRepo`` (or with doSubtract=False).
    outdir : path
        Output directory (created if needed).
    overwrite : bool
        Replace existing outputs instead of refusing.
    pipeline : path, optional
        The pipeline file, recorded in the metadata.
    scienceSources : path, optional
        Catalog of science sources (FITS table with id, x, y and/or
        ra, dec) used by doMatchSources.
    threads : int, optional
        Most FFT worker threads to use (all available cores when None); the
        outputs are the same for any value.
    onPublished : callable, optional
        Called once every output is in place, while SIGINT and SIGTERM are
        still held back: a caller's signal handler can stop treating them as
        interruptions from then on (the outputs are complete).
    templateRepo : path, optional
        Data repository the ``getTemplate`` plugin builds the template from, when
        no ``template`` file is given.
    tileSize : int, optional
        Process the pair in overlapping tiles of this many pixels a side
        (:mod:`diffim.tiling`), so that memory stays bounded; 0 never tiles.
        By default a science image larger than
        :data:`diffim.tiling.WHOLE_IMAGE_PIXELS` pixels runs in tiles of
        :data:`diffim.tiling.DEFAULT_TILE_SIZE`.
    templateSources : path, optional
        Catalog of template sources (FITS table with ra, dec or x, y on the
        science grid): with doSelectSources, kernel stars must be in it too.
    background : path, optional
        FITS image of the calexp background model, added back to the science
        image (doAddCalexpBackground, which it needs).
    difference : path or ImageFiles, optional
        An existing difference exposure to detect and measure on
        (doSubtract=False, which it needs; no template is read).

    Raises
    ------
    InputError
        If an input file is unreadable or unusable (the message names it).
    OutputError
        If an output exists (without ``overwrite``) or cannot be written.
    """
    start = time.perf_counter()
    outdir = Path(outdir)
    planned = plannedOutputs(config)
    task = ImageDifferenceTask(config=config)
    _checkInputsForConfig(config, template, templateRepo, background, difference)
    shape = None if template is None or tileSize == 0 else imageShape(_files(science).image)
    tiled = shape is not None and shouldTile(shape, tileSize)
    for path, what in ((scienceSources, "a science source catalog"),
                       (templateSources, "a template source catalog"),
                       (background, "a calexp background")):
        if tiled and path is not None:
            raise InputError(f"{path}: {what} is not used by a run in tiles (the "
                             f"{shape[1]}x{shape[0]} science image is tiled); pass "
                             "--tile-size 0 to run it whole")
    pictures = [kind for kind in LOOK_AT_OUTPUTS if kind in planned]
    wholeOnly = pictures + [kind for kind in ("report",) if kind in planned]
    if tiled and wholeOnly:
        raise InputError(f"{_files(science).image}: {', '.join(wholeOnly)} are not made by a run "
                         f"in tiles (the {shape[1]}x{shape[0]} science image is tiled); pass "
                         "--tile-size 0 to run it whole")
    read = None if tiled else _readInputs(
        task, _files(science), _files(template), _files(difference),
        {"scienceSources": scienceSources, "templateSources": templateSources}, background,
        threads)
    scienceExp = None if read is None else read.science
    templateExp = None if read is None else read.template
    staging, created = _prepareOutdir(outdir, planned, overwrite)
    handler = None
    published = False
    try:
        if "log" in planned:
            try:
                handler = _LogFile(staging / planned["log"])
            except OSError as exc:
                raise OutputError(f"{outdir / planned['log']}: cannot write the log output "
                                  f"({exc.strerror}); choose another output directory") from None
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s"))
            logging.getLogger("diffim").addHandler(handler)
        written: set[str] = set()
        if tiled:
            tiles = runTiles(task, _files(science), _files(template), shape, staging, planned,
                             threads, tileSize)
            result, written = tiles.result, tiles.written
        else:
            result = task.run(exposure=read.science, templateExposure=read.template,
                              selectSources=read.scienceSources,
                              templateSources=read.templateSources,
                              calexpBackgroundExposure=read.background,
                              subtractedExposure=read.difference, threads=threads,
                              templateSource=templateRepo)
        cards = provenanceCards(config, result, science=_files(science),
                                template=_templateInput(template, templateRepo, result),
                                pipeline=pipeline)
        unit = pixelUnit(scienceExp) if scienceExp is not None else None
        for kind, name in planned.items():
            if kind in result.OUTPUTS and kind not in written:
                _write(kind, staging, outdir, name,
                       lambda p, kind=kind: writeOutput(result.output(kind), p, cards, unit))
            elif kind in written and kind not in ("metadata", "log"):
                _write(kind, staging, outdir, name,
                       lambda p: stampPrimaryHeader(p, cards))
        for kind in pictures:
            _write(kind, staging, outdir, planned[kind],
                   lambda p, kind=kind: writeLookAt(kind, p, config, scienceExp, templateExp,
                                                    result))
        if "registerDebug" in planned:
            _write("registerDebug", staging, outdir, planned["registerDebug"],
                   lambda p: writeTable(Table(rows=result.metadata["registerDebug"]), p,
                                        header=cards))
        summary = summarize(result, time.perf_counter() - start,
                            tiles.noiseRatio if tiled else None)
        if "metadata" in planned or "report" in planned:
            inputs = {**_describe("science", _files(science)),
                      **_describe("template", _files(template)),
                      "templateRepo": None if templateRepo is None else str(templateRepo),
                      "pipeline": None if pipeline is None else str(pipeline)}
            record = runRecord(config, result, summary, inputs, cards, planned)
        if "metadata" in planned:
            text = yaml.safe_dump(record, sort_keys=False)
            _write("metadata", staging, outdir, planned["metadata"],
                   lambda p: p.write_text(text, encoding="utf-8"))
        if "report" in planned:
            shown = reportPictures(config, scienceExp, templateExp, result,
                                   {kind: (staging / planned[kind]).read_bytes()
                                    for kind in REPORT_PICTURES if kind in planned})
            _write("report", staging, outdir, planned["report"],
                   lambda p: writeReport(p, record, shown))
        if handler is not None:
            error, handler = handler.finish(), None
            if error is not None:
                raise OutputError(f"{outdir / planned['log']}: cannot write the log output "
                                  f"({error}); free some space or choose another output "
                                  "directory")
        summary.outputs = _publish(staging, outdir, planned, onPublished)
        published = True
        return summary
    finally:
        if handler is not None:
            handler.finish()
        if not published:
            shutil.rmtree(staging, ignore_errors=True)
            _removeEmpty(created)
