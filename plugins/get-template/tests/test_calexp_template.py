"""The ``calexp`` getTemplate plugin: template visits read by data ID, combined when several.

Two visits of one simulated star field (256², Gaussian PSF, white noise) on
pixel grids offset by a fraction of a pixel: the combination's noise,
variance plane, fluxes, gaps, masks, calibration and PSF are checked against
the known truth, then the plugin is run on a repository holding the visits.
"""
import json
import re

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy.special import erf

from diffim import plugins
from diffim.errors import ConfigError, InputError, NoOverlapError
from diffim.exposure import Exposure
from diffim.mask import MaskPlanes
from diffim.photocalib import PhotoCalib
from diffim.psf import GaussianPsf
from diffim.repo import Repository
from diffim.warp import warpToScience
from diffim_get_template.calexp import CalexpTemplate
from diffim_get_template.calexp_combine import combineExposures
from diffim_get_template.calexp_config import GetCalexpAsTemplateConfig

SIZE, NOISE, SIGMA, ZERO_POINT = 256, 10.0, 2.0, 28.0

#: Rows and columns away from the edges, where a shifted visit has no reflected-padding effects.
INNER = (slice(12, -12), slice(12, -12))


def _wcs(offset):
    """TAN WCS of a SIZE² grid on which a star at reference pixel p lies at p - offset."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [(SIZE + 1) / 2.0 - offset[0], (SIZE + 1) / 2.0 - offset[1]]
    wcs.wcs.cd = [[-0.2 / 3600, 0.0], [0.0, 0.2 / 3600]]
    wcs.wcs.set()
    return wcs


@pytest.fixture(scope="module")
def stars():
    """``(x, y, flux)`` of 40 stars (reference pixels; fluxes 1e3 to 1e5 counts)."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(24, SIZE - 24, (2, 40))
    return x, y, 10 ** rng.uniform(3.0, 5.0, 40)


def _model(stars, offset=(0.0, 0.0), sigma=SIGMA, scale=1.0):
    """Noiseless pixel-integrated Gaussian stars on the grid offset by ``offset``."""
    x, y, flux = stars
    edges = np.arange(SIZE + 1) - 0.5
    model = np.zeros((SIZE, SIZE))
    for xi, yi, fi in zip(x - offset[0], y - offset[1], flux * scale):
        gx = np.diff(0.5 * erf((edges - xi) / (np.sqrt(2.0) * sigma)))
        gy = np.diff(0.5 * erf((edges - yi) / (np.sqrt(2.0) * sigma)))
        model += fi * np.outer(gy, gx)
    return model


def _visit(stars, offset, seed, sigma=SIGMA, noise=NOISE, scale=1.0, zeroPoint=ZERO_POINT):
    """A calexp: the field in counts ``scale`` times the reference's, white noise ``noise``."""
    model = _model(stars, offset, sigma, scale)
    image = model + np.random.default_rng(seed).normal(0.0, noise, model.shape)
    return Exposure(image=image, variance=np.full(model.shape, noise ** 2),
                    psf=GaussianPsf(sigma), wcs=_wcs(offset),
                    photoCalib=PhotoCalib(zeroPoint), filter="r",
                    obsDate=f"2024-01-0{seed % 9 + 1}T00:00:00", metadata={"GAIN": 2.0})


def _aperture(image, x, y, radius=5.0 * SIGMA):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return float(image[np.hypot(xx - x, yy - y) <= radius].sum())


def _brightest(stars, n=3):
    x, y, flux = stars
    order = np.argsort(flux)[::-1][:n]
    return x[order], y[order]


@pytest.fixture(scope="module")
def visits(stars):
    """Two visits of equal depth: one on the reference grid, one offset by (0.4, 0.3) px."""
    return _visit(stars, (0.0, 0.0), 1), _visit(stars, (0.4, 0.3), 2)


def test_entry_point_and_config():
    assert plugins.load("getTemplate", "calexp") is CalexpTemplate
    assert plugins.distribution("getTemplate", "calexp") == "diffim-get-template"
    config = GetCalexpAsTemplateConfig()
    assert (config.weighting, config.badMaskPlanes) == ("pixel", ())
    with pytest.raises(ConfigError, match="weighting"):
        GetCalexpAsTemplateConfig(weighting="median")


def test_two_visits_halve_the_noise_variance_and_keep_fluxes(stars, visits):
    first = visits[0]
    combined = combineExposures(visits)
    truth = _model(stars)
    residual = (combined.image - truth)[INNER]
    single = (first.image - truth)[INNER]
    # Measured: 0.7090 (1/sqrt(2) = 0.7071); empirical / plane variance 0.996; the fluxes of
    # the three brightest stars within 0.23%.
    assert residual.std() / single.std() == pytest.approx(2 ** -0.5, rel=0.03)
    assert np.mean(residual ** 2) / np.mean(combined.variance[INNER]) == pytest.approx(1.0,
                                                                                     abs=0.05)
    np.testing.assert_allclose(combined.variance[INNER], NOISE ** 2 / 2, rtol=1e-5)
    for x, y in zip(*_brightest(stars)):
        assert _aperture(combined.image, x, y) == pytest.approx(_aperture(truth, x, y), rel=0.01)
    assert combined.shape == first.shape
    assert combined.wcs.wcs.compare(first.wcs.wcs)
    assert combined.photoCalib == first.photoCalib and combined.filter == "r"
    assert combined.obsDate is None and combined.metadata["GAIN"] == 2.0
    assert combined.metadata["TEMPLATE_WEIGHTS"] == "0.5000,0.5000"
    # The shifted visit has no pixel for the first column and row (3 with the grown NO_DATA).
    np.testing.assert_allclose(combined.variance[:, :3], NOISE ** 2)
    np.testing.assert_array_equal(combined.image[:, :3], first.image[:, :3])
    assert not combined.maskedPixels("NO_DATA").any()


def test_visits_are_brought_to_the_first_calibration(stars, visits):
    first = visits[0]
    # Twice the counts of the reference (zero point 0.753 mag fainter per count), noise sqrt(2)x:
    # in the first visit's counts its noise is 10/sqrt(2), so it weighs twice the first.
    deeper = _visit(stars, (0.4, 0.3), 3, noise=NOISE * np.sqrt(2.0), scale=2.0,
                    zeroPoint=ZERO_POINT + 2.5 * np.log10(2.0))
    combined = combineExposures([first, deeper])
    truth = _model(stars)
    expected = (1.0 / NOISE ** 2 + 2.0 / NOISE ** 2) ** -0.5
    residual = (combined.image - truth)[INNER]
    # Measured: noise 5.746 for 5.774 expected; fluxes within 0.05%.
    assert residual.std() == pytest.approx(expected, rel=0.03)
    np.testing.assert_allclose(combined.variance[INNER], expected ** 2, rtol=1e-5)
    for x, y in zip(*_brightest(stars)):
        assert _aperture(combined.image, x, y) == pytest.approx(_aperture(truth, x, y), rel=0.01)
    assert combined.photoCalib == first.photoCalib
    assert combined.metadata["TEMPLATE_WEIGHTS"] == "0.3333,0.6667"


def test_a_gap_in_one_visit_is_filled_by_the_other(visits):
    first, second = (visit.clone() for visit in visits)
    gap = (slice(100, 140), slice(60, 120))
    first.image[gap] = np.nan
    first.setMask(np.s_[gap], "NO_DATA")
    second.setMask(np.s_[10:40, 10:40], "NO_DATA")  # rows 10..40 of the offset grid
    first.setMask(np.s_[20:30, 0:50], "NO_DATA")    # overlaps the second's gap
    combined = combineExposures([first, second])
    shifted = warpToScience(second, first)
    np.testing.assert_allclose(combined.image[gap], shifted.image[gap], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(combined.variance[gap], NOISE ** 2, rtol=1e-6)
    assert not combined.maskedPixels("NO_DATA")[gap].any()
    both = (slice(22, 28), slice(16, 36))  # in neither: NO_DATA in the first, the second's gap
    assert np.isnan(combined.image[both]).all()
    assert np.isinf(combined.variance[both]).all()
    assert combined.maskedPixels("NO_DATA")[both].all()
    assert np.count_nonzero(combined.maskedPixels("NO_DATA")) == np.count_nonzero(
        np.isnan(combined.image))


def test_mask_planes_are_merged_by_name_and_bad_planes_left_out(visits):
    first = visits[0].clone()
    second = visits[1].clone()
    # The second visit numbers its planes differently and has one the first lacks.
    planes = MaskPlanes({"STREAK": 0, "NO_DATA": 1, "CR": 2, "SAT": 3})
    second = Exposure(image=second.image, variance=second.variance, psf=second.psf,
                      wcs=second.wcs, photoCalib=second.photoCalib, filter="r",
                      maskPlanes=planes)
    second.setMask(np.s_[50:60, 50:60], "STREAK")
    second.setMask(np.s_[150:160, 150:160], "CR")
    first.setMask(np.s_[200:210, 30:40], "SAT")
    combined = combineExposures([first, second])
    assert set(combined.maskPlanes) == set(first.maskPlanes) | {"STREAK"}
    assert combined.maskedPixels("STREAK")[52:58, 52:58].all()
    assert combined.maskedPixels("CR")[152:158, 152:158].all()
    assert combined.maskedPixels("SAT")[200:210, 30:40].all()
    assert np.count_nonzero(combined.maskedPixels("STREAK")) < 150
    np.testing.assert_allclose(combined.variance[152:158, 152:158], NOISE ** 2 / 2, rtol=1e-5)
    # Leaving CR out: the first visit alone supplies those pixels, with its variance.
    withoutCr = combineExposures([first, second], badMaskPlanes=["CR"])
    np.testing.assert_allclose(withoutCr.variance[152:158, 152:158], NOISE ** 2, rtol=1e-6)
    np.testing.assert_array_equal(withoutCr.image[152:158, 152:158],
                                  first.image[152:158, 152:158])
    assert not withoutCr.maskedPixels("CR").any()


def test_psf_is_the_weighted_mean_of_the_visits_psfs(stars, visits):
    sharp = _visit(stars, (0.0, 0.0), 4, sigma=1.5)
    broad = _visit(stars, (0.4, 0.3), 5, sigma=2.5)
    combined = combineExposures([sharp, broad], weighting="image")
    shares = [float(v) for v in combined.metadata["TEMPLATE_WEIGHTS"].split(",")]
    stamp = combined.psf.at(*combined.psf.averagePosition)
    small, large = sharp.psf.image, broad.psf.image
    pad = (large.shape[0] - small.shape[0]) // 2
    expected = shares[0] * np.pad(small, pad) + shares[1] * large
    np.testing.assert_allclose(stamp, expected / expected.sum(), atol=1e-6)
    # A bright star of the noiseless combination has that profile (image weights are linear).
    noiseless = [Exposure(image=_model(stars, offset, sigma), variance=visit.variance,
                          psf=visit.psf, wcs=visit.wcs, photoCalib=visit.photoCalib, filter="r")
                 for visit, offset, sigma in ((sharp, (0.0, 0.0), 1.5), (broad, (0.4, 0.3), 2.5))]
    mixed = combineExposures(noiseless, weighting="image")
    x, y = _brightest(stars, 1)
    xi, yi = round(float(x[0])), round(float(y[0]))
    half = stamp.shape[0] // 2
    observed = mixed.image[yi - half:yi + half + 1, xi - half:xi + half + 1]
    predicted = sum(share * _model(stars, (0.0, 0.0), s)[yi - half:yi + half + 1,
                                                           xi - half:xi + half + 1]
                    for share, s in zip(shares, (1.5, 2.5)))
    assert np.abs(observed - predicted).max() < 1e-3 * observed.max()
    assert "weighted mean of 2 PSFs" in combined.metadata["TEMPLATE_PSF"]


def test_image_weighting_gives_each_visit_one_weight(visits):
    first, second = (visit.clone() for visit in visits)
    noisier = (slice(0, 128), slice(0, 128))  # a quarter of the first visit: the median stays
    first.variance[noisier] *= 2.0
    perPixel = combineExposures([first, second])
    perVisit = combineExposures([first, second], weighting="image")
    inside = (slice(20, 100), slice(20, 100))
    # 1 / (1/200 + 1/100) with pixel weights; (200 + 100) / 2**2 with equal visit weights.
    np.testing.assert_allclose(perPixel.variance[inside], 200.0 / 3.0, rtol=1e-5)
    np.testing.assert_allclose(perVisit.variance[inside], 75.0, rtol=1e-5)
    np.testing.assert_allclose(perVisit.image[inside],
                               0.5 * (first.image + warpToScience(second, first).image)[inside],
                               rtol=1e-5, atol=1e-4)
    assert perVisit.metadata["TEMPLATE_WEIGHTS"] == "0.5000,0.5000"


def test_disagreeing_visits_are_refused(visits):
    first, second = (visit.clone() for visit in visits)
    second.filter = "g"
    with pytest.raises(InputError, match=r"different filters \(a: 'r', b: 'g'\)"):
        combineExposures([first, second], names=["a", "b"])
    second.filter, second.photoCalib = "r", None
    with pytest.raises(InputError, match=r"^b: no photometric calibration"):
        combineExposures([first, second], names=["a", "b"])


# --- the plugin on a repository ------------------------------------------------------------

@pytest.fixture(scope="module")
def calexpRepository(visits, tmp_path_factory):
    """A repository with the two visits as calexps 1 and 2 (detector 0, band r)."""
    repository = Repository.create(tmp_path_factory.mktemp("calexps") / "repo")
    for visit, exposure in zip((1, 2), visits):
        repository.put(exposure, "calexp", {"visit": visit, "detector": 0, "band": "r"})
    repository.close()
    return repository.root


def _template(science, root, templateIdList, **overrides):
    """The plugin called through pluggy, as the task calls it."""
    config = GetCalexpAsTemplateConfig(**overrides)
    config.freeze()
    manager = plugins.new_manager()
    manager.register(plugins.load("getTemplate", "calexp")())
    return manager.hook.diffim_getTemplate(science=science, config=config, source=str(root),
                                           templateIdList=templateIdList)


def _ids(*visits):
    return [{"visit": v, "detector": 0, "band": "r"} for v in visits]


def test_one_visit_is_the_template_as_it_is(visits, calexpRepository):
    science = _visit((np.array([]),) * 3, (0.25, -0.15), 9)
    template = _template(science, calexpRepository, _ids(2))
    np.testing.assert_array_equal(template.image, visits[1].image.astype(np.float32))
    np.testing.assert_array_equal(template.variance, visits[1].variance)
    assert template.wcs.wcs.compare(visits[1].wcs.wcs, tolerance=1e-12)
    assert json.loads(template.metadata["TEMPLATE_VISITS"]) == _ids(2)
    assert template.metadata["TEMPLATE_REPO"] == str(calexpRepository)


def test_several_visits_are_combined_on_the_science_grid(stars, visits, calexpRepository):
    science = _visit(stars, (0.25, -0.15), 9)
    template = _template(science, calexpRepository, _ids(1, 2))
    assert template.shape == science.shape
    assert template.wcs.wcs.compare(science.wcs.wcs)
    assert json.loads(template.metadata["TEMPLATE_VISITS"]) == _ids(1, 2)
    truth = _model(stars, (0.25, -0.15))
    residual = (template.image - truth)[INNER]
    # Both visits shifted by a fraction of a pixel, once each. Measured: noise 7.058 for
    # 10 / sqrt(2) = 7.071, empirical / plane variance 0.996, fluxes within 0.24%.
    assert residual.std() == pytest.approx(NOISE / np.sqrt(2.0), rel=0.03)
    assert np.mean(residual ** 2) / np.mean(template.variance[INNER]) == pytest.approx(1.0,
                                                                                     abs=0.05)
    for x, y in zip(*_brightest(stars)):
        x, y = x - 0.25, y + 0.15
        assert _aperture(template.image, x, y) == pytest.approx(_aperture(truth, x, y), rel=0.01)
    # The same as combining the two calexps directly on the science grid.
    direct = combineExposures(visits, grid=science)
    np.testing.assert_allclose(template.image, direct.image, rtol=1e-6, atol=1e-3)


def test_missing_or_unknown_template_visits(visits, calexpRepository):
    science = visits[0]
    for missing in (None, []):
        with pytest.raises(ConfigError) as info:
            _template(science, calexpRepository, missing)
        assert re.search(r"^the calexp template needs template visits, .*templateIdList="
                         r".*--template-visits 3,4` \(got (none|an empty list)\)$", str(info.value))
    with pytest.raises(InputError) as info:
        _template(science, calexpRepository, _ids(1, 7))
    message = str(info.value)
    assert message.startswith(f"{calexpRepository}: no calexp {{visit: 7, detector: 0, "
                              f"band: 'r'}}"), message
    assert message.endswith("visits of detector 0, band 'r' there: 1, 2)"), message
    with pytest.raises(InputError, match="given more than once"):
        _template(science, calexpRepository, _ids(1, 1))
    with pytest.raises(InputError, match="not a diffim data repository"):
        _template(science, calexpRepository / "calexp", _ids(1))


def test_visits_off_the_science_image(stars, calexpRepository):
    science = _visit(stars, (600.0, 0.0), 9)  # 600 px east of the visits: no overlap
    with pytest.raises(NoOverlapError) as info:
        _template(science, calexpRepository, _ids(1, 2))
    assert str(info.value) == (
        f"{calexpRepository}: none of the template visits {{visit: 1, detector: 0, band: 'r'}}, "
        "{visit: 2, detector: 0, band: 'r'} has a valid pixel on the science exposure (expected "
        "visits overlapping the science footprint)")
