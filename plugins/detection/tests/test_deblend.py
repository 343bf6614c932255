"""Deblending: one diaSource per significant peak, never one per noise bump."""
import numpy as np
import pytest

from diffim_detection import ThresholdDetection, ThresholdDetectionConfig

SIGMA = 2.0
NOISE = 10.0


def run(exposure, doMerge=False, **overrides):
    return ThresholdDetection().diffim_detection(
        exposure=exposure, config=ThresholdDetectionConfig(**overrides), doSmooth=True,
        doMerge=doMerge, growFootprint=2)


def pair(sim, rng, separation, snr=(40.0, 25.0), sign=(1, 1)):
    exposure = sim.noiseExposure((120, 120), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(np.array(snr), SIGMA, NOISE) * np.array(sign)
    x = np.array([55.3, 55.3 + separation])
    sim.injectSources(exposure.image, x, [60.6, 60.6], flux, SIGMA)
    return exposure, x, flux


@pytest.mark.parametrize("separation, minimumSplit", [(6.0, 3), (8.0, 5), (12.0, 5)])
def test_two_transients_in_one_footprint_become_two_children(sim, separation, minimumSplit):
    # S/N 40 and 25, PSF sigma 2: smoothing joins them into one peak below about 5.6 px;
    # the unsmoothed image still separates them from about 5 px.
    found = 0
    for seed in range(5):
        exposure, x, flux = pair(sim, np.random.default_rng(seed), separation)
        sources = run(exposure).diaSources
        if len(sources) != 2:
            continue
        found += 1
        order = np.argsort(sources["x"])
        # a child's centroid is pulled towards its sibling by the light they share
        np.testing.assert_allclose(sources["x"][order], x, atol=0.6 if separation > 6 else 1.0)
        np.testing.assert_allclose(sources["psfFlux"][order], flux, rtol=0.25)
        np.testing.assert_array_equal(sources["deblend_nChild"], [2, 2])
        assert sources["parent"][0] == sources["parent"][1] > 0
    assert found >= minimumSplit
    # the same pairs without deblending: their grown footprints join into one source
    exposure, _, _ = pair(sim, np.random.default_rng(0), separation)
    assert len(run(exposure, doDeblend=False).diaSources) == 1


def test_a_bright_source_is_never_split_by_its_noise(sim):
    splits = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        exposure = sim.noiseExposure((120, 120), SIGMA, NOISE, rng)
        snr = 10.0 ** rng.uniform(1.0, 3.0)
        sim.injectSources(exposure.image, 60.2, 59.7, sim.fluxForSnr(snr, SIGMA, NOISE), SIGMA)
        sources = run(exposure).diaSources
        splits += len(sources) - 1
        assert (sources["parent"] == 0).all() or len(sources) > 1
    assert splits == 0


def test_a_transient_beside_a_dipole_stays_its_own_source(sim):
    rng = np.random.default_rng(7)
    exposure = sim.noiseExposure((120, 120), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(60.0, SIGMA, NOISE)
    # a dipole (lobes 3 px apart) and a transient 9 px from its positive lobe
    sim.injectSources(exposure.image, [50.0, 53.0, 41.0], [60.0, 60.0, 60.0],
                      [flux, -flux, 0.5 * flux], SIGMA)
    sources = run(exposure, doMerge=True).diaSources
    assert len(sources) == 2
    dipole = sources[sources["isDipoleCandidate"]]
    single = sources[~sources["isDipoleCandidate"]]
    assert len(dipole) == 1 and len(single) == 1
    assert abs(dipole["x"][0] - 51.5) < 1.0
    assert abs(single["x"][0] - 41.0) < 0.6 and single["isPositive"][0]
    # without deblending the transient is lost inside the dipole's footprint
    assert len(run(exposure.clone(), doMerge=True, doDeblend=False).diaSources) == 1


def test_footprints_touching_saturated_pixels_are_split_at_smoothed_peaks_only(sim):
    # 5.5 px: one peak once smoothed, two in the unsmoothed image
    exposure, _, _ = pair(sim, np.random.default_rng(0), 5.5, snr=(100.0, 100.0))
    assert len(run(exposure.clone()).diaSources) == 2
    saturated = np.zeros(exposure.shape, dtype=bool)
    saturated[60, 52] = True
    exposure.setMask(saturated, "SAT")
    assert len(run(exposure).diaSources) == 1
