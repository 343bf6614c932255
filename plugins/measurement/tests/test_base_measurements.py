"""Base measurements against known truth: centroids, PSF and aperture fluxes, shapes, flags."""
import numpy as np
import pytest
from astropy.table import Table

from diffim import Exposure, GaussianPsf
from diffim.psf import moments
from diffim_measurement import PsfMeasurement, PsfMeasurementConfig


def catalog(field, radius: float = 7.0) -> tuple[Table, np.ndarray]:
    """What detection reports for a point-source field: peaks, signs, disc footprints."""
    peakX, peakY = np.round(field.x), np.round(field.y)
    positive = field.flux > 0
    table = Table({"x": peakX, "y": peakY, "isPositive": positive, "isNegative": ~positive,
                   "posPeak_x": np.where(positive, peakX, np.nan),
                   "posPeak_y": np.where(positive, peakY, np.nan),
                   "negPeak_x": np.where(positive, np.nan, peakX),
                   "negPeak_y": np.where(positive, np.nan, peakY),
                   "posPeakValue": np.where(positive, 1.0, np.nan),
                   "negPeakValue": np.where(positive, np.nan, -1.0)})
    labels = np.zeros(field.exposure.shape, dtype=np.int32)
    yy, xx = np.mgrid[:labels.shape[0], :labels.shape[1]]
    for k, (x, y) in enumerate(zip(peakX, peakY)):
        labels[(xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2] = k + 1
    return table, labels


def measured(field, config=None):
    """Measure a point-source field from its catalog; rows in truth order."""
    table, labels = catalog(field)
    return PsfMeasurement().diffim_measurement(table, labels, field.exposure, field.exposure,
                                               None, config or PsfMeasurementConfig(), False)


@pytest.mark.parametrize("correlation, snr", [(0.0, (10.0, 50.0)), (1.0, (30.0, 150.0))])
def test_psf_flux_and_centroid_errors_are_calibrated(sim, correlation, snr):
    # 400 sources of both signs. With correlated noise (white noise smoothed with a
    # 1-pixel Gaussian) the variance plane under-states the variance of a PSF-shaped
    # sum ten times (the S/N range is given against the plane), and the errors must
    # include that.
    pulls = {"flux": [], "x": [], "y": []}
    for seed in (1, 2, 3, 4):
        field = sim.pointSources(seed, correlation=correlation, snr=snr)
        out, x, y, flux = measured(field), field.x, field.y, field.flux
        assert not out["base_PsfFlux_flag"].any() and not out["base_GaussianCentroid_flag"].any()
        pulls["flux"] += list((out["base_PsfFlux_instFlux"] - flux)
                              / out["base_PsfFlux_instFluxErr"])
        pulls["x"] += list((out["base_GaussianCentroid_x"] - x) / out["base_GaussianCentroid_xErr"])
        pulls["y"] += list((out["base_GaussianCentroid_y"] - y) / out["base_GaussianCentroid_yErr"])
    assert len(pulls["flux"]) == 400
    for name, values in pulls.items():
        assert abs(np.mean(values)) < 0.12, name
        assert np.std(values) == pytest.approx(1.0, abs=0.1), name


def test_psf_flux_of_negative_sources_is_negative(sim):
    field = sim.pointSources(7)
    out = measured(field)
    assert np.array_equal(np.sign(out["base_PsfFlux_instFlux"]), np.sign(field.flux))
    offset = np.hypot(out["base_GaussianCentroid_x"] - field.x,
                      out["base_GaussianCentroid_y"] - field.y)
    negative = field.flux < 0
    assert 20 < negative.sum() < 80
    assert np.median(offset[negative]) < 1.5 * np.median(offset[~negative]) < 0.4


def test_shapes_are_the_adaptive_moments(sim):
    # point sources: the PSF's own moments; an elliptical Gaussian: its moments
    field = sim.pointSources(8, snr=(200.0, 400.0))
    out = measured(field)
    _, _, ixx, iyy, ixy = moments(field.exposure.psf.image)
    assert not out["base_SdssShape_flag"].any()
    assert np.median(out["base_SdssShape_xx"]) == pytest.approx(ixx, rel=0.01)
    assert np.median(out["base_SdssShape_yy"]) == pytest.approx(iyy, rel=0.01)
    assert np.abs(np.median(out["base_SdssShape_xy"])) < 0.01 * ixx
    shape = (64, 64)
    angle, major, minor = np.radians(30.0), 3.0, 2.0
    yy, xx = np.mgrid[:64, :64] - 32.0
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    image = 1e5 * np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
    exposure = Exposure(image=image, variance=np.ones(shape), psf=GaussianPsf(2.0))
    labels = np.zeros(shape, dtype=np.int32)
    table = Table({"x": [32.0], "y": [32.0]})
    row = PsfMeasurement().diffim_measurement(table, labels, exposure, exposure, None,
                                              PsfMeasurementConfig(), False)[0]
    c, s = np.cos(angle), np.sin(angle)
    assert row["base_SdssShape_xx"] == pytest.approx(major ** 2 * c * c + minor ** 2 * s * s,
                                                     rel=1e-3)
    assert row["base_SdssShape_yy"] == pytest.approx(major ** 2 * s * s + minor ** 2 * c * c,
                                                     rel=1e-3)
    assert row["base_SdssShape_xy"] == pytest.approx((major ** 2 - minor ** 2) * c * s,
                                                     rel=1e-3)


def test_aperture_fluxes_enclose_the_gaussian_fraction(sim):
    field = sim.pointSources(9, snr=(100.0, 200.0), signs=False)
    config = PsfMeasurementConfig(apertureRadii=[3.0, 6.0, 12.0])
    out, flux = measured(field, config), field.flux
    sigma2 = 4.0 + 1.0 / 12.0                     # pixel integration widens the Gaussian
    for radius in (3.0, 6.0, 12.0):
        name = f"base_CircularApertureFlux_{radius:.1f}".replace(".", "_")
        expected = 1.0 - np.exp(-0.5 * radius ** 2 / sigma2)
        ratio = out[f"{name}_instFlux"] / flux
        assert np.median(ratio) == pytest.approx(expected, abs=0.01)
        # white noise: the error is sqrt(area * variance)
        assert np.median(out[f"{name}_instFluxErr"]) == pytest.approx(
            10.0 * np.sqrt(np.pi) * radius, rel=0.03)
        assert not out[f"{name}_flag"].any()


def test_pixel_flags_and_unusable_pixels():
    shape = (80, 80)
    yy, xx = np.mgrid[:80, :80]
    image = 5000.0 * np.exp(-0.5 * ((xx - 40) ** 2 + (yy - 40) ** 2) / 4.0) / (8 * np.pi)
    image += 5000.0 * np.exp(-0.5 * ((xx - 3) ** 2 + (yy - 60) ** 2) / 4.0) / (8 * np.pi)
    exposure = Exposure(image=image, variance=np.ones(shape), psf=GaussianPsf(2.0))
    exposure.mask[40, 41] |= exposure.bitmask("SAT")           # next to the centre
    exposure.mask[44, 40] |= exposure.bitmask("NO_DATA")       # inside the footprint
    labels = np.zeros(shape, dtype=np.int32)
    labels[34:47, 34:47] = 1
    labels[54:67, 0:10] = 2
    table = Table({"x": [40.0, 3.0, 200.0], "y": [40.0, 60.0, 10.0],
                   "sky_source": [False, False, True]})
    config = PsfMeasurementConfig(apertureRadii=[2.0, 5.0])
    out = PsfMeasurement().diffim_measurement(table, labels, exposure, exposure, None, config,
                                              False)
    first, edge, off = out
    assert first["base_PixelFlags_flag_saturatedCenter"] and first["base_PixelFlags_flag_saturated"]
    assert first["base_PixelFlags_flag_nodata"] and not first["base_PixelFlags_flag_nodataCenter"]
    assert not first["base_PixelFlags_flag_edge"]
    # the NO_DATA pixel is 4 px from the centre: inside the 5 px aperture only
    assert not first["base_CircularApertureFlux_2_0_flag"]
    assert first["base_CircularApertureFlux_5_0_flag"]
    assert not first["base_CircularApertureFlux_5_0_flag_apertureTruncated"]
    assert edge["base_PixelFlags_flag_edge"] and edge["base_CircularApertureFlux_5_0_flag"]
    assert edge["base_CircularApertureFlux_5_0_flag_apertureTruncated"]
    assert edge["base_PsfFlux_flag_edge"] and not edge["base_PsfFlux_flag"]
    assert off["base_PixelFlags_flag_offimage"] and off["base_PsfFlux_flag"]
    assert np.isnan(off["base_PsfFlux_instFlux"])


def test_sky_sources_keep_their_position_and_measure_noise(sim):
    rng = np.random.default_rng(11)
    shape = (512, 512)
    image = rng.normal(0.0, 10.0, shape)
    exposure = Exposure(image=image, variance=np.full(shape, 100.0), psf=GaussianPsf(2.0))
    x, y = sim.gridPositions(512, 14, rng)
    labels = np.zeros(shape, dtype=np.int32)
    yy, xx = np.mgrid[:512, :512]
    for k, (xs, ys) in enumerate(zip(x, y)):
        labels[(xx - xs) ** 2 + (yy - ys) ** 2 <= 64] = k + 1
    table = Table({"x": x, "y": y, "sky_source": np.ones(x.size, dtype=bool)})
    out = PsfMeasurement().diffim_measurement(table, labels, exposure, exposure, None,
                                              PsfMeasurementConfig(), False)
    assert np.array_equal(out["base_GaussianCentroid_x"], x)
    assert not out["base_GaussianCentroid_flag"].any()
    pull = out["base_PsfFlux_instFlux"] / out["base_PsfFlux_instFluxErr"]
    assert abs(np.mean(pull)) < 0.2 and np.std(pull) == pytest.approx(1.0, abs=0.12)
