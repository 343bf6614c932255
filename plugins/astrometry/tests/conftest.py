"""A simulated science exposure and a reference catalog of its stars at an earlier epoch."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from diffim.testing.simulate import simulatePair
from diffim_astrometry import propagate
from diffim_astrometry.motion import julianYear

#: Epoch of the reference positions (Julian years).
CATALOG_EPOCH = 2016.0

#: Proper-motion scatter (mas/yr per axis): about 1.2 arcsec per axis by the science date.
PM_SIGMA = 150.0


@pytest.fixture(scope="session")
def field():
    """Science exposure, its truth table and a reference catalog of its stars.

    The catalog holds every star (not the transients) at epoch 2016.0 with
    ids ``1000 + row``, proper motions, a ``g`` magnitude, a ``g_r`` colour and
    a ``variable`` flag; the truth positions are where the stars are at the
    science obsDate.
    """
    science, _, truth = simulatePair(size=512, nTransients=10, seed=11)
    rng = np.random.default_rng(12)
    stars = truth[truth["kind"] == "star"]
    n = len(stars)
    pmRa, pmDec = rng.normal(0.0, PM_SIGMA, n), rng.normal(0.0, PM_SIGMA, n)
    years = julianYear(science.obsDate) - CATALOG_EPOCH
    ra, dec = propagate(np.asarray(stars["ra"]), np.asarray(stars["dec"]), pmRa, pmDec, -years)
    catalog = Table({"id": 1000 + np.arange(n), "ra": ra, "dec": dec, "pmra": pmRa,
                     "pmdec": pmDec, "g": rng.uniform(15.0, 21.0, n),
                     "g_r": rng.normal(0.6, 0.3, n), "variable": rng.uniform(size=n) < 0.1})
    return science, truth, catalog


@pytest.fixture
def catalogFile(field, tmp_path):
    """The reference catalog written as FITS; returns its path."""
    path = tmp_path / "refcat.fits"
    field[2].write(path)
    return str(path)
