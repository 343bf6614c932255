"""Behaviour on white noise: false detections, completeness, centroid and flux errors."""
import numpy as np
from scipy.stats import norm

from diffim_detection import ThresholdDetection, ThresholdDetectionConfig

SIGMA = 1.5
NOISE = 10.0


def run(exposure, doMerge=False, **overrides):
    config = ThresholdDetectionConfig(**overrides)
    return ThresholdDetection().diffim_detection(exposure=exposure, config=config, doSmooth=True,
                                                 doMerge=doMerge, growFootprint=2)


def test_false_detections_on_pure_noise_match_gaussian_expectation(sim):
    # Smoothed white noise is a Gaussian random field with correlation length
    # sqrt(2)*sigma; above 5 sigma it has about 0.5 excursions per Mpx for this PSF.
    rng = np.random.default_rng(1)
    exposure = sim.noiseExposure((2048, 2048), SIGMA, NOISE, rng)
    result = run(exposure, doMerge=True)
    megapixels = exposure.image.size / 1e6
    assert len(result.diaSources) / megapixels <= 2.0


def test_detected_fraction_is_the_gaussian_tail_of_the_smoothed_significance(sim):
    # Without growing, DETECTED marks exactly the pixels whose smoothed S/N passes the
    # threshold: a fraction norm.sf(2) = 2.3% of the searched pixels for each sign. A
    # variance smoothed with the kernel instead of the kernel squared gives 0 % or 30 %.
    rng = np.random.default_rng(2)
    exposure = sim.noiseExposure((1000, 1000), SIGMA, NOISE, rng)
    result = run(exposure, thresholdValue=2.0, nSigmaToGrow=0.0)
    searched = ~exposure.maskedPixels("EDGE")
    expected = norm.sf(2.0)
    for plane in ("DETECTED", "DETECTED_NEGATIVE"):
        fraction = exposure.maskedPixels(plane)[searched].mean()
        assert abs(fraction / expected - 1.0) < 0.1, (plane, fraction)
    assert result.metadata["nPositive"] > 100 and result.metadata["nNegative"] > 100


def test_injected_sources_are_all_found_with_calibrated_positions_and_fluxes(sim):
    rng = np.random.default_rng(3)
    exposure = sim.noiseExposure((900, 900), SIGMA, NOISE, rng)
    x, y = sim.gridPositions(exposure.shape, 40, 50, rng)
    snr = rng.uniform(10.0, 50.0, x.size)
    sign = np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0)
    flux = sign * sim.fluxForSnr(snr, SIGMA, NOISE)
    sim.injectSources(exposure.image, x, y, flux, SIGMA)
    sources = run(exposure).diaSources

    index, distance = sim.matchNearest(sources, x, y)
    assert distance.max() < 1.0
    assert len(np.unique(index)) == x.size
    # Noise alone gives about 0.5 detections per Mpx at 5 sigma (one here, at S/N 5.3).
    assert len(sources) - x.size <= 2
    matched = sources[index]
    np.testing.assert_array_equal(matched["isNegative"], sign < 0)
    np.testing.assert_array_equal(matched["isPositive"], sign > 0)
    # Centroid errors follow the Cramer-Rao bound sqrt(2) sigma / SNR of a PSF fit;
    # a plain first moment over the grown footprint is three times worse.
    bound = np.sqrt(2.0) * exposure.psf.sigma() / snr
    pullX = (matched["x"] - x) / bound
    pullY = (matched["y"] - y) / bound
    assert 0.8 < np.std(pullX) < 1.25 and 0.8 < np.std(pullY) < 1.25
    assert np.all(distance[snr >= 30] < 0.3)
    pull = (matched["psfFlux"] - flux) / matched["psfFluxErr"]
    assert np.mean(np.abs(pull) < 3.0) >= 0.98 and np.abs(pull).max() < 4.0
    np.testing.assert_allclose(matched["snr"], flux / matched["psfFluxErr"], rtol=0.5)


def test_psf_flux_error_matches_the_scatter_over_noise_realisations(sim):
    rng = np.random.default_rng(4)
    errors, residuals = [], []
    for _ in range(3):
        exposure = sim.noiseExposure((600, 600), SIGMA, NOISE, rng)
        x, y = sim.gridPositions(exposure.shape, 40, 65, rng)
        flux = sim.fluxForSnr(15.0, SIGMA, NOISE)
        sim.injectSources(exposure.image, x, y, flux, SIGMA)
        sources = run(exposure).diaSources
        index, distance = sim.matchNearest(sources, x, y)
        assert distance.max() < 1.0
        residuals.append(sources["psfFlux"][index] - flux)
        errors.append(sources["psfFluxErr"][index])
    residuals = np.concatenate(residuals)
    errors = np.concatenate(errors)
    assert residuals.size >= 190
    assert abs(np.std(residuals) / np.mean(errors) - 1.0) < 0.15
    assert abs(np.mean(residuals) / np.mean(errors)) < 0.25
    # Uniform weights on white noise: error = noise / sqrt(sum P^2).
    psf = exposure.psf.image
    np.testing.assert_allclose(errors, NOISE / np.sqrt((psf ** 2).sum()), rtol=0.03)
