"""Run a command as a child process and measure its wall time, CPU time and peak memory."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ChildResult:
    """What a finished (or killed) child process cost and said."""

    returncode: int
    wall: float
    cpu: float
    peakMB: float
    stdout: str
    stderr: str
    timedOut: bool = False

    @property
    def cpuPerWall(self) -> float:
        """CPU seconds of all the child's threads per wall second."""
        return self.cpu / self.wall if self.wall > 0 else float("nan")

    def reason(self) -> str:
        """One line saying why the child failed (empty when it succeeded)."""
        if self.timedOut:
            return f"timed out after {self.wall:.0f} s"
        if self.returncode == 0:
            return ""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines()
                 if ln.strip()]
        errors = [ln for ln in lines if "Error" in ln or "error" in ln]
        last = (errors or lines or [f"exit status {self.returncode}"])[-1]
        return f"exit {self.returncode}: {last[:160]}"


def runChild(command: list[str], logDir: Path, name: str, timeout: float,
             env: dict[str, str] | None = None, cwd: Path | None = None,
             memoryLimitGB: float | None = None) -> ChildResult:
    """Run ``command``, wait for it with :func:`os.wait4` and return its own resource usage.

    Its standard output and error go to ``logDir/name.out`` and ``logDir/name.err``.
    Peak memory is the child's ``ru_maxrss``; CPU time is its user plus system time.
    The child is killed (its process group) after ``timeout`` seconds; with
    ``memoryLimitGB`` its address space is capped (an allocation beyond it fails in the
    child, which then exits with its own error) so that it cannot exhaust a shared machine.
    """
    logDir.mkdir(parents=True, exist_ok=True)
    outPath, errPath = logDir / f"{name}.out", logDir / f"{name}.err"
    with open(outPath, "w") as out, open(errPath, "w") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd,
                                   start_new_session=True,
                                   preexec_fn=_addressLimit(memoryLimitGB))
        status, usage, timedOut = _wait(process.pid, start, timeout)
        wall = time.perf_counter() - start
    return ChildResult(returncode=os.waitstatus_to_exitcode(status), wall=wall,
                       cpu=usage.ru_utime + usage.ru_stime, peakMB=usage.ru_maxrss / 1024.0,
                       stdout=outPath.read_text(errors="replace"),
                       stderr=errPath.read_text(errors="replace"), timedOut=timedOut)


def _addressLimit(limitGB: float | None):
    """A ``preexec_fn`` capping the child's address space at ``limitGB`` (None: no cap)."""
    if limitGB is None:
        return None
    limit = int(limitGB * 1024 ** 3)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _wait(pid: int, start: float, timeout: float):
    """Reap ``pid``, killing its process group once ``timeout`` seconds have passed."""
    while True:
        donePid, status, usage = os.wait4(pid, os.WNOHANG)
        if donePid == pid:
            return status, usage, False
        if time.perf_counter() - start > timeout:
            os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        time.sleep(0.05)
