"""Simulated science exposures for the forced-photometry tests (fixtures: importlib mode)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import erf
from astropy.table import Table

from diffim import Exposure, GaussianPsf
from diffim.testing.simulate import simulatePair

@pytest.fixture(scope="module")
def transients() -> SimpleNamespace:
    """Two simulated 1024² science exposures and the truth rows of their 250 transients each."""
    pairs = []
    for seed in (1, 2):
        science, _, truth = simulatePair(size=1024, nTransients=250, seed=seed)
        pairs.append((science, truth[truth["kind"] == "transient"]))
    return SimpleNamespace(pairs=pairs)

def _integrated(centre: float, size: int, sigma: float) -> np.ndarray:
    """Unit-sum Gaussian of ``sigma`` centred on ``centre``, integrated over ``size`` pixels."""
    edges = np.arange(size + 1) - 0.5
    return np.diff(0.5 * (1.0 + erf((edges - centre) / (np.sqrt(2.0) * sigma))))


def pointSources(shape: tuple[int, int], x, y, flux, sigma: float, noise: float,
                 rng: np.random.Generator, pedestal: float = 0.0) -> Exposure:
    """White noise of rms ``noise`` plus ``pedestal`` plus Gaussian point sources of ``flux``.

    The sources are pixel-integrated Gaussians of ``sigma`` at sub-pixel ``(x, y)``;
    the exposure's PSF is ``GaussianPsf(sigma)`` and its variance plane ``noise**2``.
    """
    image = rng.normal(pedestal, noise, shape)
    x, y, flux = np.broadcast_arrays(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(flux))
    for xs, ys, fs in zip(x, y, flux):
        image += fs * np.outer(_integrated(ys, shape[0], sigma), _integrated(xs, shape[1], sigma))
    return Exposure(image=image, variance=np.full(shape, noise ** 2), psf=GaussianPsf(sigma))


@pytest.fixture
def makePointSources():
    """:func:`pointSources`."""
    return pointSources

@pytest.fixture
def catalog():
    """``catalog(x, y)``: a diaSource-like table with ids and an extra column to carry through."""
    def make(x, y) -> Table:
        x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
        return Table({"id": np.arange(1, len(x) + 1), "x": x, "y": y,
                      "psfFlux": np.linspace(1.0, 2.0, len(x))})
    return make
