"""Run a pipeline on files: read inputs, run the task, write outputs atomically.

Outputs are written into a staging folder inside the output directory and
moved into place only when the whole run has succeeded, so an error or an
interruption never leaves partial or corrupt files behind.
"""
from __future__ import annotations

import datetime
import importlib.metadata as metadata
import logging
import os
import platform
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from astropy.table import Table

from . import plugins
from .errors import OutputError
from .fits_io import readExposure, readTable, writeExposure, writeTable
from .task import ImageDifferenceTask
from .task_config import ImageDifferenceConfig


@dataclass
class RunSummary:
    """What a run wrote and a few numbers worth printing."""

    outputs: dict[str, Path] = field(default_factory=dict)
    nDiaSources: int = 0
    nPositive: int = 0
    nNegative: int = 0
    noiseRatio: float = float("nan")
    seconds: float = 0.0

    def line(self) -> str:
        """One summary line for the terminal."""
        return (f"{self.nDiaSources} diaSources ({self.nPositive} positive, {self.nNegative} "
                f"negative); difference noise / expected = {self.noiseRatio:.3f}; "
                f"{self.seconds:.1f} s")


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
        "metadata": config.saveMetadata,
        "log": config.saveLogOutput,
    }
    return {kind: getattr(names, kind) for kind, on in wanted.items() if on}


def _prepareOutdir(outdir: Path, planned: dict[str, str], overwrite: bool) -> Path:
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create the output directory ({exc.strerror})") \
            from None
    if not outdir.is_dir():
        raise OutputError(f"{outdir}: exists and is not a directory")
    if not overwrite:
        for name in planned.values():
            if (outdir / name).exists():
                raise OutputError(f"{outdir / name} already exists; use --overwrite to replace "
                                  "it, or choose another output directory")
    staging = outdir / f".diffim-staging-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        staging.mkdir()
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot write to the output directory ({exc.strerror})") \
            from None
    return staging


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


def _noiseRatio(difference) -> float:
    """Robust std of difference/sqrt(variance) over clean pixels."""
    bad = difference.maskedPixels("NO_DATA", "DETECTED", "DETECTED_NEGATIVE", "SAT", "EDGE")
    z = difference.image[~bad] / np.sqrt(difference.variance[~bad])
    z = z[np.isfinite(z)]
    if z.size < 2:
        return float("nan")
    return float(1.4826 * np.median(np.abs(z - np.median(z))))


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


def runFiles(config: ImageDifferenceConfig, science: str | Path, template: str | Path | None,
             outdir: str | Path, overwrite: bool = False,
             pipeline: str | Path | None = None,
             scienceSources: str | Path | None = None) -> RunSummary:
    """Run ``config`` on a science and a template FITS file and write the outputs.

    Parameters
    ----------
    config : ImageDifferenceConfig
        Validated config (frozen by the task).
    science, template : path
        Input FITS files (diffim MEF or plain single-HDU images).
    outdir : path
        Output directory (created if needed).
    overwrite : bool
        Replace existing outputs instead of refusing.
    pipeline : path, optional
        The pipeline file, recorded in the metadata.
    scienceSources : path, optional
        Catalog of science sources (FITS table with id, x, y and/or
        ra, dec) used by doMatchSources.
    """
    start = time.perf_counter()
    outdir = Path(outdir)
    planned = plannedOutputs(config)
    task = ImageDifferenceTask(config=config)
    scienceExp = readExposure(science)
    templateExp = readExposure(template) if template is not None else None
    selectSources = readTable(scienceSources) if scienceSources is not None else None
    staging = _prepareOutdir(outdir, planned, overwrite)
    handler = None
    try:
        if "log" in planned:
            handler = logging.FileHandler(staging / planned["log"])
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s"))
            logging.getLogger("diffim").addHandler(handler)
        result = task.run(exposure=scienceExp, templateExposure=templateExp,
                          selectSources=selectSources)
        summary = RunSummary(seconds=0.0)
        writers = {
            "differenceExp": lambda p: writeExposure(result.subtractedExposure, p),
            "diaSrc": lambda p: writeTable(result.diaSources, p),
            "scoreExp": lambda p: writeExposure(result.scoreExposure, p),
            "warpedExp": lambda p: writeExposure(result.warpedExposure, p),
            "matchedExp": lambda p: writeExposure(result.matchedExposure, p),
            "kernelSrc": lambda p: writeTable(result.kernelSources, p),
            "registerDebug": lambda p: writeTable(Table(rows=result.metadata["registerDebug"]), p),
        }
        for kind, name in planned.items():
            if kind in writers:
                writers[kind](staging / name)
        if result.diaSources is not None:
            sources = result.diaSources
            summary.nDiaSources = len(sources)
            if "isPositive" in sources.colnames:
                summary.nPositive = int(np.count_nonzero(sources["isPositive"]))
                summary.nNegative = int(np.count_nonzero(sources["isNegative"]))
        if result.subtractedExposure is not None:
            summary.noiseRatio = _noiseRatio(result.subtractedExposure)
        summary.seconds = time.perf_counter() - start
        if "metadata" in planned:
            record = {
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "inputs": {"science": str(science), "template": str(template),
                           "pipeline": None if pipeline is None else str(pipeline)},
                "versions": _versions(config),
                "summary": {"nDiaSources": summary.nDiaSources, "noiseRatio": summary.noiseRatio,
                            "wallSeconds": round(summary.seconds, 3)},
                "metadata": _jsonable(result.metadata),
                "config": config.toDict(),
            }
            (staging / planned["metadata"]).write_text(yaml.safe_dump(record, sort_keys=False))
        if handler is not None:
            logging.getLogger("diffim").removeHandler(handler)
            handler.close()
            handler = None
        for kind, name in planned.items():
            os.replace(staging / name, outdir / name)
            summary.outputs[kind] = outdir / name
        return summary
    finally:
        if handler is not None:
            logging.getLogger("diffim").removeHandler(handler)
            handler.close()
        shutil.rmtree(staging, ignore_errors=True)
