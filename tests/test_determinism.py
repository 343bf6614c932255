"""The same inputs and config give bit-identical outputs: across runs, processes and
``--threads`` values."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
from astropy.io import fits
from astropy.table import Table
from diffim.fits_io import writeExposure
from diffim.threads import availableCores, limitThreads, startJobs
from diffim.testing.simulate import simulatePair
from threadpoolctl import threadpool_info

from paths import PIPELINES
from test_faults_input import runDiffim

#: Extra outputs written per pipeline (besides the difference and the diaSources).
EXTRA = {"default": "doWriteMatchedExp", "al-spatial": "doWriteMatchedExp",
         "zogy": "doWriteScoreExp"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pair")
    science, template, _ = simulatePair(size=320, seed=11, nTransients=8, nVariables=2,
                                        psfVariation=0.2)
    return {"science": writeExposure(science, folder / "science.fits"),
            "template": writeExposure(template, folder / "template.fits")}


def _arguments(pair, pipeline: str, outdir: Path, threads: int) -> list[str]:
    return ["run", str(PIPELINES / f"{pipeline}.yaml"), "--science", str(pair["science"]),
            "--template", str(pair["template"]), "-o", str(outdir), "--threads", str(threads),
            "-c", f"{EXTRA[pipeline]}=true"]


def _assertIdentical(first: Path, second: Path) -> None:
    """Every FITS output is byte-identical (the log and metadata hold dates and timings)."""
    names = sorted(p.name for p in first.glob("*.fits"))
    assert len(names) == 3 and names == sorted(p.name for p in second.glob("*.fits"))
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    with fits.open(first / "difference.fits") as a, fits.open(second / "difference.fits") as b:
        for plane in ("IMAGE", "MASK", "VARIANCE"):
            assert np.array_equal(a[plane].data, b[plane].data, equal_nan=True)
    catalog = Table.read(first / "diaSources.fits")
    assert len(catalog) >= 5


def test_two_processes_with_one_and_two_threads_give_identical_outputs(pair, tmp_path):
    outdirs = []
    for threads in (1, 2):
        outdir = tmp_path / f"process{threads}"
        done = subprocess.run([sys.executable, "-m", "diffim.cli", "-q",
                               *_arguments(pair, "default", outdir, threads)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outdirs.append(outdir)
    _assertIdentical(*outdirs)


@pytest.mark.parametrize("pipeline", ["default", "zogy", "al-spatial"])
def test_thread_count_does_not_change_outputs(pair, tmp_path, capsys, pipeline):
    outdirs = []
    for threads in (2, 1):
        outdir = tmp_path / f"threads{threads}"
        status, _, stderr = runDiffim(capsys, *_arguments(pair, pipeline, outdir, threads))
        assert status == 0, stderr
        outdirs.append(outdir)
    _assertIdentical(*outdirs)


@pytest.mark.parametrize("threads,workers", [(1, 1), (2, 2), (None, availableCores())])
def test_limit_threads_sets_fft_workers_and_one_blas_thread(threads, workers):
    np.ones((64, 64)) @ np.ones((64, 64))          # BLAS loaded
    before = scipy.fft.get_workers()
    with limitThreads(threads):
        assert scipy.fft.get_workers() == workers
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert scipy.fft.get_workers() == before


def test_threads_must_be_positive(tmp_path, capsys):
    status, _, stderr = runDiffim(capsys, "run", PIPELINES / "default.yaml", "--science", "s.fits",
                                  "--template", "t.fits", "-o", tmp_path / "out", "--threads", "0")
    assert status == 2
    assert stderr == ("diffim: error: Invalid value for '--threads': 0 is not in the range "
                      "x>=1.\n")


@pytest.mark.parametrize("threads", [1, 2])
def test_jobs_beside_the_caller_run_in_turn_and_keep_their_errors(threads):
    order, where = [], []

    def job(name):
        order.append(name)
        where.append(threading.get_ident())
        if name == "bad":
            raise ValueError("job failed")
        return name.upper()

    with limitThreads(threads):
        waits = startJobs(lambda: job("a"), lambda: job("bad"), lambda: job("c"))
        assert waits[0]() == "A" and waits[2]() == "C"
        with pytest.raises(ValueError, match="job failed"):
            waits[1]()
    assert order == ["a", "bad", "c"] and len(set(where)) == 1
    assert (where[0] == threading.get_ident()) == (threads == 1)
