"""``diffim batch``: every calexp of a repository on Dask, resumable, isolated failures.

One simulated repository (:func:`diffim.testing.simulate_repo.simulateRepo`: 4 coadd
patches, 8 visits, visit 5 hardly covered by the patches) is processed once on a local
cluster; the other tests compare against that batch: a run of the task on one visit
outside any batch, a batch killed half-way and run again, and a batch on a cluster of
separate ``dask scheduler`` and ``dask worker`` processes.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
from astropy.table import Table
from diffim.batch import planBatch, runBatch
from diffim.batch.command import parseTemplateVisits
from diffim.batch.summary import BatchSummary, DataIdResult
from diffim.batch.work import describeResult, processDataId
from diffim.cli import main
from diffim.errors import InputError
from diffim.pipeline import load_pipeline
from diffim.repo import Repository
from diffim.results import ImageDifferenceResult
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate_repo import POOR_VISIT, simulateRepo
from paths import PIPELINES
from scipy.spatial import cKDTree

PIPELINE = PIPELINES / "default.yaml"
DIFF_TYPES = ("deepDiff_differenceExp", "deepDiff_diaSrc")
VENV_BIN = Path(sys.executable).parent
#: Transients are matched to diaSources within this distance (px).
MATCH_RADIUS = 1.5


def _outputs(root: Path) -> dict[str, bytes]:
    """Relative path -> contents of every output file (temporaries included)."""
    return {str(path.relative_to(root)): path.read_bytes()
            for kind in DIFF_TYPES for path in sorted((root / kind).rglob("*"))
            if path.is_file()}


def _copy(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """The simulated repository, never written to: tests copy it."""
    return simulateRepo(tmp_path_factory.mktemp("batch") / "simulated", seed=1).root


@pytest.fixture(scope="module")
def processed(simulated, tmp_path_factory) -> tuple[Path, BatchSummary]:
    """A copy of the repository after a batch on a local cluster of 2 workers."""
    root = _copy(simulated, tmp_path_factory.mktemp("local") / "repo")
    summary = runBatch(root, PIPELINE, workers=2, runName="local", progress=False)
    return root, summary


def _byVisit(summary: BatchSummary) -> dict[int, DataIdResult]:
    return {result.dataId["visit"]: result for result in summary.results}


def test_batch_processes_every_visit_like_a_single_run(processed, simulated, tmp_path):
    root, summary = processed
    results = _byVisit(summary)
    assert sorted(results) == list(range(1, 9))
    good = [visit for visit in results if visit != POOR_VISIT]
    repository = Repository(root)
    recovered = total = 0
    for visit in good:
        result = results[visit]
        assert result.status == "ok" and result.quality == "ok", result
        assert abs(result.noiseRatio - 1.0) < 0.05, (visit, result.noiseRatio)
        dataId = result.dataId
        sources = repository.get("deepDiff_diaSrc", dataId)
        assert len(sources) == result.nDiaSources > 0
        # each source counted once, by kind, as the summary line of `diffim run` counts them
        assert result.nPositive + result.nNegative + result.nDipoles + result.nSkySources == \
            len(sources)
        assert result.nPositive <= int(np.count_nonzero(sources["isPositive"]))
        truth = repository.get("truth", dataId)
        transients = truth[truth["kind"] == "transient"]
        distance, _ = cKDTree(np.c_[sources["x"], sources["y"]]).query(
            np.c_[transients["x"], transients["y"]])
        recovered += int(np.count_nonzero(distance < MATCH_RADIUS))
        total += len(transients)
        difference = repository.get("deepDiff_differenceExp", dataId)
        assert difference.image.shape == repository.get("calexp", dataId).image.shape
    # The injected transients (S/N 8 to 100) are found (105 of 105 at seed 1).
    assert total >= 7 * 10 and recovered >= 0.95 * total, (recovered, total)

    # The same visit run by the task outside any batch finds the same diaSources.
    single = Repository(_copy(simulated, tmp_path / "single"))
    config = load_pipeline(PIPELINE)
    visit = results[1].dataId
    direct = ImageDifferenceTask(config=config).runDataRef(single.dataRef(**visit))
    batched = repository.get("deepDiff_diaSrc", visit)
    assert len(direct.diaSources) == len(batched) == results[1].nDiaSources
    assert np.array_equal(direct.diaSources["id"], batched["id"])
    assert np.allclose(direct.diaSources["x"], batched["x"], rtol=0, atol=1e-6)
    assert np.allclose(direct.diaSources["y"], batched["y"], rtol=0, atol=1e-6)
    for datasetType in DIFF_TYPES:  # byte for byte, though the batch ran on 1 FFT thread
        assert single.path(datasetType, visit).read_bytes() == \
            repository.path(datasetType, visit).read_bytes()

    # Each result was recorded in the repository as it arrived.
    recorded = repository.batchResults("local")
    assert len(recorded) == 8
    statuses = dict(zip(recorded["visit"], recorded["status"]))
    assert statuses == {visit: results[visit].status for visit in results}
    assert repository.check() == []


def test_poorly_covered_visit_fails_alone(processed, capsys):
    root, summary = processed
    failed = summary.failed
    assert [result.dataId["visit"] for result in failed] == [POOR_VISIT]
    message = failed[0].message
    assert "template covers" in message and "requiredTemplateFraction is 10.0%" in message
    assert summary.count("ok") == 7 and summary.count("skipped") == 0
    repository = Repository(root)
    assert not repository.query("deepDiff_diaSrc", f"visit = {POOR_VISIT}")
    row = repository.batchResults("local")
    row = row[row["visit"] == POOR_VISIT][0]
    assert row["status"] == "failed" and row["message"] == message
    assert row["n_dia_sources"] is np.ma.masked

    # Run again from the command line: the 7 done visits are skipped, the poor one fails
    # again, and the exit status says so.
    before = _outputs(root)
    status = main(["-q", "batch", str(root), str(PIPELINE), "--workers", "1", "--run", "cli"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "1 of 8 data IDs failed" in err
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.startswith("visit=")}
    assert len(lines) == 8
    assert "failed" in lines[f"visit={POOR_VISIT}"] and "template covers" in \
        lines[f"visit={POOR_VISIT}"]
    assert sum(" skipped " in line for line in lines.values()) == 7
    assert "batch cli: 8 data IDs (0 ok, 0 suspect, 1 failed, 7 skipped)" in out
    assert _outputs(root) == before
    assert list(repository.batchResults("cli")["status"]).count("skipped") == 7


def _registered(root: Path) -> int:
    """Data IDs whose diaSource catalog is registered."""
    return len(Repository(root).query("deepDiff_diaSrc"))


def _waitFor(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_killed_batch_resumes_with_every_output_once(processed, simulated, tmp_path):
    root = _copy(simulated, tmp_path / "repo")
    command = [sys.executable, "-m", "diffim.cli", "-q", "batch", str(root), str(PIPELINE),
               "--workers", "2", "--run", "killed"]
    client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        # A worker killed in the middle of a task: the batch goes on without it ...
        _waitFor(lambda: _registered(root) >= 2 or client.poll() is not None, 120,
                 "two data IDs")
        assert client.poll() is None, client.stderr.read().decode()
        workers = [p for p in psutil.Process(client.pid).children(recursive=True)
                   if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        workers[0].send_signal(signal.SIGKILL)
        _waitFor(lambda: _registered(root) >= 4 or client.poll() is not None, 120,
                 "four data IDs")
        assert client.poll() is None, client.stderr.read().decode()
        # ... until the client and every worker are killed.
        leftovers = psutil.Process(client.pid).children(recursive=True)
        client.send_signal(signal.SIGKILL)
        for process in leftovers:
            process.send_signal(signal.SIGKILL)
        psutil.wait_procs(leftovers, timeout=10)
        client.wait(10)
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
        client.stderr.close()
    done = _registered(root)
    assert 4 <= done < 7, f"not killed half-way: {done} of 7 data IDs done"
    # What a writer killed at another moment leaves, for a visit not done yet: its
    # temporary file, and a complete file renamed into place but not registered.
    repository = Repository(root)
    pending = next(visit for visit in (1, 2, 3, 4, 6, 7, 8)
                   if not repository.query("deepDiff_diaSrc", f"visit = {visit}"))
    path = root / f"deepDiff_differenceExp/r/{pending}/deepDiff_differenceExp_r_{pending}_0.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SIMPLE  =                    T")
    stray = path.with_name(f".{path.name}.tmp-{workers[0].pid}@{socket.gethostname()}-"
                           f"0123abcd.fits")
    stray.write_bytes(b"SIMPLE")
    problems = repository.check()  # the kill itself may have left such files too
    assert [p for p in problems if p.startswith(f"{path}: not registered")] and \
        [p for p in problems if p.startswith(f"{stray}: temporary file")], problems

    summary = runBatch(root, PIPELINE, workers=2, runName="resumed", progress=False)
    assert summary.count("skipped") == done
    assert summary.count("ok") == 7 - done and [r.dataId["visit"] for r in summary.failed] == \
        [POOR_VISIT]
    repository = Repository(root)
    assert repository.check() == []
    rows = [(ref.datasetType, json.dumps(ref.dataId, sort_keys=True))
            for ref in repository.query()]
    assert len(rows) == len(set(rows))
    for datasetType in DIFF_TYPES:
        refs = repository.query(datasetType)
        assert sorted(ref.dataId["visit"] for ref in refs) == [1, 2, 3, 4, 6, 7, 8]
        files = [path for path in (root / datasetType).rglob("*") if path.is_file()]
        assert sorted(files) == sorted(ref.path for ref in refs)
    # The killed and resumed batch wrote what the uninterrupted one did.
    assert _outputs(root) == _outputs(processed[0])


@pytest.fixture
def daskCluster(tmp_path):
    """A scheduler and two single-threaded workers, each a separate ``dask`` process."""
    schedulerFile = tmp_path / "scheduler.json"
    dask = str(VENV_BIN / "dask")
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(schedulerFile)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)]
    try:
        _waitFor(schedulerFile.exists, 60, "the scheduler")
        processes.append(subprocess.Popen(
            [dask, "worker", "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
             "--local-directory", str(tmp_path / "workers"), "--scheduler-file",
             str(schedulerFile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        address = json.loads(schedulerFile.read_text())["address"]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_separate_scheduler_and_workers_give_identical_files(processed, simulated, tmp_path,
                                                             daskCluster):
    root = _copy(simulated, tmp_path / "repo")
    summary = runBatch(root, PIPELINE, scheduler=daskCluster, runName="remote", progress=False)
    assert [result.status for result in summary.results] == \
        [result.status for result in processed[1].results]
    outputs = _outputs(root)
    assert len(outputs) == 2 * 7
    assert outputs == _outputs(processed[0])


def test_worker_reports_any_exception_as_a_failed_data_id(simulated):
    config = load_pipeline(PIPELINE)
    dataId = {"visit": 2, "detector": 0, "band": "r"}
    result = processDataId(str(simulated), dataId, config, process=_explode)
    assert (result.status, result.message) == ("failed", "ZeroDivisionError: no flux at visit 2")
    result = processDataId(str(simulated), dataId, config, process=_refuse)
    assert (result.status, result.message) == ("failed", "calexp visit 2: unusable")
    assert result.seconds >= 0 and result.nDiaSources is None


def test_template_visits_reach_the_calexp_template(simulated, tmp_path):
    root = _copy(simulated, tmp_path / "repo")
    config = load_pipeline(PIPELINE, ["getTemplate=calexp"])
    science = {"visit": 8, "detector": 0, "band": "r"}
    result = processDataId(str(root), science, config, parseTemplateVisits("1"))
    # Visit 1 overlaps a third of visit 8: a difference the quality checks call suspect.
    assert (result.status, result.quality) == ("suspect", "suspect"), result.message
    assert "holds data" in result.message and result.nDiaSources > 0
    result = processDataId(str(root), science, config, parseTemplateVisits("99"))
    assert result.status == "failed" and "visit: 99" in result.message, result.message
    result = processDataId(str(root), science, config, None)
    assert result.status == "failed" and "--template-visits" in result.message


def test_suspect_run_is_reported_with_its_reasons():
    sources = Table({"isPositive": [True, True, False], "isNegative": [False, False, True]})
    quality = SimpleNamespace(status="suspect", reasons=["noise ratio 1.31", "few stars"])
    result = describeResult({"visit": 9}, ImageDifferenceResult(diaSources=sources,
                                                                quality=quality))
    assert (result.status, result.quality, result.message) == \
        ("suspect", "suspect", "noise ratio 1.31; few stars")
    assert (result.nDiaSources, result.nPositive, result.nNegative, result.nDipoles,
            result.nSkySources) == (3, 2, 1, 0, 0)
    assert result.noiseRatio is None


def _explode(config, dataRef, templateIdList, threads):
    raise ZeroDivisionError(f"no flux at visit {dataRef.dataId['visit']}")


def _refuse(config, dataRef, templateIdList, threads):
    raise InputError(f"calexp visit {dataRef.dataId['visit']}: unusable")


def test_plan_skips_only_data_ids_with_every_output(processed, simulated):
    config = load_pipeline(PIPELINE)
    plan = planBatch(Repository(processed[0]), config)
    assert [d["visit"] for d in plan.skipped] == [1, 2, 3, 4, 6, 7, 8]
    assert [d["visit"] for d in plan.toRun] == [POOR_VISIT]
    # With the matched image asked for too, nothing has every output yet.
    more = load_pipeline(PIPELINE, ["doWriteMatchedExp=true"])
    plan = planBatch(Repository(processed[0]), more, where="visit < 4")
    assert [d["visit"] for d in plan.toRun] == [1, 2, 3] and not plan.skipped
    assert plan.datasetTypes == ["deepDiff_differenceExp", "deepDiff_diaSrc",
                                 "deepDiff_matchedExp"]
    with pytest.raises(InputError, match="no calexp matches --where 'visit > 100'"):
        planBatch(Repository(simulated), config, where="visit > 100")


def test_template_visits_option():
    assert parseTemplateVisits("3, 4") == [{"visit": 3}, {"visit": 4}]
    assert parseTemplateVisits(None) is None
    import click
    with pytest.raises(click.BadParameter, match="'x' is not a visit number"):
        parseTemplateVisits("3,x")


def test_summary_table_lines_up():
    summary = BatchSummary("r", [
        DataIdResult({"visit": 1, "detector": 0, "band": "r"}, "ok", "ok", nDiaSources=14,
                     nPositive=11, nNegative=2, nDipoles=1, nSkySources=0, noiseRatio=0.997,
                     seconds=1.31),
        DataIdResult({"visit": 12, "detector": 0, "band": "r"}, "failed",
                     message="template covers 4.6%\nof the image"),
        DataIdResult({"visit": 3, "detector": 0, "band": "r"}, "skipped",
                     message="outputs already in the repository")], seconds=3.0)
    lines = summary.table().splitlines()
    assert lines[0].split() == ["data", "ID", "status", "quality", "diaSrc", "pos", "neg",
                                "dip", "sky", "noise", "seconds", "why"]
    assert lines[1].split() == ["visit=1", "detector=0", "band=r", "ok", "ok", "14", "11", "2",
                                "1", "0", "0.997", "1.3"]
    assert lines[2].split()[3:] == ["failed", *"-" * 7, "0.0", "template", "covers", "4.6%",
                                    "of", "the", "image"]
    assert lines[3].split()[3:12] == ["skipped", *"-" * 8]
    status, seconds = lines[0].index("status"), lines[0].index("seconds") + len("seconds")
    assert [line[status:].split()[0] for line in lines[1:]] == ["ok", "failed", "skipped"]
    assert [line[:seconds].split()[-1] for line in lines[1:]] == ["1.3", "0.0", "-"]
    assert summary.line() == "batch r: 3 data IDs (1 ok, 0 suspect, 1 failed, 1 skipped) in 3.0 s"
    assert [r.message for r in summary.failed] == ["template covers 4.6%\nof the image"]


def test_table_of_recorded_results_reads_back(processed):
    table = Repository(processed[0]).batchResults("local")
    assert isinstance(table, Table) and set(table["run"]) == {"local"}
    ok = table[table["status"] == "ok"]
    assert np.all(np.abs(ok["noise_ratio"] - 1) < 0.05) and np.all(ok["n_dia_sources"] > 0)
    assert main(["repo", "results", str(processed[0]), "--run", "local"]) == 0


def test_repo_results_prints_the_batch_table(processed, capsys):
    root, summary = processed
    assert main(["repo", "results", str(root), "--run", "local"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run local:"
    assert out[1:] == summary.table().splitlines()
    assert main(["repo", "results", str(root), "--run", "nothing"]) == 0
    assert capsys.readouterr().out.startswith("no batch results of run nothing")


def test_worker_logs_name_their_data_id(caplog):
    from diffim.batch.work import namedLogs

    with caplog.at_level(logging.INFO), namedLogs("visit=3 detector=0 band=r"):
        logging.getLogger("diffim.apcorr").warning("no aperture correction")
        logging.getLogger("distributed.worker").warning("worker message")
    logging.getLogger("diffim").warning("after")
    assert [record.getMessage() for record in caplog.records] == [
        "visit=3 detector=0 band=r: no aperture correction", "worker message", "after"]
