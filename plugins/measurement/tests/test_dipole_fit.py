"""The dipole model against exact truth: moving stars seen through a PSF-matched template."""
import numpy as np
import pytest
from scipy import ndimage

from diffim_measurement import DipoleMeasurement, DipoleMeasurementConfig
from diffim_measurement.noise import NoiseCorrelation, measureNoiseCorrelation

P = "ip_diffim_DipoleFit_"


def fitted(field, sim, config=None, template=True):
    """Measure a field; its fitted rows matched to the true movers (within 2 px)."""
    out = DipoleMeasurement().diffim_measurement(
        field.diaSources, field.footprints, field.difference, field.science,
        field.matched if template else None, config or DipoleMeasurementConfig(), True)
    index, distance = sim.nearest(out[P + "pos_centroid_x"], out[P + "pos_centroid_y"],
                                  field.xPos, field.yPos)
    return out, out[index], distance < 2.0


def pulls(fields, sim, config=None, template=True):
    """Pull of every fitted quantity against the truth, pooled over the fields."""
    values = {name: [] for name in ("f+", "f-", "x+", "y+", "x-", "y-")}
    for field in fields:
        _, rows, matched = fitted(field, sim, config, template)
        assert matched.mean() > 0.98 and not rows[P + "flag"][matched].any()
        rows = rows[matched]
        truth = {"f+": field.fluxPos[matched], "f-": field.fluxNeg[matched],
                 "x+": field.xPos[matched], "y+": field.yPos[matched],
                 "x-": field.xNeg[matched], "y-": field.yNeg[matched]}
        columns = {"f+": "pos_instFlux", "f-": "neg_instFlux", "x+": "pos_centroid_x",
                   "y+": "pos_centroid_y", "x-": "neg_centroid_x", "y-": "neg_centroid_y"}
        for name, column in columns.items():
            value = np.abs(rows[P + column]) if name[0] == "f" else rows[P + column]
            error = rows[P + column.replace("_x", "_xErr").replace("_y", "_yErr")
                         .replace("instFlux", "instFluxErr")]
            values[name] += list((value - truth[name]) / error)
    return {name: np.array(v) for name, v in values.items()}


def test_fluxes_and_lobe_positions_agree_with_truth_within_their_errors(dipoleFields, sim):
    # 256 moving stars (0.5-3 px, S/N 50-300) with the default (LSST) config: the
    # matched template's noise is correlated over several pixels and shared with the
    # difference, and the errors must account for both
    result = pulls(dipoleFields, sim)
    for name, values in result.items():
        assert len(values) >= 250
        assert abs(np.median(values)) < 0.25, name
        assert np.std(values) == pytest.approx(1.0, abs=0.15), name
        assert np.mean(np.abs(values) > 3) < 0.02, name


def test_every_moving_star_is_classified_as_a_dipole(dipoleFields, sim):
    found = 0
    for field in dipoleFields:
        out, rows, matched = fitted(field, sim)
        found += matched.sum()
        rows = rows[matched]
        field = sim.subset(field, matched)
        assert rows[P + "flag_classification"].all()
        assert rows[P + "flag_classificationAttempted"].all()
        separation = np.hypot(field.xPos - field.xNeg, field.yPos - field.yNeg)
        pull = (rows[P + "separation"] - separation) / rows[P + "separationErr"]
        assert np.max(np.abs(pull)) < 4.0 and np.std(pull) == pytest.approx(1.0, abs=0.3)
        angle = np.degrees(np.arctan2(field.yPos - field.yNeg, field.xPos - field.xNeg))
        turn = (rows[P + "orientation"] - angle + 180.0) % 360.0 - 180.0
        # the direction is known to about the position error over the separation
        spread = np.degrees(rows[P + "separationErr"] / separation)
        assert np.max(np.abs(turn) / spread) < 5.0
        pull = ((rows[P + "centroid_x"] - (field.xPos + field.xNeg) / 2)
                / rows[P + "centroid_xErr"])
        assert np.max(np.abs(pull)) < 4.0
        assert 0.8 < np.median(rows[P + "chi2dof"]) < 1.3
        np.testing.assert_array_equal(rows[P + "neg_instFlux"], -rows[P + "pos_instFlux"])
        np.testing.assert_allclose(rows[P + "instFlux"], rows[P + "pos_instFlux"])
        snr = rows[P + "pos_instFlux"] / rows[P + "pos_instFluxErr"] * np.sqrt(2.0)
        np.testing.assert_allclose(rows[P + "signalToNoise"], snr)
    # a 0.5 px move of an S/N 50 star can leave one lobe below the detection threshold
    assert found >= 0.98 * 4 * 64


def test_science_image_alone_constrains_the_fit_without_a_template(dipoleFields, sim):
    # ZOGY gives no matched template: the science image still pins the positive lobe
    result = pulls(dipoleFields, sim, template=False)
    for name, values in result.items():
        assert abs(np.median(values)) < 0.2, name
        assert np.std(values) == pytest.approx(1.0, abs=0.2), name


def test_difference_alone_gives_positions_but_not_fluxes_of_close_pairs(dipoleFields, sim):
    # relWeight=0: flux and separation of a close pair are degenerate on the difference;
    # positions stay calibrated, the flux error of the closest pairs is large
    result = pulls(dipoleFields[:2], sim, DipoleMeasurementConfig(relWeight=0.0))
    for name in ("x+", "y+", "x-", "y-"):
        assert np.std(result[name]) == pytest.approx(1.0, abs=0.2), name
    field = dipoleFields[0]
    _, rows, matched = fitted(field, sim, DipoleMeasurementConfig(relWeight=0.0))
    _, constrained, _ = fitted(field, sim)
    ratio = rows[P + "pos_instFluxErr"] / constrained[P + "pos_instFluxErr"]
    assert np.median(ratio[matched]) > 10


def test_separate_negative_flux_and_the_flux_ratio_cut(sim):
    # stars that moved and brightened 1.1-3 times: with fitSeparateNegParams the lobes
    # get their own fluxes, and a lobe holding more than 65% of the flux is not a dipole.
    # A small move of a star that brightened leaves no detected negative peak, so every
    # source is fitted (fitAllDiaSources).
    field = sim.exactDipoles(21, n=6, brightening=(1.1, 3.0))
    config = DipoleMeasurementConfig(fitSeparateNegParams=True, fitAllDiaSources=True)
    _, rows, matched = fitted(field, sim, config)
    assert matched.all()
    pullPos = (rows[P + "pos_instFlux"] - field.fluxPos) / rows[P + "pos_instFluxErr"]
    pullNeg = (-rows[P + "neg_instFlux"] - field.fluxNeg) / rows[P + "neg_instFluxErr"]
    assert np.std(pullPos) < 1.5 and np.std(pullNeg) < 1.5
    share = field.fluxPos / (field.fluxPos + field.fluxNeg)
    clear = np.abs(share - 0.65) > 0.02
    np.testing.assert_array_equal(rows[P + "flag_classification"][clear], share[clear] < 0.65)


def test_isolated_sources_are_not_dipoles_even_when_fitted(sim):
    # fitAllDiaSources fits single-signed sources too; with separate lobe fluxes a
    # transient's negative lobe is empty and the flux-ratio cut rejects it
    field = sim.pointSources(31, snr=(20.0, 100.0), signs=False)
    science = field.exposure.clone()
    science.image += 1000.0
    science.variance += 1000.0
    matched = field.exposure.clone()
    matched.image = (np.random.default_rng(3).normal(0.0, 3.0, matched.shape)
                     + 300.0).astype(np.float32)
    matched.variance[:] = 9.0
    from diffim.testing.plugins import detectSources
    detection = detectSources(field.exposure)
    config = DipoleMeasurementConfig(fitAllDiaSources=True, fitSeparateNegParams=True)
    out = DipoleMeasurement().diffim_measurement(detection.diaSources, detection.footprints,
                                                 field.exposure, science, matched, config, True)
    attempted = out[P + "flag_classificationAttempted"]
    assert len(out) == 100 and attempted.sum() > 20
    # a fit that drives the empty lobe's flux to zero or below has failed
    assert np.array_equal(attempted, ~out[P + "flag"])
    assert np.all(np.abs(out[P + "neg_instFlux"][attempted])
                  < 0.1 * out[P + "pos_instFlux"][attempted])
    assert out[P + "flag_classification"].sum() <= 0.02 * len(out)
    default = DipoleMeasurement().diffim_measurement(
        detection.diaSources, detection.footprints, field.exposure, science, matched,
        DipoleMeasurementConfig(), True)
    assert default[P + "flag"].all() and not default[P + "flag_classification"].any()


def test_noise_correlation_of_white_and_convolved_noise():
    rng = np.random.default_rng(2)
    white = rng.normal(0.0, 3.0, (1024, 1024))
    smooth = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (1024, 1024)), 1.2, mode="wrap")
    smooth *= 2.0 / smooth.std()
    difference = white - smooth
    exclude = np.zeros(white.shape, dtype=bool)
    noise = measureNoiseCorrelation([difference, white, smooth],
                                    [np.full(white.shape, 13.0), np.full(white.shape, 9.0),
                                     np.full(white.shape, 4.0)], exclude, 6, 2.0)
    r = noise.radius
    assert noise.nPixels > 500_000
    assert noise.rho[1, 1, r, r] == pytest.approx(1.0, abs=0.01)
    assert np.abs(noise.rho[1, 1]).sum() - noise.rho[1, 1, r, r] < 0.15
    # smoothed white noise: correlation exp(-l^2 / (4 s^2)); shared noise: D = W - S
    lag = np.hypot(*np.mgrid[-r:r + 1, -r:r + 1])
    np.testing.assert_allclose(noise.rho[2, 2], np.exp(-lag ** 2 / (4 * 1.2 ** 2)), atol=0.02)
    assert noise.rho[0, 1, r, r] == pytest.approx(3.0 / np.sqrt(13.0), abs=0.02)
    np.testing.assert_allclose(noise.rho[0, 2], -noise.rho[2, 2] * 2.0 / np.sqrt(13.0),
                               atol=0.02)
    # the variance of a PSF-weighted sum of the smoothed noise, predicted and simulated
    psf = np.outer(*(2 * [np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)]))
    simulated = ndimage.correlate(smooth, psf, mode="wrap").var() / ((psf ** 2).sum() * 4.0)
    assert noise.varianceFactor(2, psf) == pytest.approx(simulated, rel=0.05)
    assert noise.varianceFactor(2, psf) > 5
    assert NoiseCorrelation.white(1, 3).varianceFactor(0, psf) == pytest.approx(1.0)


def test_a_footprint_over_the_whole_frame_is_fitted_on_a_stamp_round_its_lobes():
    from diffim_measurement.dipoles import fitBox
    start = np.array([510.0, 300.0, 504.0, 302.0])          # x+, y+, x-, y-
    whole = (slice(0, 2048), slice(0, 2048))
    rows, columns = fitBox(whole, start, 18.0)
    assert (rows.start, rows.stop) == (282, 321) and (columns.start, columns.stop) == (486, 529)
    small = (slice(290, 312), slice(495, 520))
    assert fitBox(small, start, 18.0) == small
