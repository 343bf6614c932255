"""The applyApCorr plugin: contract, corrected fluxes against the truth, flags and errors."""
import numpy as np
import pytest
from astropy.table import Table

from diffim import plugins
from diffim.errors import InputError
from diffim_apcorr import ApplyApCorr, ApplyApCorrConfig, InsufficientApCorrStarsError

FLUX, ERR = "base_PsfFlux_instFlux", "base_PsfFlux_instFluxErr"


def _apply(stars, science, **overrides):
    return ApplyApCorr().diffim_applyApCorr(stars, science, ApplyApCorrConfig(**overrides))


def _slope(stars, values):
    """Slope of ``values`` against u = (x + y) / 2046, the direction the PSF width changes."""
    return np.polyfit((stars["x"] + stars["y"]) / 2046.0, values, 1)[0]


def test_entry_point_and_lsst_defaults():
    assert plugins.load("applyApCorr", "apCorr") is ApplyApCorr
    assert plugins.distribution("applyApCorr", "apCorr") == "diffim-apcorr"
    config = ApplyApCorrConfig()
    assert config.ignoreList == () and config.doFlagApCorrFailures is True
    assert config.fluxFields == ("psfFlux", "base_PsfFlux_instFlux")
    assert config.fitOrder == 2 and config.numIter == 4 and config.numSigmaClip == 3.0


def test_corrected_psf_fluxes_are_total_fluxes(constantMoffat):
    stars, science = constantMoffat.stars, constantMoffat.science
    before = science.image.copy()
    manager = plugins.new_manager()
    manager.register(ApplyApCorr())
    config = ApplyApCorrConfig()
    config.freeze()
    out = manager.hook.diffim_applyApCorr(diaSources=stars, exposure=science, config=config)
    np.testing.assert_array_equal(science.image, before)
    true = stars["scienceFlux"]
    uncorrected, corrected = stars[FLUX] / true, out[FLUX] / true
    assert len(stars) > 20 and out.meta["apCorr"]["nUsed"] >= 20
    assert np.median(uncorrected) < 0.96                 # the truncated PSF model misses ~5%
    assert abs(np.median(corrected) - 1.0) < 0.005
    assert np.mean(np.abs(corrected - 1.0) < 0.01) > 0.75
    best = stars[FLUX] > 300 * stars[ERR]
    assert np.abs(corrected[best] - 1.0).max() < 0.01
    np.testing.assert_allclose(out[FLUX], stars[FLUX] * out["base_PsfFlux_apCorr"])
    np.testing.assert_allclose(out[ERR], stars[ERR] * out["base_PsfFlux_apCorr"])
    assert not out["base_PsfFlux_flag_apCorr"].any()
    assert (out["base_PsfFlux_apCorrErr"] > 0).all()
    assert (out["base_PsfFlux_apCorrErr"] < 0.005).all()
    assert list(out.colnames[:len(stars.colnames)]) == stars.colnames


def test_correction_follows_a_varying_psf(varyingMoffat):
    stars, science = varyingMoffat.stars, varyingMoffat.science
    out = _apply(stars, science)
    true = stars["scienceFlux"]
    assert out.meta["apCorr"]["fitOrder"] >= 1
    assert _slope(stars, stars[FLUX] / true) < -0.06     # wider PSF, more light missed
    assert abs(_slope(stars, out[FLUX] / true)) < 0.03
    assert abs(np.median(out[FLUX] / true) - 1.0) < 0.005
    apCorr = np.asarray(out["base_PsfFlux_apCorr"])
    assert np.ptp(apCorr) > 0.04
    assert np.corrcoef((stars["x"] + stars["y"]), apCorr)[0, 1] > 0.9


def test_every_listed_field_is_corrected_and_ignored_ones_are_not(constantMoffat):
    stars = constantMoffat.stars.copy()
    stars["psfFlux"] = stars[FLUX] * 1.1
    stars["psfFluxErr"] = stars[ERR]
    both = _apply(stars, constantMoffat.science)
    np.testing.assert_allclose(both["psfFlux"] / stars["psfFlux"], both[FLUX] / stars[FLUX])
    np.testing.assert_allclose(both["psfFlux_apCorr"], both["base_PsfFlux_apCorr"])
    skipped = _apply(stars, constantMoffat.science, ignoreList=["base_PsfFlux"])
    np.testing.assert_array_equal(skipped[FLUX], stars[FLUX])
    assert "base_PsfFlux_apCorr" not in skipped.colnames and "psfFlux_apCorr" in skipped.colnames


def test_failures_are_flagged_and_leave_the_flux(constantMoffat):
    stars = constantMoffat.stars[:3].copy()
    stars["x"][1] = np.nan
    out = _apply(stars, constantMoffat.science)
    assert list(out["base_PsfFlux_flag_apCorr"]) == [False, True, False]
    assert list(out["base_PsfFlux_flag"]) == [False, True, False]
    assert out[FLUX][1] == stars[FLUX][1] and np.isnan(out["base_PsfFlux_apCorr"][1])
    quiet = _apply(stars, constantMoffat.science, doFlagApCorrFailures=False)
    assert list(quiet["base_PsfFlux_flag"]) == [False, False, False]
    assert quiet["base_PsfFlux_flag_apCorr"][1]


def test_aperture_radius_in_pixels(constantMoffat):
    out = _apply(constantMoffat.stars, constantMoffat.science, apertureRadius=12.0,
                 apertureRadiusUnit="pixel")
    assert out.meta["apCorr"]["apertureRadius"] == 12.0


def test_no_flux_field_means_nothing_to_measure(noiseScience):
    table = Table({"x": [10.0], "y": [20.0], "other": [1.0]})
    out = _apply(table, noiseScience)
    assert out.colnames == table.colnames and out is not table


def test_too_few_stars_flag_or_fail_and_bad_inputs_are_clear_errors(noiseScience):
    table = Table({"x": [10.0], "y": [20.0], "psfFlux": [100.0], "psfFluxErr": [5.0]})
    flagged = _apply(table, noiseScience)
    assert flagged["psfFlux_flag_apCorr"][0] and flagged["psfFlux"][0] == 100.0
    assert "only 0 stars" in flagged.meta["apCorr"]["failure"]
    with pytest.raises(InsufficientApCorrStarsError, match="only 0 stars .* at least 2 needed"):
        _apply(table, noiseScience, doFlagApCorrFailures=False)
    with pytest.raises(InputError, match="columns x and y"):
        _apply(Table({"psfFlux": [1.0]}), noiseScience)
    # a plane the exposure lacks counts as empty
    ghost = _apply(table, noiseScience, badMaskPlanes=["SAT", "GHOST"])
    assert list(ghost["psfFlux_flag_apCorr"]) == list(flagged["psfFlux_flag_apCorr"])
