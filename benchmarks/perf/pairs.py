"""The simulated pairs of the benchmark and the plain-FITS inputs the peers read.

A pair is simulated once per (kind, size) into ``<workdir>/pairs/<kind>-<size>/`` with
:func:`diffim.testing.simulate.writePair` and reused while its ``params.json`` holds the
same parameters. Peers get ``peer/science.fits`` and ``peer/template.fits``: the image
planes only, the template resampled onto the science grid by diffim's own warper
(:func:`diffim.warp.warpToScience`; the pair differs by a 0.3/0.2 px shift that both WCSs
describe and no peer warps), timed apart from the peers' runs.
"""
from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

#: Seed of every simulated pair.
SEED = 2

#: Transients of a default-density pair per 4096² (scaled by area).
DEFAULT_TRANSIENTS_4096 = 600

#: Stars and transients of a crowded pair per 2048² (scaled by area), as the crowded-field test.
CROWDED_STARS_2048 = 5000
CROWDED_TRANSIENTS_2048 = 250

#: Value written into peer inputs where a plane has no data (far below any sky level).
NO_DATA_VALUE = -1.0e5


@dataclass
class Pair:
    """A simulated pair on disk and the figures the peers need about it."""

    kind: str
    size: int
    directory: Path
    params: dict

    @property
    def label(self) -> str:
        return f"{self.kind} {self.size}²"

    def path(self, name: str) -> Path:
        """``science``, ``template`` or ``truth`` FITS of the pair."""
        return self.directory / f"{name}.fits"

    @property
    def peerDirectory(self) -> Path:
        return self.directory / "peer"


def pairParams(kind: str, size: int) -> dict:
    """Keyword arguments of ``writePair`` for a pair of ``kind`` and ``size``, with the seed."""
    area = (size / 4096.0) ** 2
    if kind == "default":
        return {"size": size, "nStars": None, "seed": SEED,
                "nTransients": int(round(DEFAULT_TRANSIENTS_4096 * area))}
    if kind == "crowded":
        area2048 = (size / 2048.0) ** 2
        return {"size": size, "seed": SEED,
                "nStars": int(round(CROWDED_STARS_2048 * area2048)),
                "nTransients": int(round(CROWDED_TRANSIENTS_2048 * area2048))}
    raise ValueError(f"unknown kind {kind!r} (default, crowded)")


def simulatorDefaults() -> dict:
    """Gain, read noise (electrons), saturation and PSF widths the simulator uses by default."""
    from diffim.testing.simulate import simulatePair

    defaults = {name: p.default for name, p in inspect.signature(simulatePair).parameters.items()}
    keys = ("gain", "readNoise", "saturation", "templateSigma", "seeingRatio")
    return {key: defaults[key] for key in keys}


def ensurePair(workdir: Path, kind: str, size: int) -> tuple[Pair, float | None]:
    """The pair of ``kind`` and ``size``, simulated unless already there with the same parameters.

    Returns the pair and the seconds its simulation took (None when reused).
    """
    from diffim.testing.simulate import writePair

    params = pairParams(kind, size)
    directory = workdir / "pairs" / f"{kind}-{size}"
    stamp = directory / "params.json"
    record = {"writePair": params, "simulator": simulatorDefaults()}
    if stamp.exists() and json.loads(stamp.read_text()) == record:
        return Pair(kind, size, directory, record), None
    start = time.perf_counter()
    writePair(directory, overwrite=True, **params)
    seconds = time.perf_counter() - start
    stamp.write_text(json.dumps(record, indent=1))
    return Pair(kind, size, directory, record), seconds


def ensurePeerInputs(pair: Pair) -> float | None:
    """Write the peers' plain-FITS science and warped template; seconds the warp took.

    None when the files are already there (written from this pair). Also writes
    ``sat.fits`` (1 where either image is saturated) for peers that mask saturation.
    """
    from diffim.fits_io import readExposure
    from diffim.warp import warpToScience

    out = pair.peerDirectory
    names = ("science.fits", "template.fits", "sat.fits")
    if all((out / n).exists() for n in names) and \
            (out / "science.fits").stat().st_mtime >= pair.path("science").stat().st_mtime:
        return None
    science = readExposure(pair.path("science"))
    template = readExposure(pair.path("template"))
    start = time.perf_counter()
    warped = warpToScience(template, science)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    sat = science.maskedPixels("SAT") | warped.maskedPixels("SAT")
    _writePlain(out / "science.fits", science.image, pair, seeing=science.psf.sigma())
    _writePlain(out / "template.fits", warped.image, pair, seeing=warped.psf.sigma())
    fits.writeto(out / "sat.fits", sat.astype(np.uint8), overwrite=True)
    (out / "warp.json").write_text(json.dumps({"warpSeconds": seconds}))
    return seconds


def warpSeconds(pair: Pair) -> float | None:
    """Seconds the warp of the peers' template took when it was written."""
    record = pair.peerDirectory / "warp.json"
    return json.loads(record.read_text())["warpSeconds"] if record.exists() else None


def _writePlain(path: Path, image: np.ndarray, pair: Pair, seeing: float) -> None:
    """Write one image plane as a plain FITS file with GAIN, RDNOISE, SATURATE and PSF sigma."""
    sim = pair.params["simulator"]
    data = np.where(np.isfinite(image), image, NO_DATA_VALUE).astype(np.float32)
    header = fits.Header()
    header["GAIN"] = (sim["gain"], "electrons per ADU")
    header["RDNOISE"] = (sim["readNoise"], "read noise (electrons)")
    header["SATURATE"] = (sim["saturation"], "saturation level (ADU)")
    header["PSFSIG"] = (float(seeing), "PSF Gaussian sigma (pixels)")
    fits.writeto(path, data, header, overwrite=True)
