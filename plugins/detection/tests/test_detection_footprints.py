"""Footprints, peaks, merging, growing and mask planes on small deterministic images."""
import numpy as np
import pytest
from astropy.wcs import WCS

from diffim import Exposure, GaussianPsf
from diffim.errors import InputError
from diffim_detection import ThresholdDetection, ThresholdDetectionConfig

SIGMA = 1.5
NOISE = 10.0


def run(exposure, doSmooth=True, doMerge=False, growFootprint=2, **overrides):
    config = ThresholdDetectionConfig(**overrides)
    return ThresholdDetection().diffim_detection(exposure=exposure, config=config,
                                                 doSmooth=doSmooth, doMerge=doMerge,
                                                 growFootprint=growFootprint)


def flatExposure(shape=(60, 60)):
    """Zero image, unit variance: pixel values are their own significance without smoothing."""
    return Exposure(image=np.zeros(shape, np.float32), variance=np.ones(shape, np.float32),
                    psf=GaussianPsf(SIGMA))


def dipoleExposure(sim, rng, separation, snr=25.0, shape=(200, 200)):
    exposure = sim.noiseExposure(shape, SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(snr, SIGMA, NOISE)
    sim.injectSources(exposure.image, [100.3, 100.3 + separation], [99.6, 99.6],
                      [flux, -flux], SIGMA)
    return exposure


def test_negative_sources_get_negative_flags_and_planes(sim):
    rng = np.random.default_rng(10)
    exposure = sim.noiseExposure((200, 200), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(20.0, SIGMA, NOISE)
    sim.injectSources(exposure.image, [50.2, 150.7], [60.4, 140.1], [flux, -flux], SIGMA)
    image = exposure.image.copy()
    result = run(exposure)
    sources = result.diaSources
    assert len(sources) == 2
    positive, negative = sources[0], sources[1]
    assert positive["isPositive"] and not positive["isNegative"] and not positive["flags_negative"]
    assert negative["isNegative"] and negative["flags_negative"] and not negative["isPositive"]
    assert abs(negative["x"] - 150.7) < 0.3 and abs(negative["y"] - 140.1) < 0.3
    assert negative["psfFlux"] < 0 and negative["peakValue"] < 0 and negative["snr"] < -10
    assert exposure.maskedPixels("DETECTED")[60, 50]
    assert not exposure.maskedPixels("DETECTED")[140, 150]
    assert exposure.maskedPixels("DETECTED_NEGATIVE")[140, 150]
    assert not exposure.maskedPixels("DETECTED_NEGATIVE")[60, 50]
    assert result.metadata["nPositive"] == 1 and result.metadata["nNegative"] == 1
    np.testing.assert_array_equal(exposure.image, image)


def test_merge_joins_an_adjacent_dipole_and_keeps_both_peaks(sim):
    rng = np.random.default_rng(11)
    merged = run(dipoleExposure(sim, rng, 5.0), doMerge=True)
    assert len(merged.diaSources) == 1 and merged.metadata["nMerged"] == 1
    dipole = merged.diaSources[0]
    assert dipole["isDipoleCandidate"] and dipole["isPositive"] and dipole["isNegative"]
    assert not dipole["flags_negative"] and dipole["nPeaks"] >= 2
    assert abs(dipole["posPeak_x"] - 100.3) <= 1 and abs(dipole["negPeak_x"] - 105.3) <= 1
    assert dipole["posPeakValue"] > 0 > dipole["negPeakValue"]
    assert abs(dipole["x"] - 102.8) < 0.3 and abs(dipole["y"] - 99.6) < 0.3

    rng = np.random.default_rng(11)
    separate = run(dipoleExposure(sim, rng, 5.0), doMerge=False)
    assert len(separate.diaSources) == 2 and separate.metadata["nMerged"] == 0
    np.testing.assert_array_equal(separate.diaSources["flags_negative"], [False, True])
    assert not separate.diaSources["isDipoleCandidate"].any()
    np.testing.assert_allclose(separate.diaSources["x"], [100.3, 105.3], atol=0.3)


def test_merge_grows_by_growFootprint(sim):
    # Lobes 26 px apart: their grown footprints (radius about 8 px) leave a gap of about
    # 10 px, which growing each side by 2 px does not close and by 8 px does.
    rng = np.random.default_rng(12)
    exposure = dipoleExposure(sim, rng, 26.0)
    assert len(run(exposure.clone(), doMerge=True, growFootprint=2).diaSources) == 2
    assert len(run(exposure.clone(), doMerge=True, growFootprint=8).diaSources) == 1


def test_no_data_region_gives_no_detections(sim):
    rng = np.random.default_rng(13)
    exposure = sim.noiseExposure((200, 200), SIGMA, NOISE, rng)
    region = (slice(40, 160), slice(40, 160))
    exposure.image[region] = rng.normal(0.0, 50 * NOISE, (120, 120))
    exposure.image[70:80, 70:80] = np.nan
    exposure.setMask(np.pad(np.ones((120, 120), bool), 40), "NO_DATA")
    result = run(exposure)
    assert len(result.diaSources) == 0
    assert not exposure.maskedPixels("DETECTED", "DETECTED_NEGATIVE").any()


def test_source_next_to_no_data_uses_only_valid_pixels(sim):
    rng = np.random.default_rng(14)
    exposure = sim.noiseExposure((100, 100), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(30.0, SIGMA, NOISE)
    sim.injectSources(exposure.image, 50.0, 50.0, flux, SIGMA)
    exposure.image[:, 53:] = 1e6
    exposure.setMask(np.arange(100)[None, :].repeat(100, 0) >= 53, "NO_DATA")
    source = run(exposure).diaSources
    assert len(source) == 1 and source["pixelFlags_noData"][0]
    assert abs(source["psfFlux"][0] / flux - 1.0) < 0.15
    assert source["psfFluxErr"][0] > sim.fluxForSnr(1.0, SIGMA, NOISE)


def test_smoothing_border_is_marked_edge_and_flags_sources_near_it(sim):
    rng = np.random.default_rng(15)
    exposure = sim.noiseExposure((120, 120), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(30.0, SIGMA, NOISE)
    sim.injectSources(exposure.image, [12.0, 60.0], [60.0, 60.0], flux, SIGMA)
    result = run(exposure, nSigmaForKernel=7.0)
    width = result.metadata["smoothingKernelWidth"]
    assert width == 2 * (int(7.0 * exposure.psf.sigma() + 0.5) // 2) + 1
    edge = exposure.maskedPixels("EDGE")
    half = width // 2
    assert edge[:half].all() and edge[:, -half:].all()
    assert not edge[half:-half, half:-half].any()
    np.testing.assert_array_equal(result.diaSources["pixelFlags_edge"], [True, False])
    noSmooth = sim.noiseExposure((120, 120), SIGMA, NOISE, rng)
    run(noSmooth, doSmooth=False)
    assert not noSmooth.maskedPixels("EDGE").any()


def test_footprint_labels_match_rows_and_detected_planes_are_reset(sim):
    rng = np.random.default_rng(16)
    exposure = sim.noiseExposure((150, 150), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(20.0, SIGMA, NOISE)
    sim.injectSources(exposure.image, [30.0, 75.0, 120.0], [40.0, 100.0, 60.0],
                      [flux, -flux, flux], SIGMA)
    exposure.setMask(np.ones(exposure.shape, bool), "DETECTED", "DETECTED_NEGATIVE")
    result = run(exposure, doMerge=True)
    sources, labels = result.diaSources, result.footprints
    assert labels.dtype == np.int32 and labels.shape == exposure.shape
    np.testing.assert_array_equal(sources["id"], np.arange(1, len(sources) + 1))
    np.testing.assert_array_equal(labels[sources["peak_y"], sources["peak_x"]], sources["id"])
    np.testing.assert_array_equal(np.bincount(labels.ravel())[1:], sources["footprintArea"])
    detected = exposure.maskedPixels("DETECTED") | exposure.maskedPixels("DETECTED_NEGATIVE")
    assert detected.mean() < 0.1 and np.all(labels[detected] > 0)


def test_growth_shapes_follow_nSigmaToGrow_and_isotropicGrow():
    radius = 3
    grow = (radius + 0.2) / GaussianPsf(SIGMA).sigma()
    offsets = np.arange(-radius, radius + 1)
    disc = int((offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius ** 2).sum())
    for isotropic, area in ((False, 2 * radius ** 2 + 2 * radius + 1), (True, disc)):
        exposure = flatExposure()
        exposure.image[30, 30] = 100.0
        result = run(exposure, doSmooth=False, thresholdValue=50.0, nSigmaToGrow=grow,
                     isotropicGrow=isotropic)
        assert result.metadata["nGrow"] == radius
        assert result.diaSources["footprintArea"][0] == area
        assert exposure.maskedPixels("DETECTED").sum() == area


def test_combinedGrow_joins_footprints_that_touch_after_growing():
    grow = 3.2 / GaussianPsf(SIGMA).sigma()
    for combined, count in ((True, 1), (False, 2)):
        exposure = flatExposure()
        exposure.image[30, 25] = exposure.image[30, 31] = 100.0
        result = run(exposure, doSmooth=False, thresholdValue=50.0, nSigmaToGrow=grow,
                     combinedGrow=combined, doDeblend=False)
        assert len(result.diaSources) == count
        assert result.diaSources["footprintArea"].sum() == exposure.maskedPixels("DETECTED").sum()
    # Each pixel of the overlap belongs to the nearer footprint.
    assert result.footprints[30, 27] == 1 and result.footprints[30, 29] == 2


def test_diagonal_pixels_form_one_footprint_and_minPixels_drops_small_ones():
    exposure = flatExposure()
    exposure.image[20, 20] = exposure.image[21, 21] = 100.0
    exposure.image[40, 40] = 100.0
    result = run(exposure, doSmooth=False, thresholdValue=50.0, nSigmaToGrow=0.0,
                 doDeblend=False)
    np.testing.assert_array_equal(result.diaSources["footprintArea"], [2, 1])
    result = run(exposure, doSmooth=False, thresholdValue=50.0, nSigmaToGrow=0.0, minPixels=2,
                 doDeblend=False)
    np.testing.assert_array_equal(result.diaSources["footprintArea"], [2])


def test_includeThresholdMultiplier_needs_a_bright_pixel_but_keeps_the_footprint():
    exposure = flatExposure()
    exposure.image[20, 20:23] = [60.0, 120.0, 60.0]
    exposure.image[40, 40:43] = [60.0, 80.0, 60.0]
    result = run(exposure, doSmooth=False, thresholdValue=50.0, nSigmaToGrow=0.0,
                 includeThresholdMultiplier=2.0)
    assert len(result.diaSources) == 1
    assert result.diaSources["footprintArea"][0] == 3 and result.diaSources["peak_x"][0] == 21


def test_thresholdPolarity_selects_signs(sim):
    rng = np.random.default_rng(17)
    exposure = sim.noiseExposure((150, 150), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(20.0, SIGMA, NOISE)
    sim.injectSources(exposure.image, [40.0, 110.0], [75.0, 75.0], [flux, -flux], SIGMA)
    for polarity, signs in (("positive", [True]), ("negative", [False]), ("both", [True, False])):
        sources = run(exposure.clone(), thresholdPolarity=polarity).diaSources
        np.testing.assert_array_equal(sources["isPositive"], signs)


def test_stdev_threshold_measures_the_noise_that_pixel_stdev_takes_from_the_variance(sim):
    # The variance plane is 4x too small: the per-pixel cut sits at 2.5 true sigma and fires
    # thousands of times, the clipped-stdev cut measures the real noise and stays at 5 sigma.
    rng = np.random.default_rng(18)
    exposure = sim.noiseExposure((500, 500), SIGMA, NOISE, rng, varianceScale=0.25)
    assert len(run(exposure.clone(), thresholdType="pixel_stdev",
                   doScaleToMeasuredNoise=False).diaSources) > 500
    assert len(run(exposure.clone(), thresholdType="stdev").diaSources) <= 2


def test_measured_noise_scales_the_threshold_up_to_maxNoiseCorrection(sim, caplog):
    # Variance 4x too small: measured ratio 2, corrected, back to a 5-sigma cut. Variance
    # 16x too small: ratio 4 is more than correlated noise explains, so nothing is hidden.
    rng = np.random.default_rng(18)
    halved = sim.noiseExposure((500, 500), SIGMA, NOISE, rng, varianceScale=0.25)
    result = run(halved, thresholdType="pixel_stdev")
    assert result.metadata["noiseRatio"] == pytest.approx(2.0, rel=0.05)
    assert result.noiseCorrection == pytest.approx(2.0, rel=0.05)
    assert len(result.diaSources) <= 2
    quartered = sim.noiseExposure((500, 500), SIGMA, NOISE, rng, varianceScale=1 / 16)
    result = run(quartered, thresholdType="pixel_stdev")
    assert result.metadata["noiseRatio"] == pytest.approx(4.0, rel=0.05)
    assert result.noiseCorrection == 1.0
    assert len(result.diaSources) > 100          # a 1.25-sigma cut: footprints merge
    assert "more than detection.maxNoiseCorrection=3.00" in caplog.text


def test_value_threshold_is_in_counts_of_the_smoothed_image():
    exposure = flatExposure()
    exposure.image[30, 30] = 100.0
    kernel = np.exp(-0.5 * (np.arange(-5, 6) / GaussianPsf(SIGMA).sigma()) ** 2)
    peak = 100.0 * (kernel.max() / kernel.sum()) ** 2
    assert len(run(exposure.clone(), thresholdType="value", thresholdValue=0.95 * peak)
               .diaSources) == 1
    assert len(run(exposure.clone(), thresholdType="value", thresholdValue=1.05 * peak)
               .diaSources) == 0


def test_statsMask_excludes_planes_from_the_stdev_statistic_but_not_from_variance(sim):
    # A BAD half with 3x the noise: 'stdev' leaves it out of the noise estimate (so a S/N 8
    # source in the good half is found), 'variance' includes it and misses the source.
    rng = np.random.default_rng(19)
    exposure = sim.noiseExposure((300, 300), SIGMA, NOISE, rng)
    exposure.image[:, 150:] *= 3.0
    bad = np.zeros(exposure.shape, bool)
    bad[:, 150:] = True
    exposure.setMask(bad, "BAD")
    sim.injectSources(exposure.image, 70.0, 150.0, sim.fluxForSnr(8.0, SIGMA, NOISE), SIGMA)
    found = run(exposure.clone(), thresholdType="stdev", thresholdPolarity="positive")
    assert np.any(np.hypot(found.diaSources["x"] - 70.0, found.diaSources["y"] - 150.0) < 1)
    missed = run(exposure.clone(), thresholdType="variance", thresholdPolarity="positive")
    assert not np.any(np.hypot(missed.diaSources["x"] - 70.0, missed.diaSources["y"] - 150.0) < 1)
    statsBad = run(exposure.clone(), thresholdType="stdev", thresholdPolarity="positive",
                   statsMask=["EDGE"])
    assert not np.any(np.hypot(statsBad.diaSources["x"] - 70.0,
                               statsBad.diaSources["y"] - 150.0) < 1)


def test_pixel_flags_report_mask_planes_near_the_footprint(sim):
    rng = np.random.default_rng(20)
    exposure = sim.noiseExposure((150, 150), SIGMA, NOISE, rng)
    flux = sim.fluxForSnr(30.0, SIGMA, NOISE)
    sim.injectSources(exposure.image, [40.0, 110.0], [75.0, 75.0], flux, SIGMA)
    exposure.mask[75, 44] |= exposure.bitmask("SAT", "CR")
    exposure.mask[20, 20] |= exposure.bitmask("BAD")
    sources = run(exposure).diaSources
    np.testing.assert_array_equal(sources["pixelFlags_saturated"], [True, False])
    np.testing.assert_array_equal(sources["pixelFlags_cr"], [True, False])
    assert not sources["pixelFlags_bad"].any() and not sources["pixelFlags_suspect"].any()


def test_sky_positions_come_from_the_wcs(sim):
    rng = np.random.default_rng(21)
    exposure = sim.noiseExposure((100, 100), SIGMA, NOISE, rng)
    sim.injectSources(exposure.image, 40.3, 60.8, sim.fluxForSnr(30.0, SIGMA, NOISE), SIGMA)
    noWcs = run(exposure.clone()).diaSources
    assert np.isnan(noWcs["ra"][0]) and np.isnan(noWcs["dec"][0])
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [50.5, 50.5]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    exposure.wcs = wcs
    source = run(exposure).diaSources[0]
    ra, dec = wcs.pixel_to_world_values(source["x"], source["y"])
    assert source["ra"] == pytest.approx(ra, abs=1e-10)
    assert source["dec"] == pytest.approx(dec, abs=1e-10)
    assert str(noWcs["ra"].unit) == "deg" and noWcs["x"].description


def test_missing_psf_variance_or_plane_is_a_user_error():
    exposure = flatExposure()
    with pytest.raises(InputError, match="PSF"):
        run(Exposure(image=exposure.image, variance=exposure.variance))
    with pytest.raises(InputError, match="variance"):
        run(Exposure(image=exposure.image, psf=GaussianPsf(SIGMA)))
    # a statsMask plane the exposure lacks counts as empty
    assert len(run(exposure, statsMask=["BAD", "GHOST"]).diaSources) == \
        len(run(exposure, statsMask=["BAD"]).diaSources)
