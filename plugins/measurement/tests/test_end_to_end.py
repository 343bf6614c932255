"""The measurement slot in the task: simulated pairs with moving stars and transients.

Three 1024-pixel pairs (150 transients and 40 stars that moved 0.5-3 px each) run through
the default pipeline with ``doMeasurement`` and ``doSkySources`` on.
"""
import numpy as np
import pytest

P = "ip_diffim_DipoleFit_"


def matched(run, kind, sim):
    """Truth rows of ``kind`` and the diaSources nearest them (within 2 px)."""
    truth = run.truth[run.truth["kind"] == kind]
    sources = run.result.diaSources
    real = sources[~sources["sky_source"]]
    index, distance = sim.nearest(real["x"], real["y"], truth["x"], truth["y"])
    found = distance < 2.0
    return truth[found], real[index[found]], found


def test_moving_stars_are_dipoles_and_transients_are_not(simulatedRuns, sim):
    movers = transients = found = calledDipole = 0
    for run in simulatedRuns:
        truth, rows, seen = matched(run, "mover", sim)
        movers += len(seen)
        found += rows[P + "flag_classification"].sum()
        truth, rows, seen = matched(run, "transient", sim)
        transients += seen.sum()
        calledDipole += rows[P + "flag_classification"].sum()
    assert movers == 120 and found >= 0.9 * movers
    assert transients > 380 and calledDipole <= 0.02 * transients


def test_transient_psf_fluxes_are_calibrated(simulatedRuns, sim):
    # transients well above the detection threshold (true S/N >= 10), so that the ones
    # found are not selected by their noise
    pulls = []
    for run in simulatedRuns:
        truth, rows, _ = matched(run, "transient", sim)
        bright = truth["differenceSnr"] >= 10
        pulls += list((rows["base_PsfFlux_instFlux"] - truth["differenceFlux"])[bright]
                      / rows["base_PsfFlux_instFluxErr"][bright])
    assert len(pulls) > 300
    assert abs(np.mean(pulls)) < 0.15
    assert np.std(pulls) == pytest.approx(1.0, abs=0.1)


def test_dipole_lobes_agree_with_the_moving_stars(simulatedRuns, sim):
    # The positive lobe is pinned by the science image, the negative one by the
    # PSF-matched template: both positions must agree with where the star was at each
    # epoch, and the flux with the true one, within their errors (the al plugin's
    # kernel-centroid clipping keeps the movers themselves out of the kernel fit, which
    # would otherwise shift the matched template's stars by up to 0.05 px).
    pulls = {"x+": [], "y+": [], "x-": [], "y-": [], "flux": []}
    for run in simulatedRuns:
        truth, rows, _ = matched(run, "mover", sim)
        for sign, tx, ty in (("+", "x", "y"), ("-", "templateX", "templateY")):
            lobe = "pos" if sign == "+" else "neg"
            pulls["x" + sign] += list((rows[f"{P}{lobe}_centroid_x"] - truth[tx])
                                      / rows[f"{P}{lobe}_centroid_xErr"])
            pulls["y" + sign] += list((rows[f"{P}{lobe}_centroid_y"] - truth[ty])
                                      / rows[f"{P}{lobe}_centroid_yErr"])
        pulls["flux"] += list((rows[P + "pos_instFlux"] - truth["scienceFlux"])
                              / rows[P + "pos_instFluxErr"])
        separation = np.hypot(truth["x"] - truth["templateX"], truth["y"] - truth["templateY"])
        assert np.all(np.abs(rows[P + "separation"] - separation)
                      < 3.0 * rows[P + "separationErr"])
    for name, values in pulls.items():                 # 120 movers: median known to 0.11
        values = np.asarray(values)
        assert len(values) == 120
        assert abs(np.median(values)) < 0.35, name
        assert np.std(values) == pytest.approx(1.0, abs=0.2), name
        assert np.mean(np.abs(values) < 3.0) >= 0.98, name


def test_sky_sources_measure_the_noise(simulatedRuns):
    pulls = []
    for run in simulatedRuns:
        sky = run.result.diaSources[run.result.diaSources["sky_source"]]
        assert len(sky) > 50 and sky[P + "flag"].all()
        assert np.array_equal(sky["base_GaussianCentroid_x"], sky["x"])
        pulls += list(sky["base_PsfFlux_instFlux"] / sky["base_PsfFlux_instFluxErr"])
    assert abs(np.mean(pulls)) < 0.2 and np.std(pulls) == pytest.approx(1.0, abs=0.15)
