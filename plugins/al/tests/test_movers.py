"""Stars that moved between the epochs must not steer the kernel's centroid.

A moving star's stamp is fitted well by a shifted kernel of the right sum, so it passes
the residual and kernel-sum cuts; ``kernelCentroidClipping`` removes it. The measure is
where the fitted spatial kernel puts a star: the adaptive centroid of
``kernel * templatePsf`` at nine positions (the truth is no shift: the template is on
the science grid).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

import diffim_al.solve as solve
from diffim.testing.simulate import simulatePair
from diffim_al import AlardLuptonSubtraction, ImagePsfMatchConfig
from diffim_al.kernel import CentroidGauge


def starShift(kernel: np.ndarray, psf: np.ndarray) -> float:
    """How far (pixels) the kernel moves a star of PSF ``psf`` (Gaussian-weighted,
    iterated to the star's centre)."""
    star = fftconvolve(kernel, psf)
    centre = (star.shape[0] - 1) / 2.0
    y, x = np.mgrid[:star.shape[0], :star.shape[1]]
    x0 = y0 = centre
    for _ in range(30):
        weight = star * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / 8.0)
        x1, y1 = (weight * x).sum() / weight.sum(), (weight * y).sum() / weight.sum()
        x0, y0 = x0 + 2.0 * (x1 - x0), y0 + 2.0 * (y1 - y0)
    return float(np.hypot(x0 - centre, y0 - centre))


@pytest.fixture(scope="module")
def moverPair():
    """1024x1024, 40 stars moved by 0.5-3 px, no transients, template on the science grid."""
    return simulatePair(size=1024, nTransients=0, nMovers=40, seed=1, offset=(0.0, 0.0))


def fit(pair, monkeypatch, **fields):
    science, template, truth = pair
    config = ImagePsfMatchConfig()
    for name, value in fields.items():
        setattr(config, name, value)
    solvers = []
    original = solve.KernelSolver.solve

    def keep(self):
        solvers.append(self)
        return original(self)

    monkeypatch.setattr(solve.KernelSolver, "solve", keep)
    result = AlardLuptonSubtraction().diffim_subtract(
        science=science, template=template, config=config, convolveTemplate=True,
        kernelSources=None, rng=np.random.default_rng(0))
    grid = np.linspace(0.05, 0.95, 3) * science.shape[1]
    kernel = result.psfMatchingKernel
    shift = max(starShift(kernel.at(x, y), template.psf.image) for x in grid for y in grid)
    return shift, solvers[0]


def test_moving_stars_are_clipped_and_the_kernel_stays_centred(moverPair, monkeypatch):
    shift, solver = fit(moverPair, monkeypatch)
    loose, _ = fit(moverPair, monkeypatch, kernelCentroidClipping=False)
    truth = moverPair[2]
    movers = truth[truth["kind"] == "mover"]
    candidates = solver.candidates
    distance = np.hypot(candidates.x[:, None] - np.asarray(movers["x"])[None, :],
                        candidates.y[:, None] - np.asarray(movers["y"])[None, :]).min(axis=1)
    used = solver._usable()
    assert np.count_nonzero(distance < 3) == 40          # every mover was a candidate
    assert np.count_nonzero(distance[used] < 3) == 0     # and none is in the final fit
    assert shift < 0.02
    assert loose > 2.0 * shift


def test_kernel_centroids_measure_a_shift():
    size, sigma = 21, 1.5
    offsets = np.arange(size) - size // 2
    images = np.stack([np.exp(-0.5 * (((offsets[None, :] - dx) ** 2
                                       + (offsets[:, None] - dy) ** 2) / sigma ** 2))
                       for dx, dy in ((0.0, 0.0), (0.4, -0.2), (-1.0, 0.5))])
    gauge = CentroidGauge(images, weightSigma=sigma)
    # each "kernel" is one of the images: a Gaussian weight of the same width halves
    # the shift
    centroids = gauge.centroids(np.eye(3))
    assert centroids == pytest.approx(np.array([[0, 0], [0.2, -0.1], [-0.5, 0.25]]), abs=1e-6)
    assert np.isnan(gauge.centroids(-np.eye(3)[:1])).all()
    # the gradients are those of the centroid: a small step in the coefficients
    coefficients = np.array([[1.0, 0.3, 0.2]])
    step = np.array([[0.0, 1e-6, 0.0]])
    numeric = (gauge.centroids(coefficients + step) - gauge.centroids(coefficients)) / 1e-6
    gradients = gauge.gradients(coefficients, gauge.centroids(coefficients))
    assert gradients[0, :, 1] == pytest.approx(numeric[0], rel=1e-4)
