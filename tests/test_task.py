"""ImageDifferenceTask flow: do* flags, direction choice, misalignment guard."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from diffim.errors import InputError, RegistrationRequiredError
from diffim.fits_io import writeExposure
from diffim.pipeline import load_pipeline
from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask

from paths import PIPELINES


def _task(*overrides: str) -> ImageDifferenceTask:
    return ImageDifferenceTask(config=load_pipeline(PIPELINES / "default.yaml", overrides))


@pytest.fixture(scope="module")
def pair():
    return simulatePair(size=512, nTransients=8, seed=21)


def test_wrong_template_wcs_stops_with_register_hint(pair):
    science, template, _ = pair
    shifted = template.clone()
    shifted.wcs.wcs.crval = shifted.wcs.wcs.crval + [1.0 / 3600 / np.cos(np.deg2rad(2.0)), 0.0]
    with pytest.raises(RegistrationRequiredError, match=r"offset from the science image by "
                                                        r"dx=\+(4.9\d|5.0\d), .*doUseRegister=True"):
        _task().run(exposure=science, templateExposure=shifted)
    result = _task("maxTemplateOffset=10").run(exposure=science, templateExposure=shifted)
    assert result.metadata["templateMisalignment"][0] == pytest.approx(5.0, abs=0.1)


def test_good_wcs_measures_no_misalignment(pair):
    science, template, _ = pair
    result = _task().run(exposure=science, templateExposure=template)
    assert np.hypot(*result.metadata["templateMisalignment"]) < 0.05


@pytest.mark.parametrize("seeingRatio,expected", [(1.3, True), (0.75, False)])
def test_auto_convolves_the_sharper_image(seeingRatio, expected):
    science, template, _ = simulatePair(size=512, seeingRatio=seeingRatio, nTransients=0, seed=2)
    result = _task("convolveTemplate=auto").run(exposure=science, templateExposure=template)
    assert result.metadata["convolveTemplate"] is expected
    difference = result.subtractedExposure
    good = ~difference.maskedPixels("NO_DATA", "EDGE", "DETECTED", "DETECTED_NEGATIVE", "SAT")
    z = difference.image[good] / np.sqrt(difference.variance[good])
    assert abs(1.4826 * np.median(np.abs(z - np.median(z))) - 1.0) < 0.1


def test_calexp_background_is_added_back(pair):
    science, template, _ = pair
    background = np.full(science.shape, 250.0, dtype=np.float32)
    plain = _task().run(exposure=science, templateExposure=template)
    added = _task("doAddCalexpBackground=true").run(exposure=science, templateExposure=template,
                                                    calexpBackgroundExposure=background)
    # The AL differential background absorbs a constant offset: same difference.
    good = np.isfinite(plain.subtractedExposure.image) & np.isfinite(added.subtractedExposure.image)
    diff = added.subtractedExposure.image[good] - plain.subtractedExposure.image[good]
    assert abs(np.median(diff)) < 0.05 * np.sqrt(np.median(science.variance))
    with pytest.raises(InputError, match="calexpBackgroundExposure"):
        _task("doAddCalexpBackground=true").run(exposure=science, templateExposure=template)


def test_detection_only_on_an_existing_difference(pair):
    science, template, _ = pair
    first = _task().run(exposure=science, templateExposure=template)
    again = _task("doSubtract=false").run(exposure=science,
                                           subtractedExposure=first.subtractedExposure)
    assert again.subtractRes is None
    assert len(again.diaSources) == pytest.approx(len(first.diaSources), abs=2)


def test_templates_of_another_band_are_refused(pair):
    science, template, _ = pair
    other = template.clone()
    other.filter = "g" if science.filter != "g" else "r"
    with pytest.raises(InputError, match=rf"science exposure is in band '{science.filter}' but "
                                         rf"the template in band '{other.filter}'"):
        _task().run(exposure=science, templateExposure=other)


def test_images_too_large_for_memory_are_refused_from_the_header(tmp_path):
    from astropy.io import fits

    from diffim.fits_io import readExposure

    header = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2),
                          ("NAXIS1", 300000), ("NAXIS2", 300000)])
    path = tmp_path / "huge.fits"
    path.write_bytes(header.tostring().encode())
    with pytest.raises(InputError, match=r"huge.fits: a 300000x300000 image needs about "
                                         r"\d+\.\d GiB to process"):
        readExposure(path)


def test_diasources_match_science_sources_and_reference_catalog(tmp_path):
    from astropy.table import Table

    from diffim.fits_io import writeTable

    science, template, truth = simulatePair(size=512, nTransients=6, nVariables=6, seed=23)
    stars = truth[truth["kind"] != "transient"]
    reference = Table({"id": np.asarray(stars["id"]), "ra": stars["ra"], "dec": stars["dec"]})
    path = writeTable(reference, tmp_path / "refcat.fits")
    sources = Table({"id": np.asarray(stars["id"]), "x": stars["x"], "y": stars["y"],
                     "ra": stars["ra"], "dec": stars["dec"]})
    config = load_pipeline(PIPELINES / "default.yaml",
                           ["doMatchSources=true", f"astrometer.refCatalog={path}",
                            "astrometer.pmRaColumn=null", "astrometer.pmDecColumn=null"])
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template,
                                                    selectSources=sources)
    dia = result.diaSources
    for kind, matched in (("variable", True), ("transient", False)):
        checked = 0
        for row in truth[truth["kind"] == kind]:
            d = np.hypot(dia["x"] - row["x"], dia["y"] - row["y"])
            if d.min() > 1.0:
                continue
            i = int(np.argmin(d))
            checked += 1
            assert (dia["refMatchId"][i] == row["id"]) == matched, (kind, row["id"])
            assert (dia["srcMatchId"][i] == row["id"]) == matched
        assert checked >= 3, kind


def _coaddRepository(root, template, nx: int = 2) -> None:
    """``template`` cut into ``nx`` side-by-side patches of one tract under ``deepCoadd/r``."""
    band = root / "deepCoadd" / "r"
    band.mkdir(parents=True)
    width = template.shape[1] // nx
    for i in range(nx):
        x0, x1 = i * width, template.shape[1] if i == nx - 1 else (i + 1) * width + 16
        patch = template.clone()
        patch.image, patch.variance = template.image[:, x0:x1], template.variance[:, x0:x1]
        patch.mask = template.mask[:, x0:x1]
        patch.wcs.wcs.crpix = template.wcs.wcs.crpix - [x0, 0]
        writeExposure(patch, band / f"patch_{i}.fits")


def test_template_built_from_a_coadd_repository(pair, tmp_path):
    """getTemplate assembles the patches; the difference is the one from the file (the
    assembled template, bordered with NO_DATA, is resampled on a larger grid)."""
    science, template, _ = pair
    _coaddRepository(tmp_path, template)
    fromFile = _task().run(exposure=science, templateExposure=template)
    fromRepo = _task().run(exposure=science, templateSource=tmp_path)
    assert fromRepo.metadata["templatePatches"] == ("deepCoadd/r/patch_0.fits,"
                                                    "deepCoadd/r/patch_1.fits")
    a, b = fromFile.subtractedExposure, fromRepo.subtractedExposure
    good = ~(a.maskedPixels("NO_DATA") | b.maskedPixels("NO_DATA"))
    assert good.mean() > 0.85                    # all but the kernel-wide border
    change = (a.image[good] - b.image[good]) / np.sqrt(a.variance[good])
    assert np.abs(change).max() < 1.0 and np.std(change) < 0.1
    assert len(fromRepo.diaSources) == len(fromFile.diaSources)


def test_a_template_is_required(pair, tmp_path):
    science, _, _ = pair
    with pytest.raises(InputError, match="needs a template: a templateExposure, or a "
                                         "templateSource"):
        _task().run(exposure=science)
    with pytest.raises(InputError, match=f"{tmp_path / 'nothing'}"):
        _task().run(exposure=science, templateSource=tmp_path / "nothing")


def test_forced_photometry_started_early_is_joined_or_redone(pair):
    """Forced photometry runs beside measurement on the detected catalog; its columns are
    joined to the measured one, or it is done again when measurement moved the sources."""
    science, template, _ = pair
    task = _task()
    diaSources = task.run(exposure=science, templateExposure=template).diaSources
    detected = diaSources["id", "x", "y"]
    flux = "ip_diffim_forced_PsfFlux_instFlux"

    def early():
        return task._call("forcedMeasurement", Table, diaSources=detected.copy(),
                          science=science)

    measured = detected.copy()
    measured["psfFlux"] = 1.0                            # what measurement adds is kept
    joined = task._joinForced(detected, measured, early, science)
    assert joined.colnames[:4] == ["id", "x", "y", "psfFlux"] and flux in joined.colnames
    np.testing.assert_array_equal(joined[flux], diaSources[flux])
    moved = measured.copy()
    moved["x"] += 1.5
    redone = task._joinForced(detected, moved, early, science)
    again = task._call("forcedMeasurement", Table, diaSources=moved, science=science)
    np.testing.assert_array_equal(redone[flux], again[flux])
    assert not np.allclose(redone[flux], joined[flux])
