"""Output faults through ``diffim run``: unwritable places, existing outputs, a full disk and
interruption leave one line on stderr and the output directory as it was."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from paths import PIPELINES
from test_faults_input import assertOneLineError, listing, runDiffim, runPair

OUTPUTS = ["difference.fits", "diaSources.fits", "metadata.yaml", "diffim.log"]
WRITE_ALL = ["-c", "doWriteWarpedExp=true", "-c", "doWriteMatchedExp=true"]
ALL_OUTPUTS = sorted(OUTPUTS + ["warpedTemplate.fits", "matchedTemplate.fits"])
INTERRUPTED = "diffim: interrupted by {}; no outputs were written"


@pytest.fixture
def old_outputs(tmp_path) -> Path:
    """An output directory holding an earlier run's files (placeholders) and a user's file."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    for name in [*ALL_OUTPUTS, "notes.txt"]:
        (outdir / name).write_text(f"old {name}")
    return outdir


def _run(capsys, pair, outdir, *extra):
    return runPair(capsys, pair["science"], pair["template"], outdir, *extra)


def _assertComplete(outdir: Path, names=ALL_OUTPUTS) -> None:
    """Every output is there and readable to its last pixel."""
    assert sorted(p.name for p in outdir.iterdir() if p.name in names) == sorted(names)
    for name in names:
        if name.endswith(".fits"):
            with fits.open(outdir / name, checksum=False) as hdus:
                hdus.verify("exception")
                for hdu in hdus:
                    declared = [hdu.header.get(f"NAXIS{i}", 0)
                                for i in range(1, hdu.header.get("NAXIS", 0) + 1)]
                    if isinstance(hdu, fits.BinTableHDU):
                        assert len(hdu.data) == declared[1], (name, hdu.name)
                    elif declared:
                        assert hdu.data.size == np.prod(declared) > 0, (name, hdu.name)
    assert not [p for p in outdir.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------
# where outputs cannot go
# ---------------------------------------------------------------------------


def test_output_that_is_a_file_is_refused(pair, tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("a file")
    status, _, stderr = _run(capsys, pair, target)
    assertOneLineError(status, stderr, "Invalid value for '-o' / '--output'",
                       f"{target}' is a file")
    assert status == 2 and target.read_text() == "a file"


def test_output_below_a_file_is_refused(pair, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    outdir = tmp_path / "file" / "out"
    status, _, stderr = _run(capsys, pair, outdir)
    assertOneLineError(status, stderr, f"{outdir}: cannot create the output directory (Not a "
                                       "directory); choose a writable location")
    assert status == 1


def test_output_where_directories_cannot_be_made(pair, capsys):
    outdir = Path("/proc/diffim-test-output")
    status, _, stderr = _run(capsys, pair, outdir)
    assertOneLineError(status, stderr, f"{outdir}: cannot create the output directory",
                       "choose a writable location")
    assert not outdir.exists()


def test_unwritable_output_directory(pair, tmp_path, capsys, monkeypatch):
    outdir = tmp_path / "readonly"
    outdir.mkdir()
    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self.parent == outdir:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    status, _, stderr = _run(capsys, pair, outdir)
    assertOneLineError(status, stderr, f"{outdir}: cannot write to the output directory "
                                       "(Permission denied); choose a writable location")
    assert listing(outdir) == {}


# ---------------------------------------------------------------------------
# existing outputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", OUTPUTS)
def test_an_existing_output_is_refused_without_overwrite(pair, tmp_path, capsys, name):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / name).write_text("keep me")
    status, _, stderr = _run(capsys, pair, outdir)
    assertOneLineError(status, stderr, f"{outdir / name} already exists; use --overwrite to "
                                       "replace it, or choose another output directory")
    assert listing(outdir) == {name: b"keep me"}


def test_overwrite_replaces_the_outputs_and_keeps_other_files(pair, old_outputs, capsys):
    status, stdout, stderr = _run(capsys, pair, old_outputs, "--overwrite", *WRITE_ALL)
    assert status == 0 and stderr == ""
    _assertComplete(old_outputs)
    assert (old_outputs / "notes.txt").read_text() == "old notes.txt"
    catalog = Table.read(old_outputs / "diaSources.fits")
    assert "id" in catalog.colnames and f"{len(catalog)} diaSources" in stdout
    assert str(old_outputs / "difference.fits") in stdout


def test_outputs_not_asked_for_are_not_checked(pair, tmp_path, capsys):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "warpedTemplate.fits").write_text("not written by this run")
    status, _, stderr = _run(capsys, pair, outdir)
    assert status == 0 and stderr == ""
    assert (outdir / "warpedTemplate.fits").read_text() == "not written by this run"
    _assertComplete(outdir, OUTPUTS)


# ---------------------------------------------------------------------------
# a full disk
# ---------------------------------------------------------------------------


def _half_then(monkeypatch, stem: str, action) -> None:
    """Make writing a FITS file whose final name starts with ``stem`` write half, then ``action``."""
    writeto = fits.HDUList.writeto

    def partial(self, fileobj, *args, **kwargs):
        if Path(str(fileobj)).name.startswith(f".{stem}"):
            writeto(self, fileobj, *args, **kwargs)
            size = Path(fileobj).stat().st_size
            os.truncate(fileobj, size // 2)
            action()
        return writeto(self, fileobj, *args, **kwargs)

    monkeypatch.setattr(fits.HDUList, "writeto", partial)


def _disk_full():
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("name,kind", [("difference.fits", "differenceExp"),
                                       ("diaSources.fits", "diaSrc"),
                                       ("warpedTemplate.fits", "warpedExp"),
                                       ("matchedTemplate.fits", "matchedExp")])
@pytest.mark.parametrize("overwrite", [False, True])
def test_disk_full_while_writing_leaves_nothing(pair, tmp_path, old_outputs, capsys, monkeypatch,
                                                name, kind, overwrite):
    outdir = old_outputs if overwrite else tmp_path / "fresh"
    before = listing(outdir)
    _half_then(monkeypatch, name, _disk_full)
    status, _, stderr = _run(capsys, pair, outdir, *WRITE_ALL,
                             *(["--overwrite"] if overwrite else []))
    assertOneLineError(status, stderr, f"{outdir / name}: cannot write the {kind} output (No "
                                       "space left on device); free some space or choose "
                                       "another output directory")
    assert listing(outdir) == before


def test_disk_full_while_writing_the_metadata(pair, tmp_path, capsys, monkeypatch):
    write_text = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "metadata.yaml":
            write_text(self, "config: {subtract", encoding="utf-8")
            _disk_full()
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    outdir = tmp_path / "out"
    status, _, stderr = _run(capsys, pair, outdir)
    assertOneLineError(status, stderr, f"{outdir / 'metadata.yaml'}: cannot write the metadata "
                                       "output (No space left on device)")
    assert listing(outdir) is None


def test_disk_full_while_writing_the_log(pair, tmp_path, capsys, monkeypatch):
    import logging

    flush = logging.FileHandler.flush

    def full(self):
        if self.baseFilename.endswith("diffim.log"):
            _disk_full()
        flush(self)

    monkeypatch.setattr(logging.FileHandler, "flush", full)
    outdir = tmp_path / "out"
    status, _, stderr = runDiffim(capsys, "-v", "run", PIPELINES / "default.yaml", "--science",
                                  pair["science"], "--template", pair["template"], "-o", outdir)
    assertOneLineError(status, stderr, f"{outdir / 'diffim.log'}: cannot write the log output "
                                       "(No space left on device)")
    assert listing(outdir) is None


# ---------------------------------------------------------------------------
# interruption, in this process (deterministic: the signal is sent mid-write)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", ["difference.fits", "diaSources.fits", "matchedTemplate.fits"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_signal_while_writing_leaves_nothing(pair, tmp_path, old_outputs, capsys, monkeypatch,
                                             signame, name, overwrite):
    outdir = old_outputs if overwrite else tmp_path / "fresh"
    before = listing(outdir)
    _half_then(monkeypatch, name, lambda: os.kill(os.getpid(), getattr(signal, signame)))
    status, _, stderr = _run(capsys, pair, outdir, *WRITE_ALL,
                             *(["--overwrite"] if overwrite else []))
    assert status == 130
    assert stderr == INTERRUPTED.format(signame) + "\n"
    assert listing(outdir) == before
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_signal_during_the_computation_leaves_nothing(pair, tmp_path, capsys, monkeypatch,
                                                      signame):
    from diffim import task

    warp = task.warpToScience

    def slow(*args, **kwargs):
        os.kill(os.getpid(), getattr(signal, signame))
        return warp(*args, **kwargs)

    monkeypatch.setattr(task, "warpToScience", slow)
    status, _, stderr = _run(capsys, pair, tmp_path / "out")
    assert status == 130 and stderr == INTERRUPTED.format(signame) + "\n"
    assert listing(tmp_path / "out") is None


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_signal_while_publishing_is_held_until_every_output_is_in_place(
        pair, tmp_path, capsys, monkeypatch, signame, caplog):
    from diffim import runner

    replace = os.replace
    moved = []

    def publish(source, target):
        if not moved:
            os.kill(os.getpid(), getattr(signal, signame))
        moved.append(Path(target).name)
        return replace(source, target)

    monkeypatch.setattr(runner.os, "replace", publish)
    outdir = tmp_path / "out"
    status, _, stderr = _run(capsys, pair, outdir, *WRITE_ALL)
    assert status == 0 and stderr == ""
    assert sorted(moved) == ALL_OUTPUTS
    _assertComplete(outdir)
    assert f"{signame} arrived while the outputs were being published" in caplog.text


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_signal_after_publishing_does_not_claim_an_interruption(pair, tmp_path, capsys,
                                                                monkeypatch, signame):
    from diffim import runner

    line = runner.RunSummary.line

    def late(self):
        os.kill(os.getpid(), getattr(signal, signame))
        return line(self)

    monkeypatch.setattr(runner.RunSummary, "line", late)
    outdir = tmp_path / "out"
    status, stdout, stderr = _run(capsys, pair, outdir)
    assert status == 0 and stderr == ""
    assert "diaSources (" in stdout
    _assertComplete(outdir, OUTPUTS)


# ---------------------------------------------------------------------------
# interruption of a real process, at several moments
# ---------------------------------------------------------------------------

#: Which signal, and when: after a log line, plus a delay (s). Writing the outputs starts
#: right after "forcedMeasurement done" and takes about 0.2 s here.
MOMENTS = [("SIGINT", "warpTemplate ...", 0.0), ("SIGTERM", "warpTemplate ...", 0.0),
           ("SIGTERM", "forcedMeasurement done", 0.0), ("SIGINT", "forcedMeasurement done", 0.05),
           ("SIGTERM", "forcedMeasurement done", 0.15), ("SIGINT", "forcedMeasurement done", 0.5)]


def _signalled_run(pair, outdir: Path, signame: str, after: str, delay: float
                   ) -> subprocess.CompletedProcess:
    """Run ``diffim run`` and send ``signame`` ``delay`` s after stderr shows ``after``."""
    command = [sys.executable, "-m", "diffim.cli", "run", str(PIPELINES / "default.yaml"),
               "--science", str(pair["science"]), "--template", str(pair["template"]),
               "-o", str(outdir), *WRITE_ALL]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if after in line:
            time.sleep(delay)
            process.send_signal(getattr(signal, signame))
            break
    stdout, rest = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, "".join(lines) + rest)


@pytest.mark.parametrize("signame,after,delay", MOMENTS)
def test_signal_to_a_real_process_leaves_all_outputs_or_none(pair, tmp_path, signame, after,
                                                             delay):
    outdir = tmp_path / "out"
    outdir.mkdir()
    done = _signalled_run(pair, outdir, signame, after, delay)
    own = [line for line in done.stderr.splitlines()
           if not line.startswith(("INFO ", "WARNING ", "DEBUG "))]
    number = getattr(signal, signame)
    if after == "warpTemplate ..." or done.returncode not in (0, -number):
        # Signalled during the computation, the run always stops.
        assert done.returncode == 130, done.stderr
        assert own == [INTERRUPTED.format(signame)], done.stderr
        assert done.stderr.endswith(INTERRUPTED.format(signame) + "\n")
        assert listing(outdir) == {}
    else:
        # The run had finished: exit 0, or killed by the signal on the way out of Python.
        assert own == [], done.stderr
        _assertComplete(outdir)
