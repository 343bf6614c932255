"""``ImageDifferenceTask.runDataRef`` on simulated data repositories."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from paths import PIPELINES

from astropy.io import fits

from diffim.errors import ConfigError, InputError, NoOverlapError
from diffim.noise import cleanSignificance, noiseRatio
from diffim.pipeline import load_pipeline
from diffim.repo import Repository, exposureId
from diffim.repo.datasets import EXPOSURE_ID_BITS
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair
from diffim.testing.simulate_repo import simulateRepo


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return simulateRepo(tmp_path_factory.mktemp("runDataRef") / "repo", seed=3)


def _recovered(sources, truth, minSnr=10.0, radius=2.0) -> tuple[int, int]:
    """(transients of true S/N >= minSnr with a diaSource within radius px, how many there are)."""
    transients = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] >= minSnr)]
    found = 0
    for row in transients:
        distance = np.hypot(sources["x"] - row["x"], sources["y"] - row["y"])
        found += bool(len(sources)) and distance.min() < radius
    return found, len(transients)


def test_run_data_ref_reads_runs_and_registers_its_outputs(simulated):
    repository = simulated.repository
    dataId = {"visit": 1, "detector": 0, "band": "r"}
    config = load_pipeline(PIPELINES / "default.yaml", ["doWriteWarpedExp=true"])
    result = ImageDifferenceTask(config).runDataRef(repository.dataRef(visit=1, detector=0))
    assert result.quality.status == "ok", result.quality.reasons
    # the template came from the sky map's four patches around the visit
    assert result.metadata["templatePatches"].count("deepCoadd_r_0_") == 4
    names = ["deepDiff_differenceExp", "deepDiff_diaSrc", "deepDiff_warpedExp"]
    assert sorted(ref.datasetType for ref in repository.query(where="visit = 1")) == \
        sorted(["calexp", "truth", *names])
    assert repository.check() == []
    difference = repository.get("deepDiff_differenceExp", dataId)
    assert np.array_equal(difference.image, result.subtractedExposure.image, equal_nan=True)
    assert abs(noiseRatio(cleanSignificance(difference)) - 1.0) < 0.05
    sources = repository.get("deepDiff_diaSrc", dataId)
    assert len(sources) == len(result.diaSources)
    # ids carry the exposure id in their high bits, as LSST's idFactory makes them
    assert set(np.asarray(sources["id"]) >> (63 - EXPOSURE_ID_BITS)) == {exposureId(dataId)}
    found, total = _recovered(sources, repository.get("truth", dataId))
    # all but one: an S/N-19 transient 12 px from a star 50x brighter shares its footprint
    # with the star's residual and is reported 4 px off (seed 3)
    assert total >= 10 and found >= total - 1


def test_too_little_template_coverage_fails_with_the_coverage(simulated):
    config = load_pipeline(PIPELINES / "default.yaml")
    poor = simulated.poorlyCovered
    with pytest.raises(NoOverlapError, match="template covers .*% of the science image; "
                                             "requiredTemplateFraction is 10.0%"):
        ImageDifferenceTask(config).runDataRef(simulated.repository.dataRef(**poor))
    assert not simulated.repository.exists("deepDiff_differenceExp", poor)


def test_coadd_name_names_template_and_outputs(simulated):
    config = load_pipeline(PIPELINES / "default.yaml",
                           ["coaddName=goodSeeing", "getTemplate.coaddName=goodSeeing"])
    with pytest.raises(Exception, match="no goodSeeingCoadd patch of band 'r' is registered "
                                        r"\(bands registered: none"):
        ImageDifferenceTask(config).runDataRef(simulated.repository.dataRef(visit=2, detector=0))
    with pytest.raises(ConfigError, match="getTemplate.coaddName .* must equal coaddName"):
        load_pipeline(PIPELINES / "default.yaml", ["coaddName=goodSeeing"])


def test_calexp_template_from_another_visit(tmp_path):
    science, template, truth = simulatePair(size=512, seed=8, nTransients=20)
    repository = Repository.create(tmp_path / "repo")
    repository.putMany([(science, "calexp", {"visit": 1, "detector": 0, "band": "r"}),
                        (truth, "truth", {"visit": 1, "detector": 0, "band": "r"}),
                        (template, "calexp", {"visit": 2, "detector": 0, "band": "r"})])
    config = load_pipeline(PIPELINES / "default.yaml", ["getTemplate=calexp"])
    task = ImageDifferenceTask(config)
    result = task.runDataRef(repository.dataRef(visit=1, detector=0),
                             templateIdList=[{"visit": 2}])
    assert result.quality.status == "ok", result.quality.reasons
    assert '"visit": 2' in result.metadata["templateVisits"]
    dataId = {"visit": 1, "detector": 0, "band": "r"}
    difference = repository.get("deepDiff_differenceExp", dataId)
    assert abs(noiseRatio(cleanSignificance(difference)) - 1.0) < 0.05
    found, total = _recovered(repository.get("deepDiff_diaSrc", dataId), truth)
    assert total >= 10 and found == total
    with pytest.raises(ConfigError, match="needs template visits"):
        task.runDataRef(repository.dataRef(visit=1, detector=0))


def test_a_template_visit_covering_a_third_is_decorrelated_where_it_has_data(simulated):
    """Visit 1 covers a third of visit 2: the kernel and PSF of the decorrelation are taken
    where the template has data (at the image centre they were an extrapolation, and the
    decorrelated PSF had no width, so detection found nothing), and the run says it is
    suspect because most of the difference holds no data."""
    repository = simulated.repository
    config = load_pipeline(PIPELINES / "default.yaml", ["getTemplate=calexp"])
    scienceId = {"visit": 2, "detector": 0, "band": "r"}
    result = ImageDifferenceTask(config).runDataRef(repository.dataRef(**scienceId),
                                                    templateIdList=[{"visit": 1}])
    difference = result.subtractedExposure
    sciencePsf = repository.get("calexp", scienceId).psf
    x, y = difference.psf.averagePosition
    assert np.isfinite(difference.image[int(round(y)), int(round(x))])
    assert abs(difference.psf.sigma() / sciencePsf.sigma() - 1.0) < 0.15
    assert result.quality.status == "suspect"
    assert any("of the difference holds data" in reason for reason in result.quality.reasons)


def test_the_sky_map_picks_the_patches_a_visit_needs(simulated):
    from diffim_get_template.footprint import boxOutline
    from diffim_get_template.registered import registeredPatchFiles

    repository = simulated.repository
    for visit, patches in simulated.visitPatches.items():
        science = repository.get("calexp", {"visit": visit, "detector": 0, "band": "r"})
        ra, dec = science.wcs.celestial.pixel_to_world_values(
            *boxOutline(science.width, science.height, 0.0))
        found = {int(path.parent.name)
                 for path in registeredPatchFiles(repository.root, "deep", "r", ra, dec, 0)}
        # every patch the visit overlaps; others only where the outline's bounding box on
        # the tract (the visits are rotated by up to 1 degree) reaches into a patch's border
        assert set(patches) <= found, visit
        if visit == 6:  # well inside patch 0
            assert found == set(patches) == {0}


def test_calexp_background_is_added_back(tmp_path):
    """doAddCalexpBackground reads the visit's calexpBackground dataset (ingested from a plain
    FITS image here): the run on the background-subtracted calexp gives the difference of the
    run on the original, and a visit without the dataset fails naming it."""
    science, template, _ = simulatePair(size=384, seed=6, nTransients=10)
    ny, nx = science.shape
    yy, xx = np.mgrid[:ny, :nx]
    bump = (300.0 * np.exp(-((xx - 150) ** 2 + (yy - 220) ** 2) / (2 * 25.0**2))
            ).astype(np.float32)
    subtracted = dataclasses.replace(science, image=science.image - bump)
    repository = Repository.create(tmp_path / "repo")
    r = {"detector": 0, "band": "r"}
    repository.putMany([(science, "calexp", {"visit": 1, **r}),
                        (subtracted, "calexp", {"visit": 3, **r}),
                        (template, "calexp", {"visit": 2, **r})])
    fits.writeto(tmp_path / "background.fits", bump)
    repository.ingest(tmp_path / "background.fits", "calexpBackground", {"visit": 3, **r})
    plain = load_pipeline(PIPELINES / "default.yaml", ["getTemplate=calexp"])
    withBackground = load_pipeline(PIPELINES / "default.yaml",
                                   ["getTemplate=calexp", "doAddCalexpBackground=true"])
    reference = ImageDifferenceTask(plain).runDataRef(repository.dataRef(visit=1, detector=0),
                                                      templateIdList=[{"visit": 2}])
    restored = ImageDifferenceTask(withBackground).runDataRef(
        repository.dataRef(visit=3, detector=0), templateIdList=[{"visit": 2}])
    difference = restored.subtractedExposure.image - reference.subtractedExposure.image
    assert np.nanmax(np.abs(difference)) < 0.1
    assert len(restored.diaSources) == len(reference.diaSources)
    with pytest.raises(InputError, match="needs its calexpBackground dataset"):
        ImageDifferenceTask(withBackground).runDataRef(repository.dataRef(visit=1, detector=0),
                                                       templateIdList=[{"visit": 2}])


def test_pictures_and_report_are_repository_datasets(tmp_path):
    """doWriteQuicklook, doWriteCutouts, doWriteRegions and doWriteReport write datasets of
    their own (deepDiff_quicklook, _gallery, _cutouts, _regions, _report) beside the others."""
    import io

    from astropy.table import Table
    from matplotlib.image import imread
    from regions import Regions

    science, template, _ = simulatePair(size=384, seed=9, nTransients=10)
    repository = Repository.create(tmp_path / "repo")
    r = {"detector": 0, "band": "r"}
    repository.putMany([(science, "calexp", {"visit": 1, **r}),
                        (template, "calexp", {"visit": 2, **r})])
    config = load_pipeline(PIPELINES / "default.yaml",
                           ["getTemplate=calexp", "doWriteQuicklook=true", "doWriteCutouts=true",
                            "doWriteRegions=true", "doWriteReport=true"])
    result = ImageDifferenceTask(config).runDataRef(repository.dataRef(visit=1, detector=0),
                                                    templateIdList=[{"visit": 2}])
    dataId = {"visit": 1, **r}
    kinds = ("quicklook", "gallery", "cutouts", "regions", "report")
    for kind in kinds:
        assert repository.exists(f"deepDiff_{kind}", dataId), kind
    assert repository.path("deepDiff_quicklook", dataId).suffix == ".png"
    assert repository.path("deepDiff_report", dataId).name == "deepDiff_report_r_1_0.html"
    assert imread(io.BytesIO(repository.get("deepDiff_quicklook", dataId))).shape[:2] == (450, 1600)
    n = len(result.diaSources)
    stamps = Table.read(repository.path("deepDiff_cutouts", dataId), hdu="SOURCES")
    assert len(stamps) == n
    circles = Regions.parse(repository.get("deepDiff_regions", dataId).decode(), format="ds9")
    assert len(circles) >= n
    page = repository.get("deepDiff_report", dataId).decode()
    assert f'<span id="count-total">{n}</span>' in page
    assert page.count("data:image/png;base64,") == 2
    assert repository.check() == []
