"""Point-source fits on the unsmoothed difference: close pairs, transients by saturation."""
import numpy as np
import pytest

from diffim_detection import ThresholdDetection, ThresholdDetectionConfig

SIGMA = 2.0
NOISE = 10.0


def run(exposure, **overrides):
    return ThresholdDetection().diffim_detection(
        exposure=exposure, config=ThresholdDetectionConfig(**overrides), doSmooth=True,
        doMerge=True, growFootprint=2)


@pytest.mark.parametrize("separation", [3.5, 4.0, 4.5])
def test_two_transients_closer_than_two_psf_sigmas_are_two_sources(sim, separation):
    # S/N 40 and 20, 1.75-2.25 PSF sigmas apart: one peak, smoothed or not
    found = 0
    for seed in range(6):
        exposure = sim.noiseExposure((100, 100), SIGMA, NOISE, np.random.default_rng(seed))
        flux = sim.fluxForSnr(np.array([40.0, 20.0]), SIGMA, NOISE)
        x = np.array([48.3, 48.3 + separation])
        sim.injectSources(exposure.image, x, [50.6, 50.6], flux, SIGMA)
        sources = run(exposure).diaSources
        if len(sources) != 2:
            continue
        found += 1
        order = np.argsort(sources["x"])
        # each centroid is pulled towards its sibling by the light they share
        np.testing.assert_allclose(sources["x"][order], x, atol=1.25)
        np.testing.assert_array_equal(sources["deblend_nChild"], [2, 2])
    assert found >= 5
    # without deblending they are one source
    assert len(run(exposure, doDeblend=False).diaSources) == 1


@pytest.mark.parametrize("widthError", [0.97, 1.03, 1.05])
def test_a_bright_source_a_little_off_the_psf_model_is_not_split(sim, widthError):
    # a PSF model a few per cent too broad or too narrow leaves a ring a second source
    # could be fitted to; it must not be, at any brightness
    splits = 0
    for seed in range(12):
        rng = np.random.default_rng(200 + seed)
        exposure = sim.noiseExposure((100, 100), SIGMA, NOISE, rng)
        snr = 10.0 ** rng.uniform(1.3, 3.0)
        sim.injectSources(exposure.image, 50.3, 49.8, sim.fluxForSnr(snr, SIGMA, NOISE),
                          SIGMA * widthError)
        splits += len(run(exposure).diaSources) - 1
    assert splits == 0


def _saturatedResidual(sim, rng, withTransient):
    """A saturated star's residual (a bright ring, SAT over its core) and maybe a transient."""
    exposure = sim.noiseExposure((100, 100), SIGMA, NOISE, rng)
    yy, xx = np.mgrid[:100, :100]
    radius = np.hypot(xx - 40.0, yy - 50.0)
    exposure.image += (100.0 * np.exp(-0.5 * ((radius - 2.5) / 0.8) ** 2)).astype(np.float32)
    exposure.maskPlanes.add("SAT")
    exposure.setMask(radius <= 4.5, "SAT")
    if withTransient:       # 3.5 px (1.75 PSF sigmas) from the nearest SAT pixel
        flux = sim.fluxForSnr(40.0, SIGMA, NOISE)
        sim.injectSources(exposure.image, 48.0, 50.4, flux, SIGMA)
    return exposure


def test_a_transient_beside_a_saturated_star_is_its_own_source(sim):
    for seed in range(4):
        sources = run(_saturatedResidual(sim, np.random.default_rng(seed), True)).diaSources
        distance = np.hypot(sources["x"] - 48.0, sources["y"] - 50.4)
        assert distance.min() < 1.0
        assert len(sources) == 2


def test_a_saturated_star_residual_is_one_source(sim):
    for seed in range(4):
        sources = run(_saturatedResidual(sim, np.random.default_rng(seed), False)).diaSources
        assert len(sources) == 1

