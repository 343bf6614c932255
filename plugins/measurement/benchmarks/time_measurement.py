"""Time both measurement plugins on a 4096-pixel field with thousands of sources.

The field is made the way an Alard-Lupton subtraction makes one: stars rendered with the
template PSF and convolved with a Gaussian matching kernel, template noise convolved too,
so the matched template's noise is correlated. Transients are in the science image only;
moving stars are 0.5-3 px apart in the two epochs. Run from the repository root::

    .venv/bin/python plugins/measurement/benchmarks/time_measurement.py [--size 4096]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from diffim import Exposure, GaussianPsf
from diffim.testing.plugins import detectSources
from diffim_measurement import (DipoleMeasurement, DipoleMeasurementConfig, PsfMeasurement,
                                PsfMeasurementConfig)


def addStars(image: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray,
             sigma: float) -> None:
    """Add Gaussian point sources (sub-pixel positions, 5-sigma stamps) in place."""
    half = int(np.ceil(5 * sigma))
    offsets = np.arange(-half, half + 1)
    for xs, ys, fs in zip(x, y, flux):
        ix, iy = int(round(xs)), int(round(ys))
        gx = np.exp(-0.5 * ((offsets + ix - xs) / sigma) ** 2)
        gy = np.exp(-0.5 * ((offsets + iy - ys) / sigma) ** 2)
        image[iy - half:iy + half + 1, ix - half:ix + half + 1] += (
            fs * np.outer(gy, gx) / (2 * np.pi * sigma ** 2))


def makeField(size: int, nTransients: int, nMovers: int, seed: int = 1):
    """Science, matched template and difference exposures of a synthetic field."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    templateSigma, scienceSigma, scale, gain = 1.5, 2.0, 3.6, 2.0
    kernelSigma = np.sqrt(scienceSigma ** 2 - templateSigma ** 2)
    x = rng.uniform(40, size - 40, nTransients + nMovers)
    y = rng.uniform(40, size - 40, nTransients + nMovers)
    flux = np.exp(rng.uniform(np.log(3e3), np.log(5e4), x.size))
    shift = rng.uniform(0.5, 3.0, nMovers)
    angle = rng.uniform(0, 2 * np.pi, nMovers)
    science = np.zeros(shape)
    template = np.zeros(shape)
    addStars(science, x, y, flux, templateSigma)
    movers = slice(nTransients, None)
    addStars(template, x[movers] - shift * np.cos(angle), y[movers] - shift * np.sin(angle),
             scale * flux[movers], templateSigma)
    science = ndimage.gaussian_filter(science, kernelSigma) + 1000.0
    scienceVar = science / gain
    science += rng.normal(size=shape) * np.sqrt(scienceVar)
    templateVar = (template + 3000.0) / gain
    template += 3000.0 + rng.normal(size=shape) * np.sqrt(templateVar)
    matched = ndimage.gaussian_filter(template, kernelSigma) / scale
    matchedVar = templateVar / (4 * np.pi * kernelSigma ** 2 * scale ** 2)
    psf = GaussianPsf(scienceSigma)
    return (Exposure(image=science, variance=scienceVar, psf=psf),
            Exposure(image=matched, variance=matchedVar, psf=psf),
            Exposure(image=science - matched - (1000.0 - 3000.0 / scale),
                     variance=scienceVar + matchedVar, psf=psf))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--transients", type=int, default=4000)
    parser.add_argument("--movers", type=int, default=400)
    args = parser.parse_args()
    science, matched, difference = makeField(args.size, args.transients, args.movers)
    start = time.perf_counter()
    detection = detectSources(difference)
    detected = time.perf_counter()
    sources, footprints = detection.diaSources, detection.footprints
    PsfMeasurement().diffim_measurement(sources, footprints, difference, science, matched,
                                        PsfMeasurementConfig(), False)
    based = time.perf_counter()
    out = DipoleMeasurement().diffim_measurement(sources, footprints, difference, science,
                                                 matched, DipoleMeasurementConfig(), True)
    done = time.perf_counter()
    fitted = int((~out["ip_diffim_DipoleFit_flag"]).sum())
    print(f"{args.size}x{args.size}: {len(sources)} diaSources, "
          f"{int(sources['isDipoleCandidate'].sum())} dipole candidates, {fitted} fitted")
    print(f"detection {detected - start:.2f} s; psf plugin {based - detected:.2f} s; "
          f"dipole plugin {done - based:.2f} s")


if __name__ == "__main__":
    main()
