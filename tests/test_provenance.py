"""Outputs that explain themselves: provenance cards, pixel units, calibrated fluxes, counts."""
from __future__ import annotations

import hashlib

import astropy.units as u
import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table
from diffim.fits_io import readTable, writeExposure, writeTable
from diffim.photocalib import PhotoCalib, addCalibratedFluxes
from diffim.pipeline import load_pipeline
from diffim.provenance import diffimVersion, pixelChecksum, provenanceCards
from diffim.runner import RunSummary, countByKind, runFiles
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair, writePair
from diffim.testing.simulate_repo import simulateRepo
from paths import PIPELINES

KEYS = ("DIFFVER", "DIFFPIPE", "SCIFILE", "TMPLFILE", "SCISUM", "TMPLSUM", "DIFFALG",
        "KERNSUM")


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("provenance")
    paths = writePair(directory / "in", size=256, seed=5, nTransients=10)
    pipeline = PIPELINES / "default.yaml"
    config = load_pipeline(pipeline, ["doWriteWarpedExp=true", "doWriteMatchedExp=true",
                                      "doSkySources=true"])
    summary = runFiles(config, paths["science"], paths["template"], directory / "out",
                       pipeline=pipeline)
    return paths, pipeline, config, summary


def test_every_output_file_carries_the_provenance(run):
    paths, pipeline, config, summary = run
    fitsOutputs = [p for p in summary.outputs.values() if p.suffix == ".fits"]
    assert len(fitsOutputs) >= 4, summary.outputs
    scienceSum, templateSum = _sha256(paths["science"]), _sha256(paths["template"])
    metadata = yaml.safe_load(summary.outputs["metadata"].read_text())
    assert metadata["provenance"]["SCISUM"] == scienceSum
    for path in fitsOutputs:
        header = fits.getheader(path, 0)
        missing = [key for key in KEYS if key not in header]
        assert not missing, (path.name, missing)
        assert header["DIFFVER"] == diffimVersion() != "unknown"
        assert header["DIFFPIPE"] == pipeline.name
        assert header["SCIFILE"] == "science.fits"
        assert header["TMPLFILE"] == "template.fits"
        assert header["SCISUM"] == scienceSum
        assert header["TMPLSUM"] == templateSum
        assert header["DIFFALG"] == config.subtract.name
        assert header["KERNSUM"] == pytest.approx(metadata["metadata"]["ALKernelSum"],
                                                  rel=1e-12)
        assert "DATE" not in header  # the same inputs give the same bytes whenever run
        assert all(len(key) <= 8 for key in KEYS)


def test_images_carry_their_pixel_units(run):
    summary = run[3]
    for kind in ("differenceExp", "warpedExp", "matchedExp"):
        with fits.open(summary.outputs[kind]) as hdus:
            assert hdus["IMAGE"].header["BUNIT"] == "adu", kind
            assert hdus["VARIANCE"].header["BUNIT"] == "adu2", kind
            assert u.Unit(hdus["VARIANCE"].header["BUNIT"], format="fits") == u.adu ** 2


def test_the_science_unit_is_carried(tmp_path):
    science, template, _ = simulatePair(size=128, seed=2, nTransients=3)
    science.metadata["BUNIT"] = "electron"
    writeExposure(science, tmp_path / "science.fits")
    writeExposure(template, tmp_path / "template.fits")
    config = load_pipeline(PIPELINES / "default.yaml")
    summary = runFiles(config, tmp_path / "science.fits", tmp_path / "template.fits",
                       tmp_path / "out")
    with fits.open(summary.outputs["differenceExp"]) as hdus:
        assert hdus["IMAGE"].header["BUNIT"] == "electron"
        assert hdus["VARIANCE"].header["BUNIT"] == "electron2"


def test_catalog_fluxes_are_calibrated(run):
    paths, _, _, summary = run
    sources = readTable(summary.outputs["diaSrc"])
    calib = PhotoCalib(fits.getheader(paths["science"], 0)["MAGZERO"])
    for name, unit in (("psfFlux", "ct"), ("psfFlux_nJy", "nJy"), ("psfFluxErr_nJy", "nJy"),
                       ("psfMag", "mag"), ("psfMagErr", "mag"),
                       ("ip_diffim_forced_PsfFlux_nJy", "nJy")):
        assert str(sources[name].unit) == unit, name
    counts = np.asarray(sources["psfFlux"], float)
    nJy = np.asarray(sources["psfFlux_nJy"], float)
    good = np.isfinite(counts) & (counts != 0)
    assert good.sum() >= 5
    np.testing.assert_allclose(nJy[good], counts[good] * calib.calibration, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(sources["psfFluxErr_nJy"])[good],
                               np.asarray(sources["psfFluxErr"])[good] * calib.calibration,
                               rtol=1e-10)
    positive = good & (counts > 0)
    assert positive.any()
    np.testing.assert_allclose(np.asarray(sources["psfMag"])[positive],
                               -2.5 * np.log10(nJy[positive]) + 31.4, rtol=1e-10)
    assert np.all(np.isnan(np.asarray(sources["psfMag"])[counts < 0]))
    forced = np.asarray(sources["ip_diffim_forced_PsfFlux_instFlux"], float)
    ok = np.isfinite(forced)
    np.testing.assert_allclose(np.asarray(sources["ip_diffim_forced_PsfFlux_nJy"])[ok],
                               forced[ok] * calib.calibration, rtol=1e-10)


def test_photocalib_conversions_are_vectorised():
    calib = PhotoCalib(27.0)
    flux = np.array([10.0, 1000.0, -5.0])
    nJy, err = calib.instFluxToNanojansky(flux, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(nJy, flux * 10 ** (0.4 * (31.4 - 27.0)), rtol=1e-12)
    np.testing.assert_allclose(err, np.array([1.0, 2.0, 3.0]) * calib.calibration, rtol=1e-12)
    mag, magErr = calib.instFluxToMagnitude(flux, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(mag[:2], -2.5 * np.log10(nJy[:2]) + 31.4, rtol=1e-12)
    np.testing.assert_allclose(magErr[:2], 2.5 / np.log(10) * np.array([0.1, 0.002]))
    assert np.isnan(mag[2]) and np.isnan(magErr[2])
    table = Table({"psfFlux": flux, "psfFluxErr": [1.0, 2.0, 3.0]})
    assert "psfFlux_nJy" not in addCalibratedFluxes(Table(table), None).colnames
    assert {"psfFlux_nJy", "psfFluxErr_nJy", "psfMag", "psfMagErr"} <= \
        set(addCalibratedFluxes(table, calib).colnames)


def test_the_summary_counts_each_source_once(run):
    summary = run[3]
    sources = readTable(summary.outputs["diaSrc"])
    parts = (summary.nPositive, summary.nNegative, summary.nDipoles, summary.nSkySources)
    assert sum(parts) == summary.nDiaSources == len(sources)
    assert summary.nSkySources == int(np.count_nonzero(sources["sky_source"])) > 0
    line = summary.line()
    assert (f"{summary.nDiaSources} diaSources ({summary.nPositive} positive, "
            f"{summary.nNegative} negative, {summary.nDipoles} dipoles, "
            f"{summary.nSkySources} sky sources)") in line


def test_count_by_kind_counts_a_dipole_once():
    sources = Table({"isPositive": [True, True, False, True, False],
                     "isNegative": [False, True, True, False, False],
                     "ip_diffim_DipoleFit_flag_classification": [False, False, False, True,
                                                                 False],
                     "sky_source": [False, False, False, False, True]})
    assert countByKind(sources) == {"positive": 1, "negative": 1, "dipole": 2, "sky": 1}
    summary = RunSummary(nDiaSources=3, nPositive=1, nNegative=1, nDipoles=1)
    assert "3 diaSources (1 positive, 1 negative, 1 dipoles);" in summary.line()


def test_writers_take_an_extra_header(tmp_path):
    table = Table({"a": [1, 2]})
    cards = {"DIFFVER": ("9.9", "diffim version"), "SCISUM": "x" * 64}
    writeTable(table, tmp_path / "t.fits", header=cards)
    header = fits.getheader(tmp_path / "t.fits", 0)
    assert header["DIFFVER"] == "9.9" and header.comments["DIFFVER"] == "diffim version"
    assert header["SCISUM"] == "x" * 64
    assert table.meta == {}


def test_a_repository_run_records_its_data_ids(tmp_path):
    simulated = simulateRepo(tmp_path / "repo", seed=3)
    repository = simulated.repository
    dataId = {"visit": 1, "detector": 0, "band": "r"}
    calexp = repository.get("calexp", dataId)
    config = load_pipeline(PIPELINES / "default.yaml")
    result = ImageDifferenceTask(config).runDataRef(repository.dataRef(visit=1, detector=0))
    assert repository.check() == []
    assert sorted(result.metadata["outputs"]) == ["diaSrc", "differenceExp"]
    for kind, path in result.metadata["outputs"].items():
        header = fits.getheader(path, 0)
        assert header["SCIFILE"] == "calexp {visit: 1, detector: 0, band: 'r'}", kind
        assert header["SCISUM"] == pixelChecksum(calexp.image)
        assert header["TMPLFILE"] == "deepCoadd patches"
        assert header["TMPLSUM"] == pixelChecksum(result.warpedExposure.image)
        assert header["DIFFALG"] == config.subtract.name
        assert "KERNSUM" in header
    assert "diffim.primaryCards" not in result.diaSources.meta
    assert "diffim.primaryCards" not in result.subtractedExposure.metadata


def test_provenance_cards_of_pixel_inputs():
    science, _, _ = simulatePair(size=64, seed=1, nTransients=1)
    config = load_pipeline(PIPELINES / "default.yaml")
    cards = provenanceCards(config, None, science=("calexp x", science))
    assert cards["SCISUM"][0] == hashlib.sha256(
        science.image.astype("<f4").tobytes()).hexdigest()
    assert cards["DIFFPIPE"][0] == "(config)"
    assert "TMPLFILE" not in cards and "KERNSUM" not in cards


def test_a_run_in_tiles_stamps_its_outputs(tmp_path):
    paths = writePair(tmp_path / "in", size=256, seed=5, nTransients=10)
    config = load_pipeline(PIPELINES / "default.yaml")
    summary = runFiles(config, paths["science"], paths["template"], tmp_path / "out",
                       tileSize=160)
    assert summary.outputs
    for path in (p for p in summary.outputs.values() if p.suffix == ".fits"):
        header = fits.getheader(path, 0)
        assert header["SCISUM"] == _sha256(paths["science"]), path.name
        assert header["DIFFPIPE"] == "(config)"
    with fits.open(summary.outputs["differenceExp"]) as hdus:
        assert hdus["IMAGE"].header["BUNIT"] == "adu"
        assert hdus["VARIANCE"].header["BUNIT"] == "adu2"
    assert summary.nPositive + summary.nNegative + summary.nDipoles + summary.nSkySources == \
        summary.nDiaSources
