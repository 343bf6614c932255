"""Simulated science fields with stars, galaxies and cosmic rays, and a purity judge.

Helpers are fixtures (the tests run in importlib mode, so conftest cannot be imported).
"""
from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from scipy import special
from scipy.spatial import cKDTree

from diffim.testing.simulate import simulatePair
from diffim_star_selectors import SourceMeasurementConfig, measureSources

#: Size of the simulated fields (pixels).
SIZE = 1024

#: Isolation radius the selectors use in these tests (their default).
ISOLATION = 10.0

#: A neighbour "blends" a star when it is detectable on its own at this PSF-optimal S/N ...
BLEND_SNR = 10.0

#: ... and holds at least this fraction of the star's flux.
BLEND_FRACTION = 0.01


def gaussianBlob(shape: tuple[int, int], x: float, y: float, sigma: float,
                 flux: float) -> tuple[slice, slice, np.ndarray]:
    """A pixel-integrated circular Gaussian of ``flux`` and the slices it covers."""
    h, w = shape
    half = int(np.ceil(5 * sigma))
    xi, yi = int(round(x)), int(round(y))
    ys = slice(max(yi - half, 0), min(yi + half + 1, h))
    xs = slice(max(xi - half, 0), min(xi + half + 1, w))
    gx = np.diff(special.erf((np.arange(xs.start, xs.stop + 1) - 0.5 - x) / (np.sqrt(2) * sigma)))
    gy = np.diff(special.erf((np.arange(ys.start, ys.stop + 1) - 0.5 - y) / (np.sqrt(2) * sigma)))
    return ys, xs, flux * np.outer(gy, gx) / 4.0


def makeField(seed: int, nGalaxies: int = 60, nCosmics: int = 80):
    """Science exposure of stars plus galaxies (sigma 3x the PSF) and single-pixel cosmic rays.

    Returns the exposure and a truth table (``kind`` star, galaxy or cr; ``x``,
    ``y``, ``flux``). Galaxy fluxes are log-uniform in 2e4-5e5 ADU, cosmic-ray
    pixel values in 3e3-6e4 ADU (many above the object-size flux limit).
    """
    science, _, truth = simulatePair(size=SIZE, nTransients=0, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    sigma = science.psf.sigma()
    gain = float(science.metadata["GAIN"])
    gx, gy = rng.uniform(20, SIZE - 21, (2, nGalaxies))
    gf = np.exp(rng.uniform(np.log(2e4), np.log(5e5), nGalaxies))
    model = np.zeros(science.shape)
    for x, y, f in zip(gx, gy, gf):
        ys, xs, blob = gaussianBlob(science.shape, x, y, 3.0 * sigma, f)
        model[ys, xs] += blob
    science.image += (rng.poisson(model * gain) / gain).astype(np.float32)
    science.variance += (model / gain).astype(np.float32)
    cx, cy = rng.integers(5, SIZE - 5, (2, nCosmics))
    cf = np.exp(rng.uniform(np.log(3e3), np.log(6e4), nCosmics))
    science.image[cy, cx] += cf.astype(np.float32)
    kinds = np.concatenate([np.asarray(truth["kind"]), np.full(nGalaxies, "galaxy"),
                            np.full(nCosmics, "cr")])
    table = Table({"kind": kinds,
                   "x": np.concatenate([truth["x"], gx, cx.astype(float)]),
                   "y": np.concatenate([truth["y"], gy, cy.astype(float)]),
                   "flux": np.concatenate([truth["scienceFlux"], gf, cf])})
    return science, table


def blendFlux(science) -> float:
    """Flux of a background-limited point source at S/N :data:`BLEND_SNR`."""
    sigma = science.psf.sigma()
    return BLEND_SNR * float(np.sqrt(4 * np.pi * sigma ** 2 * np.median(science.variance)))


def judge(selected: Table, truth: Table, science) -> dict:
    """Classify each selected source against the truth.

    A selection is a *true isolated star* when its nearest truth object is a
    star within 1 pixel and no other truth object within :data:`ISOLATION`
    pixels is both detectable on its own (S/N >= :data:`BLEND_SNR`) and at least
    :data:`BLEND_FRACTION` of the star's flux.

    Returns
    -------
    dict
        ``good`` (bool per selection), ``kind`` (truth kind of the nearest
        object) and ``distance`` (to it, pixels).
    """
    points = np.column_stack([truth["x"], truth["y"]])
    tree = cKDTree(points)
    distance, index = tree.query(np.column_stack([selected["x"], selected["y"]]))
    limit = blendFlux(science)
    good = np.zeros(len(selected), dtype=bool)
    for k, j in enumerate(index):
        if distance[k] > 1.0 or truth["kind"][j] != "star":
            continue
        near = [m for m in tree.query_ball_point(points[j], ISOLATION) if m != j]
        flux = truth["flux"]
        good[k] = not any(flux[m] >= limit and flux[m] >= BLEND_FRACTION * flux[j] for m in near)
    return {"good": good, "kind": np.asarray(truth["kind"])[index], "distance": distance}


def cleanStars(truth: Table, fluxMin: float, fluxMax: float, margin: float) -> np.ndarray:
    """Rows of unsaturated stars in a flux range, ``margin`` from the edges, with no truth
    object within 1.5 isolation radii: stars every selector should find."""
    points = np.column_stack([truth["x"], truth["y"]])
    tree = cKDTree(points)
    rows = []
    for j in np.flatnonzero((truth["kind"] == "star") & (truth["flux"] >= fluxMin)
                            & (truth["flux"] <= fluxMax)):
        x, y = points[j]
        if min(x, y) < margin or max(x, y) > SIZE - 1 - margin:
            continue
        if len(tree.query_ball_point(points[j], 1.5 * ISOLATION)) == 1:
            rows.append(j)
    return np.array(rows, dtype=int)


def found(selected: Table, truth: Table, rows: np.ndarray) -> np.ndarray:
    """True for each truth row that has a selection within 1 pixel."""
    if len(selected) == 0:
        return np.zeros(len(rows), dtype=bool)
    distance, _ = cKDTree(np.column_stack([selected["x"], selected["y"]])).query(
        np.column_stack([truth["x"][rows], truth["y"][rows]]))
    return distance < 1.0


@pytest.fixture(scope="session")
def fields():
    """Two simulated fields: ``[(science, truth, measured sources), ...]``."""
    out = []
    for seed in (1, 2):
        science, truth = makeField(seed)
        out.append((science, truth, measureSources(science, SourceMeasurementConfig())))
    return out


@pytest.fixture
def judgeSelection():
    """:func:`judge`."""
    return judge


def selectionQuality(select, fields, minStars: int) -> tuple[float, float]:
    """Run ``select(sources, science)`` on every field and score it against the truth.

    Each field must give at least ``minStars`` selections, none of them within 2 px
    of a galaxy or a cosmic ray. Returns the fraction of selections that are true
    isolated stars (:func:`judge`) and the fraction of the clean stars of 15000 to
    3e5 counts (:func:`cleanStars`) that were selected.
    """
    verdicts, recovered = [], []
    for science, truth, sources in fields:
        stars = select(sources, science)
        assert len(stars) >= minStars
        verdict = judge(stars, truth, science)
        assert not np.isin(verdict["kind"][verdict["distance"] < 2], ["galaxy", "cr"]).any()
        verdicts.append(verdict["good"])
        recovered.append(found(stars, truth, cleanStars(truth, 15000.0, 3e5, 25.0)))
    return float(np.concatenate(verdicts).mean()), float(np.concatenate(recovered).mean())


@pytest.fixture
def quality():
    """:func:`selectionQuality`."""
    return selectionQuality


@pytest.fixture
def blob():
    """:func:`gaussianBlob`."""
    return gaussianBlob
