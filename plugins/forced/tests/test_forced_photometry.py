"""Forced PSF fluxes on the science image: truth recovery, errors, masks, edges and the sky."""
import numpy as np

from diffim_forced import PsfForcedMeasurement, PsfForcedMeasurementConfig

FLUX = "ip_diffim_forced_PsfFlux_instFlux"
ERR = "ip_diffim_forced_PsfFlux_instFluxErr"
AREA = "ip_diffim_forced_PsfFlux_area"


def _measure(sources, science, **overrides):
    return PsfForcedMeasurement().diffim_forcedMeasurement(
        sources, science, PsfForcedMeasurementConfig(**overrides))


def test_simulated_transients_recover_their_science_flux(transients):
    pulls, ratios = [], []
    for science, truth in transients.pairs:
        out = _measure(truth, science)
        assert not out["ip_diffim_forced_PsfFlux_flag"].any()
        flux, error, true = np.asarray(out[FLUX]), np.asarray(out[ERR]), truth["scienceFlux"]
        pulls.append((flux - true) / error)
        ratios.append((flux / true)[true / error > 20.0])
    pulls, ratios = np.concatenate(pulls), np.concatenate(ratios)
    assert len(ratios) > 200
    assert abs(np.median(ratios) - 1.0) < 0.01
    assert abs(np.mean(ratios) - 1.0) < 0.01
    assert abs(np.std(pulls) - 1.0) < 0.1
    assert abs(np.mean(pulls)) < 0.15


def test_without_sky_subtraction_the_sky_pedestal_enters_the_flux(transients):
    science, truth = transients.pairs[0]
    out = _measure(truth[:20], science, doSubtractBackground=False)
    excess = np.asarray(out[FLUX]) - truth["scienceFlux"][:20]
    # The simulated sky is about 1000 ADU: the fit takes it as flux times the PSF's area.
    np.testing.assert_allclose(excess / np.asarray(out[AREA]), 1000.0, rtol=0.06)


def test_sky_pedestal_is_removed(makePointSources, catalog):
    rng = np.random.default_rng(11)
    x, y = np.meshgrid(np.arange(40.0, 480.0, 50.0), np.arange(40.0, 480.0, 50.0))
    x, y = x.ravel() + rng.uniform(-0.5, 0.5, x.size), y.ravel() + rng.uniform(-0.5, 0.5, x.size)
    science = makePointSources((512, 512), x, y, 2000.0, 2.0, 10.0, rng, pedestal=500.0)
    withSky = _measure(catalog(x, y), science, doSubtractBackground=False)
    noSky = _measure(catalog(x, y), science)
    pulls = (np.asarray(noSky[FLUX]) - 2000.0) / np.asarray(noSky[ERR])
    assert abs(np.mean(pulls)) < 0.5 and np.std(pulls) < 1.3
    np.testing.assert_allclose(np.asarray(withSky[FLUX]) - np.asarray(noSky[FLUX]),
                               500.0 * np.asarray(noSky[AREA]), rtol=0.01)


def test_area_is_the_effective_area_of_the_psf(makePointSources, catalog):
    science = makePointSources((64, 64), [], [], [], 2.0, 1.0, np.random.default_rng(2))
    out = _measure(catalog([31.0, 30.4], [31.0, 33.7]), science)
    # A pixel-integrated Gaussian of sigma s has (sum P)^2 / sum P^2 = 4 pi (s^2 + 1/12).
    np.testing.assert_allclose(out[AREA], 4.0 * np.pi * (4.0 + 1.0 / 12.0), rtol=0.01)


def test_masked_pixels_are_left_out_of_the_fit(makePointSources, catalog):
    rng = np.random.default_rng(3)
    science = makePointSources((64, 64), [32.0], [32.0], [3000.0], 2.0, 5.0, rng)
    science.image[31:34, 30] = 1.0e6
    science.setMask(science.image > 1.0e5, "NO_DATA")
    dropped = _measure(catalog([32.0], [32.0]), science, doSubtractBackground=False)
    kept = _measure(catalog([32.0], [32.0]), science, doSubtractBackground=False,
                    badMaskPlanes=[])
    assert abs(dropped[FLUX][0] - 3000.0) < 4 * dropped[ERR][0]
    assert kept[FLUX][0] > 1.0e4
    assert dropped[AREA][0] < kept[AREA][0]
    assert not dropped["ip_diffim_forced_PsfFlux_flag"][0]


def test_failures_and_edges_are_flagged(makePointSources, catalog):
    rng = np.random.default_rng(4)
    science = makePointSources((64, 64), [2.0], [30.0], [4000.0], 1.5, 5.0, rng)
    science.setMask(np.pad(np.ones((22, 22), bool), ((40, 2), (40, 2))), "BAD")
    out = _measure(catalog([2.0, 50.0, -40.0, np.nan, 30.0], [30.0, 50.0, 30.0, 5.0, 20.0]),
                   science, badMaskPlanes=["BAD"], doSubtractBackground=False)
    flag = out["ip_diffim_forced_PsfFlux_flag"]
    noGood = out["ip_diffim_forced_PsfFlux_flag_noGoodPixels"]
    edge = out["ip_diffim_forced_PsfFlux_flag_edge"]
    assert list(flag) == [False, True, True, True, False]
    assert list(noGood) == [False, True, True, False, False]
    assert list(edge) == [True, False, True, False, False]
    assert abs(out[FLUX][0] - 4000.0) < 4 * out[ERR][0]
    assert np.isnan(out[FLUX][1:4]).all() and np.isfinite(out[FLUX][[0, 4]]).all()
