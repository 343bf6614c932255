"""The peers: HOTPANTS (C, built from source), sfft (CPU backend) and properimage (ZOGY).

Each peer runs as a child process on the pair's plain-FITS inputs
(:mod:`perf.pairs`) and writes its difference image; sfft and properimage each live in
their own virtual environment under ``<workdir>/envs``, made on first use with
``python3 -m venv`` and ``pip install``. A peer that cannot be built, installed or run
is reported with a one-line reason.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .child import ChildResult, runChild
from .pairs import Pair

HOTPANTS_URL = "https://github.com/acbecker/hotpants"

#: HOTPANTS make flags: current gcc needs -fcommon for its global variables.
HOTPANTS_MAKE = ["CFITSIOINCDIR=/usr/include", "LIBDIR=/usr/lib/x86_64-linux-gnu",
                 "COPTS=-funroll-loops -O3 -std=c99 -fcommon -I/usr/include -D_GNU_SOURCE"]

PEERS = ("hotpants", "sfft", "properimage")
HERE = Path(__file__).resolve().parents[1] / "peers"


class PeerUnavailable(RuntimeError):
    """A peer could not be built or installed; the message is the one-line reason."""


@dataclass
class PeerRun:
    """A peer's child process and where its difference (and noise image, if any) went."""

    child: ChildResult
    difference: Path
    noise: Path | None = None


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PeerUnavailable(f"{what} failed: {tail[0][:160]}")


def buildHotpants(workdir: Path, source: Path | None) -> Path:
    """Build HOTPANTS into ``workdir/build/hotpants`` (once) and return the binary.

    ``source`` is a source folder or a (bare) git repository; without it the public
    repository is cloned.
    """
    build = workdir / "build" / "hotpants"
    binary = build / "hotpants"
    if binary.exists():
        return binary
    shutil.rmtree(build, ignore_errors=True)
    build.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        _run(["git", "clone", "--depth", "1", HOTPANTS_URL, str(build)], "git clone hotpants")
    elif (source / "HEAD").exists() and (source / "objects").is_dir():
        build.mkdir()
        archive = subprocess.run(["git", f"--git-dir={source}", "archive", "HEAD"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise PeerUnavailable(f"git archive of {source} failed")
        subprocess.run(["tar", "-x", "-C", str(build)], input=archive.stdout, check=True)
    else:
        shutil.copytree(source, build)
    _run(["make", "hotpants", *HOTPANTS_MAKE], "make hotpants", cwd=build)
    return binary


def ensureVenv(workdir: Path, name: str, packages: list[str]) -> Path:
    """The python of ``workdir/envs/<name>``, created with ``packages`` installed (once)."""
    env = workdir / "envs" / name
    python = env / "bin" / "python"
    stamp = env / ".installed"
    if stamp.exists():
        return python
    _run(["python3", "-m", "venv", str(env)],
         f"venv {name}")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for group in packages:
        _run([*pip, *group.split()], f"pip install {group}")
    stamp.write_text("\n".join(packages) + "\n")
    return python


#: pip installs of each Python peer, in order. properimage needs tinynpydb, whose setup
#: script imports pkg_resources (gone from new setuptools) and would download an old
#: setuptools otherwise: it is built without isolation against an older setuptools.
VENV_PACKAGES = {
    "sfft": ["sfft"],
    "properimage": ["setuptools<70 wheel", "--no-build-isolation tinynpydb", "properimage"],
}


def matchingSigma(pair: Pair) -> float:
    """Width of the Gaussian that turns the template's PSF into the science's (pixels)."""
    sim = pair.params["simulator"]
    sciSigma = sim["templateSigma"] * sim["seeingRatio"]
    return math.sqrt(max(sciSigma ** 2 - sim["templateSigma"] ** 2, 0.25))


def sfftKernelHalfWidth(pair: Pair) -> int:
    """sfft's kernel half-width: 3 matching widths (4 px here; its own packets take 2 FWHM, 9).

    sfft's NumPy backend holds one complex full-frame array per pair of polynomial terms
    and per kernel row: with its default orders (2 for kernel and background) it needs
    5 GB at 1024² and ~20 GB at 2048². The simulated pairs have one PSF over the field and
    a linear sky, so sfft runs with a constant kernel (order 0), a linear background
    (order 1) and this narrower kernel, which holds all of a Gaussian-to-Gaussian
    matching kernel.
    """
    return int(math.ceil(3 * matchingSigma(pair)))


def hotpantsOptions(pair: Pair, size: int) -> list[str]:
    """HOTPANTS options for a simulated pair: its gain, read noise, saturation and seeing.

    Gaussian basis widths are 0.5, 1 and 2 times the matching width sqrt(s_sci² - s_tmpl²)
    (diffim's AL uses the same), degrees 6/4/2; kernel half-width 3 times the widest,
    substamps 5 px wider; one stamp per ~256 px (at least 10) each way.
    """
    sim = pair.params["simulator"]
    match = matchingSigma(pair)
    half = int(math.ceil(3 * 2 * match))
    stamps = str(max(10, size // 256))
    sat, gain, read = str(sim["saturation"]), str(sim["gain"]), str(sim["readNoise"])
    return ["-c", "t", "-n", "i", "-tu", sat, "-iu", sat, "-tl", "-10000", "-il", "-10000",
            "-tg", gain, "-ig", gain, "-tr", read, "-ir", read,
            "-ng", "3", "6", f"{0.5 * match:.3f}", "4", f"{match:.3f}", "2", f"{2 * match:.3f}",
            "-r", str(half), "-rss", str(half + 5), "-nsx", stamps, "-nsy", stamps, "-v", "0"]


def runPeer(name: str, pair: Pair, workdir: Path, runDir: Path, timeout: float,
            hotpantsSource: Path | None, memoryLimitGB: float | None = None) -> PeerRun:
    """Run peer ``name`` on ``pair``; raises :class:`PeerUnavailable` if it cannot be set up."""
    peer = pair.peerDirectory
    science, template = peer / "science.fits", peer / "template.fits"
    runDir.mkdir(parents=True, exist_ok=True)
    difference = runDir / "difference.fits"
    difference.unlink(missing_ok=True)
    if name == "hotpants":
        binary = buildHotpants(workdir, hotpantsSource)
        noise = runDir / "noise.fits"
        command = [str(binary), "-inim", str(science), "-tmplim", str(template),
                   "-outim", str(difference), "-oni", str(noise),
                   *hotpantsOptions(pair, pair.size)]
        child = runChild(command, runDir, name, timeout, memoryLimitGB=memoryLimitGB)
        return PeerRun(child, difference, noise)
    python = ensureVenv(workdir, name, VENV_PACKAGES[name])
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    if name == "sfft":
        sim = pair.params["simulator"]
        fwhm = 2.3548 * sim["templateSigma"] * sim["seeingRatio"]
        command = [str(python), str(HERE / "sfft_subtract.py"), str(science), str(template),
                   str(peer / "sat.fits"), str(difference),
                   "--kernel-half-width", str(sfftKernelHalfWidth(pair)),
                   "--kernel-order", "0", "--background-order", "1",
                   "--grow", str(int(round(2 * fwhm))), "--threads", str(os.cpu_count() or 1)]
    elif name == "properimage":
        command = [str(python), str(HERE / "properimage_subtract.py"), str(science),
                   str(template), str(difference)]
    else:
        raise PeerUnavailable(f"unknown peer {name!r}")
    child = runChild(command, runDir, name, timeout, env=env, memoryLimitGB=memoryLimitGB)
    return PeerRun(child, difference)
