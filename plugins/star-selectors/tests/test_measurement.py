"""Detection and measurement of science sources: positions, fluxes, moments, flags, neighbours."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from diffim import Exposure, GaussianPsf
from diffim.errors import InputError
from diffim_star_selectors import SourceMeasurementConfig, measureSources
from diffim_star_selectors.measurement import COLUMNS


def nearest(sources, truth):
    distance, index = cKDTree(np.column_stack([sources["x"], sources["y"]])).query(
        np.column_stack([truth["x"], truth["y"]]))
    return distance, index


def test_stars_galaxies_and_cosmic_rays_are_measured_for_what_they_are(fields):
    science, truth, sources = fields[0]
    assert set(sources.colnames) == set(COLUMNS) | {"neighbourDistance"}
    distance, index = nearest(sources, truth)
    width = np.sqrt(0.5 * (sources["Ixx"] + sources["Iyy"]))
    stars = ((truth["kind"] == "star") & (truth["flux"] > 2e4) & (truth["flux"] < 5e5)
             & (distance < 0.5))
    assert stars.sum() >= 30
    assert np.median(distance[stars]) < 0.05
    flux = np.asarray(sources["flux"])[index[stars]] / truth["flux"][stars]
    assert np.median(flux) == pytest.approx(1.0, abs=0.01)
    assert np.median(width[index[stars]]) == pytest.approx(np.hypot(1.95, np.sqrt(1 / 12)),
                                                           rel=0.01)
    galaxies = (truth["kind"] == "galaxy") & (distance < 2)
    assert np.median(width[index[galaxies]]) == pytest.approx(3 * 1.95, rel=0.05)
    cosmics = (truth["kind"] == "cr") & (distance < 1)
    assert cosmics.sum() >= 70
    assert np.all(sources["flag_shape"][index[cosmics]])
    assert np.all(np.isnan(width[index[cosmics]]))


def test_mask_planes_and_the_border_set_flags(fields):
    science, truth, sources = fields[0]
    distance, index = nearest(sources, truth)
    bright = np.flatnonzero((truth["kind"] == "star") & (truth["flux"] > 3e4)
                            & (truth["flux"] < 3e5) & (distance < 0.5)
                            & (truth["x"] > 30) & (truth["x"] < 990)
                            & (truth["y"] > 30) & (truth["y"] < 990))[:5]
    masked = science.clone()
    planes = ["SAT", "INTRP", "CR", "BAD", "EDGE"]
    for row, plane in zip(bright, planes):
        x, y = int(round(truth["x"][row])), int(round(truth["y"][row]))
        masked.setMask(np.pad(np.ones((1, 1), bool), ((y + 2, 1021 - y), (x, 1023 - x))), plane)
    measured = measureSources(masked, SourceMeasurementConfig())
    d, i = nearest(measured, truth[bright])
    names = ["flag_saturated", "flag_interpolated", "flag_cr", "flag_bad", "flag_edge"]
    for k, name in enumerate(names):
        assert measured[name][i[k]], name
        others = [n for n in names if n != name]
        assert not any(measured[n][i[k]] for n in others), name
    touching = (measured["x"] < 2) | (measured["y"] < 2)
    assert np.all(measured["flag_edge"][touching])


def test_a_cosmic_ray_in_a_bright_wing_is_a_neighbour(blob):
    rng = np.random.default_rng(5)
    sky = 1000.0
    model = np.full((128, 128), sky)
    for x, y, flux in ((40.2, 40.7, 8e4), (90.4, 80.1, 8e4)):
        ys, xs, b = blob(model.shape, x, y, 2.0, flux)
        model[ys, xs] += b
    image = rng.poisson(model * 2.0) / 2.0 + rng.normal(0, 2.5, model.shape)
    image[80, 96] += 5000.0                                   # 5.6 px from the second star
    exposure = Exposure(image=image, variance=model / 2.0 + 6.25, psf=GaussianPsf(2.0))
    sources = measureSources(exposure, SourceMeasurementConfig())
    first = np.argmin(np.hypot(sources["x"] - 40.2, sources["y"] - 40.7))
    second = np.argmin(np.hypot(sources["x"] - 90.4, sources["y"] - 80.1))
    assert sources["neighbourDistance"][first] > 40
    assert sources["neighbourDistance"][second] == pytest.approx(5.6, abs=0.3)


def test_inputs_are_kept_and_a_missing_variance_is_an_error(fields):
    science = fields[1][0]
    image, mask = science.image.copy(), science.mask.copy()
    measureSources(science, SourceMeasurementConfig())
    np.testing.assert_array_equal(science.image, image)
    np.testing.assert_array_equal(science.mask, mask)
    with pytest.raises(InputError, match="variance"):
        measureSources(Exposure(image=image), SourceMeasurementConfig())
