"""Time each real image pair against a clean simulated twin of the same size, in one process.

For every real pair in ``shared/data/real`` (one per folder) and every pipeline, this
prints the wall time of the real pair, that of its twin, their ratio, and the per-step
seconds the task records (``result.metadata["timing"]``) for both. The issue's target
is a ratio of at most 2: the time of every step grows with pixels and sources, never
with footprint size squared or with how badly a field subtracts.

What is fair
------------
The real pairs are plain FITS images: no PSF, no variance, no mask, most without a WCS.
Reading them derives the mask, variance and DETECTED plane; the task measures both PSFs
and, without a WCS, registers the template from its pixels (``doUseRegister=true``). A
twin that carried its true PSF and an exact WCS would skip that work and flatter the
ratio. So the twin is made to go through the same path:

* it is a :func:`diffim.testing.simulate.simulatePair` pair with 50 transients per
  1024² pixels, at the seeing of the real pair (both PSF widths as the ``measurePsf``
  plugin measures them on the real images), cropped to each real image's shape, and
  as crowded as the real science image where that is more crowded than the simulator's
  default: its star count is scaled to show as many objects at 5 sigma (``--density
  default`` keeps the simulator's own density).
  The issue asks that time grow with pixels and sources, so a bulge field is compared
  with a simulated field of as many sources;
* each image is written as a plain single-HDU FITS file with only ``GAIN``,
  ``RDNOISE`` and ``SATURATE`` cards (and its WCS only when the real pair has one),
  and read back with :func:`diffim.fits_io.readExposure` like the real files;
* it runs with the same pipeline and overrides as the real pair (``doUseRegister=true``
  without a WCS, and those of :data:`PAIR_OVERRIDES`).

Timed per run: reading both files (mask, variance and detections are derived there)
plus :meth:`ImageDifferenceTask.run`; the best of ``--repeat`` runs is kept. The
twin's content (a sparse, well-subtracting field) is what differs, which is the
point. Compare figures only within one run of this script: the machine is shared.

Usage: python benchmarks/real_vs_simulated.py [--pairs NAME ...] [--pipelines FILE ...]
       [--repeat N] [--steps N] [--density matched|default] [--keep DIR]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from diffim.errors import DiffimError
from diffim.exposure import Exposure
from diffim.fits_io import readExposure
from diffim.pipeline import load_pipeline
from diffim.sourcefinding import extractObjects
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import STAR_DENSITY, simulatePair

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
PIPELINES = [REPO / "pipelines" / "default.yaml", REPO / "pipelines" / "zogy.yaml"]

#: Folders whose images have no WCS (as shared/tools/real-pairs-report): registered from pixels.
NO_WCS = ("saao_", "goto_", "toros_")

#: Header cards a twin's plain files carry (the real files' own, where they have them).
TWIN_CARDS = ("GAIN", "RDNOISE", "SATURATE")

#: Overrides a real pair needs beyond doUseRegister, by folder and pipeline file: al's own
#: star finder skips footprints over fpNpixMax pixels, i.e. every star at 8 px seeing.
PAIR_OVERRIDES = {("saao_kb13475_badseeing", "default.yaml"): ["doSelectSources=true"]}

#: Transients per pixel of a twin: 50 on a 1024² image (simulatePair's default count).
TRANSIENT_DENSITY = 50 / 1024**2

#: Detection threshold (sigma) of the object counts that match a twin's crowding to a pair's.
COUNT_THRESHOLD = 5.0

#: Most stars per pixel a density-matched twin gets (the simulator's placement slows beyond).
MAX_STAR_DENSITY = 40 * STAR_DENSITY


@dataclass
class Pair:
    """A science and template file and the overrides their pipeline runs need."""

    name: str
    science: Path
    template: Path
    overrides: list[str]


@dataclass
class Timing:
    """Best wall time of a pair under one pipeline, and that run's step times."""

    seconds: float
    steps: dict[str, float]
    nDiaSources: int


def realPairs(names: list[str] | None) -> list[Pair]:
    """The first science/template pair of each folder (or of the folders named)."""
    pairs = []
    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        if names and folder.name not in names:
            continue
        sciences = sorted(folder.glob("*science.fits"))
        if not sciences:
            continue
        science = sciences[0]
        template = science.with_name(science.name.replace("science.fits", "template.fits"))
        pairs.append(Pair(folder.name, science, template,
                          ["doUseRegister=true"] if folder.name.startswith(NO_WCS) else []))
    return pairs


def timeRun(science: Path, template: Path, pipeline: Path, overrides: list[str],
            repeat: int) -> Timing:
    """Best of ``repeat`` runs of reading the pair and running the task on it."""
    best = None
    for _ in range(repeat):
        config = load_pipeline(str(pipeline), overrides=list(overrides))
        start = time.perf_counter()
        sci, tpl = readExposure(science), readExposure(template)
        read = time.perf_counter() - start
        result = ImageDifferenceTask(config=config).run(exposure=sci, templateExposure=tpl)
        seconds = time.perf_counter() - start
        if best is None or seconds < best.seconds:
            steps = {"read": round(read, 3), **result.metadata.get("timing", {})}
            best = Timing(seconds, steps, len(result.diaSources))
    return best


def measuredSigmas(pair: Pair, pipeline: Path) -> tuple[float, float]:
    """PSF sigmas (pixels) of the science and template as the pipeline measures them."""
    task = ImageDifferenceTask(config=load_pipeline(str(pipeline), overrides=pair.overrides))
    sigmas = []
    for path, role in ((pair.science, "science"), (pair.template, "template")):
        exposure = task.characterize(readExposure(path), role)
        sigmas.append(float(exposure.psf.sigma()))
    return sigmas[0], sigmas[1]


def plainHdu(exposure: Exposure, shape: tuple[int, int], header: fits.Header,
             withWcs: bool) -> fits.PrimaryHDU:
    """``exposure``'s pixels cropped to ``shape`` as a plain image with the real cards."""
    out = fits.Header()
    for key in TWIN_CARDS:
        value = header.get(key, exposure.metadata.get(key))
        if value is not None:
            out[key] = value
    if withWcs and exposure.wcs is not None:
        out.update(exposure.wcs.to_header())
    data = np.asarray(exposure.image[:shape[0], :shape[1]], dtype=np.float32)
    return fits.PrimaryHDU(data=data, header=out)


def objectCount(exposure: Exposure) -> int:
    """Objects detected at :data:`COUNT_THRESHOLD` sigma above the median of ``exposure``."""
    data = np.asarray(exposure.image, dtype=np.float64)
    noise = np.sqrt(np.asarray(exposure.variance, dtype=np.float64))
    usable = np.isfinite(data) & np.isfinite(noise) & (noise > 0)
    data = np.where(usable, data - np.median(data[usable]), 0.0)
    return len(extractObjects(data, COUNT_THRESHOLD, np.where(usable, noise, 1.0),
                              exclude=~usable))


def writeTwin(pair: Pair, sigmas: tuple[float, float], directory: Path,
              matchDensity: bool) -> tuple[Path, Path, int]:
    """Simulate the pair's twin and write it as plain FITS; return its paths and star count."""
    real = [readExposure(pair.science), readExposure(pair.template)]
    headers = [fits.getheader(pair.science, ext=_imageExtension(pair.science)),
               fits.getheader(pair.template, ext=_imageExtension(pair.template))]
    size = max(max(e.shape) for e in real)
    scienceSigma, templateSigma = sigmas
    nTransients = max(1, round(TRANSIENT_DENSITY * real[0].image.size))
    nStars = round(STAR_DENSITY * size * size)

    def simulate(stars: int):
        return simulatePair(size=size, templateSigma=templateSigma,
                            seeingRatio=scienceSigma / templateSigma, nStars=stars,
                            nTransients=nTransients, seed=4)

    science, template, _ = simulate(nStars)
    if matchDensity:
        crop = Exposure(image=science.image[:real[0].shape[0], :real[0].shape[1]],
                        variance=science.variance[:real[0].shape[0], :real[0].shape[1]])
        wanted = nStars * objectCount(real[0]) / max(objectCount(crop), 1)
        nStars = int(min(max(wanted, nStars), MAX_STAR_DENSITY * size * size))
        while True:     # so crowded that the transients find no free place: fewer stars
            try:
                science, template, _ = simulate(nStars)
                break
            except ValueError:
                nStars = int(0.8 * nStars)
    withWcs = not pair.overrides
    paths = []
    for role, sim, exposure, header in zip(("science", "template"), (science, template),
                                           real, headers):
        path = directory / f"{pair.name}_{role}.fits"
        plainHdu(sim, exposure.shape, header, withWcs).writeto(path, overwrite=True)
        paths.append(path)
    return paths[0], paths[1], nStars


def _imageExtension(path: Path) -> int:
    """Index of the first HDU holding an image."""
    with fits.open(path) as hdul:
        return next(i for i, hdu in enumerate(hdul) if hdu.data is not None)


def stepTable(real: Timing, twin: Timing, nSteps: int) -> str:
    """The ``nSteps`` slowest steps of the real run, with the twin's time for each."""
    names = sorted(real.steps, key=lambda k: -real.steps[k])[:nSteps]
    cells = [f"{k} {real.steps[k]:.2f}/{twin.steps.get(k, 0.0):.2f}" for k in names]
    return "    steps real/twin s: " + ", ".join(cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="*", help="real-pair folder names (default: all)")
    parser.add_argument("--pipelines", nargs="*", type=Path, default=PIPELINES)
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the best is kept")
    parser.add_argument("--steps", type=int, default=8, help="slowest steps printed per case")
    parser.add_argument("--density", choices=("matched", "default"), default="matched",
                        help="twin star density: as crowded as the real science image, or "
                             "the simulator's default")
    parser.add_argument("--keep", type=Path, help="write the twins here (default: a temporary "
                        "folder, removed at the end)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    print(f"{'pair':30} {'pipeline':13} {'real s':>7} {'twin s':>7} {'ratio':>6} "
          f"{'nDia real/twin':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for pair in realPairs(args.pairs):
            sigmas = measuredSigmas(pair, args.pipelines[0])
            twinScience, twinTemplate, nStars = writeTwin(pair, sigmas, folder,
                                                          args.density == "matched")
            print(f"{pair.name}: twin of {nStars} stars", flush=True)
            for pipeline in args.pipelines:
                overrides = pair.overrides + PAIR_OVERRIDES.get((pair.name, pipeline.name), [])
                try:
                    real = timeRun(pair.science, pair.template, pipeline, overrides, args.repeat)
                    twin = timeRun(twinScience, twinTemplate, pipeline, overrides, args.repeat)
                except DiffimError as exc:
                    print(f"{pair.name:30} {pipeline.name:13} failed: {exc}"[:200], flush=True)
                    continue
                print(f"{pair.name:30} {pipeline.name:13} {real.seconds:7.2f} "
                      f"{twin.seconds:7.2f} {real.seconds / twin.seconds:6.2f} "
                      f"{real.nDiaSources:>7}/{twin.nDiaSources:<7}", flush=True)
                print(stepTable(real, twin, args.steps), flush=True)


if __name__ == "__main__":
    main()
