"""One benchmark run (diffim pipeline or peer) on one pair, and its figures.

A diffim run is ``python -m diffim.cli -q run PIPELINE ... --overwrite`` in a fresh child
process; its step times come from ``metadata.yaml`` (``timing``: wall, ``cpuTiming``: CPU
seconds of all threads), its noise ratio from the run's summary, its completeness and
false detections from its diaSources. Every difference, diffim's and the peers', is also
scored by the common detector of :mod:`perf.quality`.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from astropy.table import Table

from . import quality
from .child import ChildResult, runChild
from .pairs import Pair, warpSeconds
from .peers import PeerUnavailable, runPeer


@dataclass
class PairContext:
    """What scoring a difference of one pair needs, computed once per pair."""

    pair: Pair
    truth: Table
    scored: np.ndarray
    free: np.ndarray
    excluded: np.ndarray
    psfSigma: float

    @classmethod
    def load(cls, pair: Pair) -> "PairContext":
        from diffim.fits_io import readExposure

        science = readExposure(pair.path("science"))
        template = readExposure(pair.path("template"))
        truth = Table.read(pair.path("truth"))
        warped = fits.getdata(pair.peerDirectory / "template.fits")
        sat = fits.getdata(pair.peerDirectory / "sat.fits") > 0
        bad = science.maskedPixels("NO_DATA", "SAT", "BAD") | (warped <= -1.0e4) | sat
        psfSigma = float(science.psf.sigma())
        return cls(pair, truth, quality.scoredTransients(truth, science, template),
                   quality.sourceFree(truth, bad, quality.fwhmOf(psfSigma)),
                   sat | (warped <= -1.0e4), psfSigma)

    def common(self, image: np.ndarray) -> dict:
        """Completeness and false detections of the common detector on ``image``."""
        x, y = quality.commonDetect(image, self.free, self.excluded, self.psfSigma)
        figures = quality.detectionFigures(x, y, self.truth, self.scored, image.shape)
        return {f"common_{key}": value for key, value in figures.items()}


@dataclass
class RunRecord:
    """Figures of one run; ``error`` holds the one-line reason when it failed."""

    method: str
    kind: str
    size: int
    wall: float = float("nan")
    cpuPerWall: float = float("nan")
    peakGB: float = float("nan")
    figures: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    error: str = ""

    def asDict(self) -> dict:
        return {"method": self.method, "kind": self.kind, "size": self.size,
                "wall": self.wall, "cpuPerWall": self.cpuPerWall, "peakGB": self.peakGB,
                "figures": self.figures, "steps": self.steps, "error": self.error}


def _fill(record: RunRecord, child: ChildResult, memoryLimitGB: float | None) -> None:
    record.wall, record.cpuPerWall = child.wall, child.cpuPerWall
    record.peakGB = child.peakMB / 1024.0
    record.error = child.reason()
    if memoryLimitGB is not None and "MemoryError" in record.error:
        record.error = f"over the {memoryLimitGB:g} GB cap: {record.error}"


def diffimCommand(pipeline: Path, pair: Pair, out: Path) -> list[str]:
    """The CLI command of one diffim run."""
    return [sys.executable, "-m", "diffim.cli", "-q", "run", str(pipeline),
            "--science", str(pair.path("science")), "--template", str(pair.path("template")),
            "-o", str(out), "--overwrite"]


def runDiffim(pipeline: Path, context: PairContext, runDir: Path, timeout: float,
              memoryLimitGB: float | None = None) -> RunRecord:
    """Run one diffim pipeline on the pair in a child process and score it."""
    pair = context.pair
    record = RunRecord(f"diffim {pipeline.stem}", pair.kind, pair.size)
    out = runDir / "out"
    child = runChild(diffimCommand(pipeline, pair, out), runDir, "diffim", timeout,
                     memoryLimitGB=memoryLimitGB)
    _fill(record, child, memoryLimitGB)
    if record.error:
        return record
    meta = yaml.safe_load((out / "metadata.yaml").read_text())
    timing = meta["metadata"].get("timing", {})
    cpu = meta["metadata"].get("cpuTiming", {})
    record.steps = {step: {"wall": wall, "cpu": cpu.get(step)} for step, wall in timing.items()}
    summary = meta["summary"]
    runWall = float(summary["wallSeconds"])
    record.figures = {"runWall": runWall, "outside": runWall - sum(timing.values()),
                      "startup": child.wall - runWall, "status": summary.get("status"),
                      "noiseRatio": summary.get("noiseRatio")}
    sources = Table.read(out / "diaSources.fits")
    record.figures.update(quality.detectionFigures(
        np.asarray(sources["x"]), np.asarray(sources["y"]), context.truth, context.scored,
        (pair.size, pair.size)))
    with fits.open(out / "difference.fits") as hdus:
        image = np.asarray(hdus["IMAGE"].data, dtype=np.float32)
    record.figures.update(context.common(image))
    return record


def peerRecord(name: str, context: PairContext, workdir: Path, runDir: Path, timeout: float,
               hotpantsSource: Path | None, memoryLimitGB: float | None = None) -> RunRecord:
    """Run one peer on the pair in a child process and score its difference."""
    pair = context.pair
    record = RunRecord(name, pair.kind, pair.size)
    try:
        run = runPeer(name, pair, workdir, runDir, timeout, hotpantsSource, memoryLimitGB)
    except PeerUnavailable as exc:
        record.error = str(exc)
        return record
    _fill(record, run.child, memoryLimitGB)
    if not record.error and not run.difference.exists():
        record.error = "no difference image written"
    if record.error:
        return record
    record.figures = {"warpSeconds": warpSeconds(pair)}
    record.figures.update(_childJson(run.child.stdout))
    image = np.asarray(fits.getdata(run.difference), dtype=np.float32)
    image[(image == np.float32(1.0e-30)) | ~np.isfinite(image)] = np.nan   # HOTPANTS fill
    if run.noise is not None and run.noise.exists():
        noise = np.asarray(fits.getdata(run.noise), dtype=np.float64)
        record.figures["noiseRatio"] = quality.noiseRatio(image, noise ** 2, context.free)
    elif name == "properimage":
        record.figures["noiseRatio"] = quality.noiseRatio(image, 1.0, context.free)
    record.figures.update(context.common(image))
    return record


def _childJson(stdout: str) -> dict:
    """The last JSON line a peer script printed (its internal subtraction time)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}
