"""The data repository: sky map geometry, registry, datasets by data ID, ingest, consistency."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from diffim.cli import main
from diffim.errors import InputError
from diffim.fits_io import writeExposure
from diffim.repo import (DatasetExistsError, Repository, RepositoryError, SkyMap, TractInfo,
                         exposureId)
from diffim.testing.simulate import simulatePair

SCIENCE_ID = {"visit": 12, "detector": 3, "band": "r"}


@pytest.fixture(scope="module")
def images():
    science, template, truth = simulatePair(size=128, seed=5, nTransients=3)
    return science, template, truth


@pytest.fixture
def repo(tmp_path):
    return Repository.create(tmp_path / "repo")


# Sky map ------------------------------------------------------------------------------------

def test_patches_tile_the_tract_and_overlap_by_twice_the_border():
    skyMap = SkyMap.discrete([(150.0, 2.0)], radius=0.05, pixelScale=0.2,
                             patchInnerDimensions=400, patchBorder=30)
    tract = skyMap[0]
    assert tract.numPatches == (5, 5) and tract.width == tract.height == 2000
    covered = np.zeros((tract.height, tract.width), int)
    for patch in tract.patchIds:
        x0, y0, w, h = tract.patchInnerBox(patch)
        covered[y0:y0 + h, x0:x0 + w] += 1
    assert (covered == 1).all()
    # patch 0 and its right neighbour share 2 * border columns
    a, b = tract.patchOuterBox(0), tract.patchOuterBox(1)
    assert a == (0, 0, 430, 430) and b == (370, 0, 460, 430)
    assert a[0] + a[2] - b[0] == 60
    # the patch grid is the tract grid shifted by the outer box corner
    x0, y0, _, _ = tract.patchOuterBox(7)
    ra, dec = tract.patchWcs(7).pixel_to_world_values(10.0, 20.0)
    tx, ty = tract.wcs.world_to_pixel_values(ra, dec)
    assert abs(tx - (x0 + 10.0)) < 1e-6 and abs(ty - (y0 + 20.0)) < 1e-6
    # the tangent point is at the tract centre
    assert np.allclose(tract.wcs.world_to_pixel_values(150.0, 2.0), (999.5, 999.5))


def test_find_patches_of_an_outline_across_a_patch_corner():
    tract = TractInfo(0, 10.0, -30.0, 0.2, 800, 800, 400, 20)
    skyMap = SkyMap([tract])
    x = np.array([390.0, 410.0, 410.0, 390.0])
    y = np.array([390.0, 390.0, 410.0, 410.0])
    ra, dec = tract.wcs.pixel_to_world_values(x, y)
    assert skyMap.findPatches(ra, dec) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    # inside patch 3's inner box but within the border of patch 1 (above it)
    ra, dec = tract.wcs.pixel_to_world_values(np.array([600.0, 610.0]),
                                              np.array([410.0, 415.0]))
    assert skyMap.findPatches(ra, dec) == [(0, 1), (0, 3)]
    # the far side of the sky
    assert skyMap.findPatches(np.array([190.0]), np.array([30.0])) == []
    assert SkyMap.fromDict(skyMap.toDict()) == skyMap


def test_sky_map_errors_name_what_is_wrong():
    with pytest.raises(InputError, match="no tract 4"):
        SkyMap.discrete([(0.0, 0.0)], 0.01)[4]
    with pytest.raises(InputError, match="has no patch 9"):
        TractInfo(0, 0.0, 0.0, 0.2, 800, 800, 400, 20).patchInnerBox(9)
    with pytest.raises(InputError, match="not a sky map"):
        SkyMap.fromDict({"tract": []}, "skyMap.yaml")


# Datasets -----------------------------------------------------------------------------------

def test_put_get_round_trip_by_data_id(repo, images):
    science, template, truth = images
    path = repo.put(science, "calexp", SCIENCE_ID)
    assert path == repo.root / "calexp/r/12/calexp_r_12_3.fits"
    repo.put(truth, "truth", {**SCIENCE_ID, "visit": "12"})
    repo.put(template, "deepCoadd", {"tract": 0, "patch": 2, "band": "r"})
    reopened = Repository(repo.root)
    got = reopened.get("calexp", SCIENCE_ID)
    assert np.array_equal(got.image, science.image) and np.array_equal(got.mask, science.mask)
    assert np.array_equal(got.variance, science.variance) and got.filter == "r"
    assert len(reopened.get("truth", SCIENCE_ID)) == len(truth)
    assert reopened.exists("deepCoadd", {"tract": 0, "patch": 2, "band": "r"})
    assert not reopened.exists("deepCoadd", {"tract": 0, "patch": 3, "band": "r"})
    # extra keys of other dataset types are dropped: a visit's data ID names its coadd too
    assert not reopened.exists("deepCoadd", {**SCIENCE_ID, "tract": 0, "patch": 3})


def test_a_dataset_is_registered_once(repo, images):
    science = images[0]
    repo.put(science, "calexp", SCIENCE_ID)
    with pytest.raises(DatasetExistsError, match=r"calexp \{visit: 12, detector: 3, band: 'r'\} "
                                                 "exists already"):
        repo.put(science, "calexp", SCIENCE_ID)
    brighter = type(science)(**{**science.__dict__, "image": science.image + 1})
    repo.put(brighter, "calexp", SCIENCE_ID, overwrite=True)
    assert len(repo.query("calexp")) == 1
    assert np.array_equal(repo.get("calexp", SCIENCE_ID).image, science.image + 1)


def test_put_many_registers_nothing_when_a_write_fails(repo, images, monkeypatch):
    import diffim.repo.repository as module

    science, _, truth = images
    real = module._write
    calls = []

    def failSecond(obj, kind, path, header=None):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(obj, kind, path, header)

    monkeypatch.setattr(module, "_write", failSecond)
    with pytest.raises(OSError):
        repo.putMany([(science, "calexp", SCIENCE_ID), (truth, "truth", SCIENCE_ID)])
    assert repo.query() == []
    # the first file is complete but unregistered: the check says so, a rerun replaces it
    assert [p.endswith("not registered") for p in repo.check()] == [True]
    monkeypatch.setattr(module, "_write", real)
    repo.putMany([(science, "calexp", SCIENCE_ID), (truth, "truth", SCIENCE_ID)])
    assert len(repo.query()) == 2 and repo.check() == []


def test_wrong_data_ids_and_types_are_refused(repo, images):
    science = images[0]
    with pytest.raises(InputError, match="missing detector"):
        repo.put(science, "calexp", {"visit": 1, "band": "r"})
    with pytest.raises(InputError, match="unknown key.*filter"):
        repo.put(science, "calexp", {**SCIENCE_ID, "filter": "r"})
    with pytest.raises(InputError, match="visit: expected an integer, got 'one'"):
        repo.put(science, "calexp", {**SCIENCE_ID, "visit": "one"})
    with pytest.raises(InputError, match="unknown dataset type 'calexpo'"):
        repo.put(science, "calexpo", SCIENCE_ID)
    with pytest.raises(InputError, match="a src must be a Table"):
        repo.put(science, "src", SCIENCE_ID)
    with pytest.raises(RepositoryError, match=r"no calexp \{visit: 12.*0 calexp datasets"):
        repo.get("calexp", SCIENCE_ID)
    with pytest.raises(RepositoryError, match="not a diffim data repository"):
        Repository(repo.root / "calexp")
    with pytest.raises(RepositoryError, match="not an empty directory"):
        Repository.create(repo.root)


def test_query_where(repo, images):
    science = images[0]
    for visit in range(1, 7):
        repo.put(science, "calexp", {"visit": visit, "detector": visit % 2,
                                     "band": "g" if visit > 4 else "r"})
    visits = lambda where: [ref.dataId["visit"] for ref in repo.query("calexp", where)]  # noqa
    assert visits(None) == [1, 2, 3, 4, 5, 6] or sorted(visits(None)) == [1, 2, 3, 4, 5, 6]
    assert sorted(visits("visit > 3 AND band = 'r'")) == [4]
    assert sorted(visits("visit IN (1, 2, 9) OR band == \"g\"")) == [1, 2, 5, 6]
    assert sorted(visits("NOT (detector = 1 or visit <= 2)")) == [4, 6]
    assert sorted(visits("visit NOT IN (1, 2) AND detector != 0")) == [3, 5]
    with pytest.raises(InputError, match=r"--where 'visit >> 3': expected an integer \(the "
                                         "value of visit\\) at character 8"):
        repo.query(where="visit >> 3")
    with pytest.raises(InputError, match="expected a key .* found 'filter'"):
        repo.query(where="filter = 'r'")
    with pytest.raises(InputError, match="expected a quoted string"):
        repo.query(where="band = 3")
    with pytest.raises(InputError, match="expected '\\)' at character 11, found the end"):
        repo.query(where="(visit = 1")


def test_data_ref_finds_the_band_and_makes_exposure_ids(repo, images):
    repo.put(images[0], "calexp", SCIENCE_ID)
    ref = repo.dataRef(visit=12, detector=3)
    assert ref.dataId == SCIENCE_ID and ref.datasetExists("calexp")
    assert not ref.datasetExists("src")
    assert exposureId(SCIENCE_ID) == (12 << 8) | 3
    with pytest.raises(RepositoryError, match="0 calexps"):
        repo.dataRef(visit=13, detector=3)


def test_ingest_takes_the_data_id_from_the_header(repo, images, tmp_path):
    science = images[0]
    science.metadata.update({"VISIT": 41, "CCDNUM": 7})
    source = writeExposure(science, tmp_path / "exposure.fits")
    path = repo.ingest(source, "calexp")
    assert repo.query("calexp")[0].dataId == {"visit": 41, "detector": 7, "band": "r"}
    assert path.read_bytes() == source.read_bytes() and source.exists()
    # flags win over the header; a symbolic link leaves the file where it is
    linked = repo.ingest(source, "calexp", {"visit": 42}, transfer="symlink")
    assert linked.is_symlink() and linked.resolve() == source.resolve()
    moved = repo.ingest(source, "calexp", {"visit": 43}, transfer="move")
    assert not source.exists() and moved.is_file()
    plain = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(plain)
    with pytest.raises(InputError, match="plain.fits: data ID .* missing visit, detector, band"):
        repo.ingest(plain, "calexp")
    with pytest.raises(DatasetExistsError, match="exists already"):
        repo.ingest(moved, "calexp", {"visit": 41})


def test_check_finds_what_disagrees(repo, images):
    science = images[0]
    repo.put(science, "calexp", SCIENCE_ID)
    repo.put(science, "calexp", {**SCIENCE_ID, "visit": 13})
    assert repo.check() == []
    repo.path("calexp", SCIENCE_ID).unlink()
    stray = repo.root / "calexp/r/99/stray.fits"
    stray.parent.mkdir()
    stray.write_bytes(b"x")
    dead = _deadPid()
    host = socket.gethostname()
    temporary = repo.root / f"calexp/r/13/.calexp_r_13_3.fits.tmp-{dead}@{host}-0123abcd.fits"
    temporary.write_bytes(b"partial")
    live = repo.root / f"calexp/r/13/.x.fits.tmp-{os.getpid()}@{host}-0123abcd.fits"
    live.write_bytes(b"being written")
    problems = repo.check()
    assert len(problems) == 3, problems
    assert "registered as calexp" in problems[0] and problems[0].endswith("but missing")
    assert problems[1] == f"{stray}: not registered"
    assert problems[2] == f"{temporary}: temporary file of a writer that no longer runs"
    assert repo.removeStaleTemporaries() == [temporary] and live.exists()


def _deadPid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _register(root: str, start: int) -> None:
    repository = Repository(root)
    table = Table({"x": [1.0]})
    for visit in range(start, start + 15):
        repository.put(table, "src", {"visit": visit, "detector": 0, "band": "r"})


def test_concurrent_writers_wait_for_each_other(repo):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_register, args=(str(repo.root), start))
                 for start in (0, 100, 200)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    assert len(repo.query("src")) == 45 and repo.check() == []


def test_batch_results_table(repo):
    repo.recordBatchResult("night1", SCIENCE_ID, status="ok", quality="ok", nDiaSources=5,
                           nPositive=4, nNegative=1, noiseRatio=1.02, seconds=3.5)
    repo.recordBatchResult("night1", {**SCIENCE_ID, "visit": 13}, status="failed", seconds=0.5,
                           message="template covers 2.0% of the science image")
    repo.recordBatchResult("night1", SCIENCE_ID, status="ok", quality="suspect", nDiaSources=6,
                           nPositive=5, nNegative=1, noiseRatio=1.2, seconds=3.0)
    table = repo.batchResults("night1")
    assert list(table["visit"]) == [13, 12] and list(table["status"]) == ["failed", "ok"]
    assert table["n_dia_sources"].mask.tolist() == [True, False]
    assert table["n_dia_sources"][1] == 6 and table["quality"][1] == "suspect"
    assert len(repo.batchResults("other")) == 0


# Command line -------------------------------------------------------------------------------

def test_repo_commands(tmp_path, images, capsys):
    root = tmp_path / "cli"
    assert main(["repo", "create", str(root), "--tract", "150,2", "--tract-radius", "0.02",
                 "--patch-size", "200", "--patch-border", "10"]) == 0
    assert "sky map of 1 tracts, 4x4 patches each" in capsys.readouterr().out
    assert Repository(root).skyMap[0].numPatches == (4, 4)
    science = images[0]
    files = []
    for visit in (5, 6):
        science.metadata.update({"VISIT": visit, "DETECTOR": 1})
        files.append(str(writeExposure(science, tmp_path / f"v{visit}.fits")))
    assert main(["repo", "ingest", str(root), *files, "--type", "calexp"]) == 0
    assert "calexp {visit: 6, detector: 1, band: 'r'}" in capsys.readouterr().out
    assert main(["repo", "query", str(root), "calexp", "--where", "visit > 5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["datasetType", "visit", "detector", "band", "path"]
    assert out[1].split() == ["calexp", "6", "1", "r", "calexp/r/6/calexp_r_6_1.fits"]
    assert out[-1] == "1 datasets"
    assert main(["repo", "check", str(root)]) == 0
    Path(files[0]).unlink()
    (root / "calexp/r/5/calexp_r_5_1.fits").unlink()
    assert main(["repo", "check", str(root)]) == 1
    assert main(["repo", "query", str(root), "--where", "visit >"]) == 1
    assert "diffim: error: --where 'visit >': expected an integer" in capsys.readouterr().err


# PostgreSQL ---------------------------------------------------------------------------------

def _postgres() -> Path | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


@pytest.mark.skipif(_postgres() is None, reason="no PostgreSQL server binaries to start")
def test_postgresql_registry(tmp_path, images):
    pytest.importorskip("psycopg")
    bin = _postgres()
    # the server's own folder, outside pytest's (which only its owner may enter)
    home = Path(tempfile.mkdtemp(prefix="diffim-pg-"))
    prefix = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        shutil.chown(home, "nobody")
        prefix = ["runuser", "-u", "nobody", "--"]
    run = lambda *args: subprocess.run([*prefix, *args], capture_output=True,  # noqa: E731
                                       timeout=120)
    if run(str(bin / "initdb"), "-D", str(home / "data"), "-A", "trust",
           "-U", "diffim").returncode != 0:
        pytest.skip("initdb failed")
    port = 50000 + os.getpid() % 10000
    started = run(str(bin / "pg_ctl"), "-D", str(home / "data"), "-w", "-l", str(home / "log"),
                  "-o",
                  f"-p {port} -k {home} -c listen_addresses=''", "start")
    if started.returncode != 0:
        pytest.skip(f"the server did not start: {started.stderr.decode()[-200:]}")
    try:
        url = f"postgresql+psycopg://diffim@/postgres?host={home}&port={port}"
        repo = Repository.create(tmp_path / "repo", registry=url)
        repo.put(images[0], "calexp", SCIENCE_ID)
        with pytest.raises(DatasetExistsError):
            repo.put(images[0], "calexp", SCIENCE_ID)
        reopened = Repository(tmp_path / "repo")
        assert reopened.registryUrl == url
        assert [r.dataId for r in reopened.query(where="visit IN (12) AND band = 'r'")] == \
            [SCIENCE_ID]
        assert reopened.check() == []
        reopened.close()
        repo.close()
    finally:
        run(str(bin / "pg_ctl"), "-D", str(home / "data"), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)
