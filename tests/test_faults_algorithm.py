"""Algorithm faults: inputs on which PSF matching cannot work, for the al and zogy plugins.

Each fault either takes a documented fallback (al fits a spatially constant
kernel when there are too few stars for the spatial model; zogy needs no stars
when both exposures carry a photoCalib) or stops with one clear line: a
:class:`diffim.errors.DiffimError` in the task, exit status 1 and one stderr line
from the command, never a traceback, a storm of numpy warnings, or a NaN
difference reported as a success. Cases that fail today are marked ``xfail``
(strict) with the bug they show.
"""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from diffim.errors import DiffimError, InputError, InsufficientKernelSourcesError
from diffim.exposure import Exposure
from diffim.fits_io import writeExposure
from diffim.pipeline import load_pipeline
from diffim.sanitize import sanitize
from diffim.testing.simulate import simulatePair
from diffim.task import ImageDifferenceTask
from diffim_al import AlardLuptonSubtraction
from diffim_zogy import FluxScaleError

from paths import PIPELINES, startsWithPath

#: Overrides that keep a run short: only subtraction and detection matter here.
QUICK = ["doMeasurement=false", "doForcedMeasurement=false", "doApCorr=false"]
#: The misalignment check measures an offset from stars; without any it is switched off.
NO_OFFSET_CHECK = ["maxTemplateOffset=1000"]
PIPELINE = {"al": "default.yaml", "zogy": "zogy.yaml"}

#: Science-image positions of the hand-placed saturated stars.
SATURATED_AT = [(40, 40), (200, 60), (128, 128), (60, 200), (210, 210), (100, 170)]


def runTask(algorithm: str, science: Exposure, template: Exposure, *overrides: str):
    """Run the task with ``algorithm``; return the result and the RuntimeWarnings raised."""
    config = load_pipeline(PIPELINES / PIPELINE[algorithm], overrides=[*QUICK, *overrides])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ImageDifferenceTask(config).run(exposure=science,
                                                     templateExposure=template)
        except DiffimError as exc:
            result = exc
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    return result, numeric


def expectFailure(result, kind: type, *words: str) -> str:
    """Check the run stopped with a one-line ``kind`` error containing ``words``."""
    assert isinstance(result, kind), result
    message = str(result)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


def noiseOnly(size: int = 256, seed: int = 4) -> tuple[Exposure, Exposure]:
    """A pair with sky, noise, PSFs, WCSs and photoCalibs but no sources at all."""
    science, template, _ = simulatePair(size=size, nStars=0, nTransients=0, seed=seed,
                                        skyGradient=0.0)
    return science, template


def addSaturatedStars(exposure: Exposure, peak: float, level: float) -> int:
    """Add a star of ``peak`` counts at each of SATURATED_AT, clip at ``level``, mask SAT."""
    for x, y in SATURATED_AT:
        stamp = exposure.psf.at(x, y)
        half = stamp.shape[0] // 2
        exposure.image[y - half:y + half + 1, x - half:x + half + 1] += (
            peak * stamp / stamp.max()).astype(np.float32)
    over = exposure.image >= level
    exposure.image[over] = level
    exposure.mask[over] |= exposure.maskPlanes.bitmask("SAT")
    return int(over.sum())


@pytest.fixture(scope="module")
def saturatedPair() -> tuple[Exposure, Exposure]:
    """Six stars, every one saturated in both images; nothing else but sky and noise."""
    science, template = noiseOnly()
    assert addSaturatedStars(science, 60000.0, 20000.0) > 6 * 9
    assert addSaturatedStars(template, 200000.0, 20000.0) > 6 * 9
    return science, template


@pytest.fixture(scope="module")
def starField() -> tuple[Exposure, Exposure, Table]:
    science, template, truth = simulatePair(size=256, nTransients=0, seed=4)
    return science, template, truth


# --------------------------------------------------------------------------------------------
# No stars at all
# --------------------------------------------------------------------------------------------

def test_no_stars_al_stops_for_want_of_kernel_candidates():
    result, numeric = runTask("al", *noiseOnly(), *NO_OFFSET_CHECK)
    expectFailure(result, InsufficientKernelSourcesError, "only 0 usable kernel candidates")
    assert result.n == 0 and result.required >= 1
    assert numeric == []


def complementaryMasks(science: Exposure, template: Exposure) -> tuple[Exposure, Exposure]:
    """SAT over the left half of the science and the right half of the template: every
    pixel is unusable in one image or the other, so no kernel stamp is clean."""
    science, template = science.clone(), template.clone()
    science.mask[:, :128] |= science.maskPlanes.bitmask("SAT")
    template.mask[:, 128:] |= template.maskPlanes.bitmask("SAT")
    return science, template


@pytest.mark.parametrize("case", ["noise", "complementaryMasks"])
def test_no_usable_stars_default_run_does_not_blame_the_wcs(starField, case):
    pair = noiseOnly() if case == "noise" else complementaryMasks(*starField[:2])
    result, _ = runTask("al", *pair)
    expectFailure(result, InsufficientKernelSourcesError, "kernel candidates")


def test_no_stars_zogy_needs_none_with_photocalibs():
    """The documented zogy behaviour: with both photoCalibs no star is needed at all."""
    result, numeric = runTask("zogy", *noiseOnly(), *NO_OFFSET_CHECK)
    assert not isinstance(result, Exception), result
    assert numeric == []
    assert result.metadata["zogyFluxScalingSource"] == "photoCalib"
    difference = result.subtractedExposure
    good = difference.mask == 0
    assert good.mean() > 0.5
    z = difference.image[good] / np.sqrt(difference.variance[good])
    assert 0.95 < z.std() < 1.05
    assert len(result.diaSources) == 0


def test_no_stars_zogy_without_photocalib_cannot_scale_the_fluxes():
    science, template = noiseOnly()
    science.photoCalib = None
    result, numeric = runTask("zogy", science, template, *NO_OFFSET_CHECK)
    expectFailure(result, FluxScaleError, "only 0 usable stars", "doFitFluxScaling=False")
    assert numeric == []


# --------------------------------------------------------------------------------------------
# Only saturated stars
# --------------------------------------------------------------------------------------------

def test_only_saturated_stars_al_stops_for_want_of_kernel_candidates(saturatedPair):
    result, _ = runTask("al", *(e.clone() for e in saturatedPair), *NO_OFFSET_CHECK)
    expectFailure(result, InsufficientKernelSourcesError, "only 0 usable kernel candidates")


def test_only_saturated_stars_zogy_masks_them_and_subtracts_the_rest(saturatedPair):
    result, numeric = runTask("zogy", *(e.clone() for e in saturatedPair), *NO_OFFSET_CHECK)
    assert not isinstance(result, Exception), result
    assert numeric == []
    difference = result.subtractedExposure
    saturated = difference.maskedPixels("SAT")
    for x, y in SATURATED_AT:
        assert saturated[y, x]
    good = difference.mask == 0
    z = difference.image[good] / np.sqrt(difference.variance[good])
    assert 0.95 < z.std() < 1.05 and np.abs(z).max() < 6.0
    sources = result.diaSources
    assert all(saturated[int(round(y)), int(round(x))] for x, y in zip(sources["x"], sources["y"]))


@pytest.mark.parametrize("algorithm,kind,words", [
    ("al", InsufficientKernelSourcesError, ["only 0 usable kernel candidates"]),
    ("zogy", InputError, ["no usable pixels to measure the mean variances"]),
], ids=["al", "zogy"])
def test_every_star_masked_in_one_image_or_the_other(starField, algorithm, kind, words):
    science, template = complementaryMasks(*starField[:2])
    result, numeric = runTask(algorithm, science, template, *NO_OFFSET_CHECK)
    expectFailure(result, kind, *words)
    assert numeric == []


# --------------------------------------------------------------------------------------------
# Too few kernel candidates: al's documented fallback to a spatially constant kernel
# --------------------------------------------------------------------------------------------

def _alSubtract(science: Exposure, template: Exposure, kernelSources: Table, **overrides):
    config = load_pipeline(PIPELINES / "default.yaml", freeze=False).subtract.config
    for name, value in overrides.items():
        config.set(name, value)
    config.freeze()
    return AlardLuptonSubtraction().diffim_subtract(
        sanitize(science, "science"), sanitize(template, "template"), config, True,
        kernelSources, np.random.default_rng(0))


def _cleanStars(truth: Table, n: int) -> Table:
    """The ``n`` brightest unsaturated, isolated stars well inside a 256-px image."""
    stars = truth[(truth["kind"] == "star") & ~truth["saturated"]]
    inside = (stars["x"] > 40) & (stars["x"] < 216) & (stars["y"] > 40) & (stars["y"] < 216)
    stars = stars[inside]
    stars.sort("scienceFlux", reverse=True)
    return stars[:n]["x", "y"]


@pytest.mark.parametrize("n", [1, 3])
def test_too_few_kernel_sources_fall_back_to_a_constant_kernel(starField, n):
    """Fewer stars than the spatial model's terms: a constant kernel and background."""
    science, template, truth = starField
    result = _alSubtract(science, template, _cleanStars(truth, n))
    metadata = result.metadata
    assert metadata["ALSpatialFallback"] is True
    assert metadata["ALSpatialKernelOrder"] == 0 and metadata["ALSpatialBgOrder"] == 0
    assert 1 <= metadata["ALCandidatesUsed"] <= n
    difference = result.subtractedExposure
    good = difference.mask == 0
    z = difference.image[good] / np.sqrt(difference.variance[good])
    robust = 1.4826 * np.median(np.abs(z - np.median(z)))
    assert 0.85 < robust < 1.2


def test_enough_kernel_sources_fit_the_configured_spatial_model(starField):
    """The control for the fallback: with many stars the configured orders are kept."""
    science, template, _ = starField
    result = _alSubtract(science, template, None)
    assert result.metadata["ALCandidatesUsed"] >= 6
    assert result.metadata["ALSpatialFallback"] is False
    assert result.metadata["ALSpatialKernelOrder"] == 1


@pytest.mark.parametrize("sources,kind,words", [
    (Table(names=["x", "y"], dtype=[float, float]), InsufficientKernelSourcesError,
     ["only 0 usable kernel candidates"]),
    (Table({"x": [-500.0, 900.0], "y": [-500.0, 20.0]}), InsufficientKernelSourcesError,
     ["only 0 usable kernel candidates"]),
    (Table({"ra": [150.0], "dec": [2.0]}), InputError, ["kernelSources lacks column(s) x, y"]),
], ids=["empty", "outsideTheImage", "noPixelColumns"])
def test_unusable_kernel_sources_are_a_clear_error(starField, sources, kind, words):
    science, template, _ = starField
    with pytest.raises(kind) as info:
        _alSubtract(science, template, sources)
    expectFailure(info.value, kind, *words)


# --------------------------------------------------------------------------------------------
# A singular kernel solution
# --------------------------------------------------------------------------------------------

def test_zero_template_gives_no_al_kernel(starField):
    science, template, _ = starField
    blank = template.clone()
    blank.image[:] = 0.0
    result, _ = runTask("al", science.clone(), blank, *NO_OFFSET_CHECK)
    expectFailure(result, DiffimError, "kernel")


def test_zero_template_raises_no_numpy_warnings(starField):
    science, template, _ = starField
    blank = template.clone()
    blank.image[:] = 0.0
    _, numeric = runTask("al", science.clone(), blank, *NO_OFFSET_CHECK)
    assert [str(w.message) for w in numeric] == []


@pytest.mark.parametrize("level", [1.0, 5.0, 50.0])
def test_constant_template_gives_no_al_kernel(starField, level):
    """A constant template has no structure to match: every stamp's normal equations are
    singular, so al rejects every candidate (before, level 1.0 gave a kernel sum of 1.5e17
    and was reported as a success)."""
    science, template, _ = starField
    flat = template.clone()
    flat.image[:] = level
    result, numeric = runTask("al", science.clone(), flat, *NO_OFFSET_CHECK)
    expectFailure(result, DiffimError, "kernel")
    assert [str(w.message) for w in numeric] == []


@pytest.mark.parametrize("algorithm", ["al", "zogy"])
def test_template_without_valid_variance_is_refused(starField, algorithm):
    science, template, _ = starField
    broken = template.clone()
    broken.variance[:] = 0.0
    result, numeric = runTask(algorithm, science.clone(), broken, *NO_OFFSET_CHECK)
    expectFailure(result, InputError, "template", "variance <= 0")
    assert numeric == []


# --------------------------------------------------------------------------------------------
# A kernel larger than the image
# --------------------------------------------------------------------------------------------

def test_zogy_refuses_an_image_smaller_than_its_kernels():
    science, template, _ = simulatePair(size=32, nStars=1, nTransients=0, seed=3)
    result, numeric = runTask("zogy", science, template, *NO_OFFSET_CHECK)
    expectFailure(result, InputError, "32x32 px images are too small", "at least 45 px")
    assert numeric == []


@pytest.mark.parametrize("size,overrides", [
    (32, []),
    (256, ["subtract.kernelSizeMin=301", "subtract.kernelSizeMax=301"]),
], ids=["image32px", "kernel301px"])
def test_al_names_a_kernel_larger_than_the_image(size, overrides):
    science, template, _ = simulatePair(size=size, nStars=3 if size < 64 else None,
                                        nTransients=0, seed=3)
    result, _ = runTask("al", science, template, *NO_OFFSET_CHECK, *overrides)
    expectFailure(result, InputError, "matching kernel", f"{size}x{size} pixel image")


# --------------------------------------------------------------------------------------------
# The same faults as the command shows them
# --------------------------------------------------------------------------------------------

def diffimCommand(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffim.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def assertOneLineFailure(done: subprocess.CompletedProcess, out: Path, *words: str) -> str:
    """Status 1 and, after the run's progress log (``INFO diffim...`` lines), exactly one
    line: the error (no traceback, no warnings)."""
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO diffim.")]
    assert len(lines) == 1 and lines[0].startswith("diffim: error: "), done.stderr
    assert len(lines[0]) <= 200, lines[0]
    assert done.stderr.splitlines()[-1] == lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not out.exists() or not any(out.iterdir())
    return lines[0]


@pytest.fixture(scope="module")
def noiseFiles(tmp_path_factory) -> dict[str, Path]:
    """The starless pair as diffim FITS files (the science also without photoCalib), and a
    plain FITS image of the same noise."""
    folder = tmp_path_factory.mktemp("noise")
    science, template = noiseOnly()
    plain = folder / "plain.fits"
    fits.PrimaryHDU(science.image).writeto(plain)
    withSeeing = folder / "plainWithSeeing.fits"
    header = science.wcs.to_header()
    header["FWHM"] = 4.6
    fits.PrimaryHDU(science.image, header=header).writeto(withSeeing)
    uncalibrated = science.clone()
    uncalibrated.photoCalib = None
    return {"science": writeExposure(science, folder / "science.fits"),
            "template": writeExposure(template, folder / "template.fits"),
            "uncalibrated": writeExposure(uncalibrated, folder / "uncalibrated.fits"),
            "plain": plain, "plainWithSeeing": withSeeing}


@pytest.mark.parametrize("role", ["science", "template"])
def test_psf_that_cannot_be_measured_names_the_file(noiseFiles, tmp_path, role):
    """A plain FITS image without stars (and no seeing keyword) has no measurable PSF."""
    files = {**noiseFiles, role: noiseFiles["plain"]}
    out = tmp_path / "out"
    done = diffimCommand("run", PIPELINES / "default.yaml", "--science", files["science"],
                         "--template", files["template"], "-o", out)
    line = assertOneLineFailure(done, out, "could not measure a PSF", "found 0 usable stars")
    assert startsWithPath(line.removeprefix("diffim: error: "), noiseFiles["plain"],
                          f": {role} exposure has no PSF")


def test_unmeasurable_psf_falls_back_to_the_header_seeing(noiseFiles, tmp_path):
    """The documented fallback: a Gaussian of the header FWHM; the run then stops where a
    starless image must, for want of kernel stars, not at the PSF."""
    out = tmp_path / "out"
    done = diffimCommand("run", PIPELINES / "default.yaml", "--science",
                         noiseFiles["plainWithSeeing"], "--template", noiseFiles["template"],
                         "-o", out, "-c", NO_OFFSET_CHECK[0])
    line = assertOneLineFailure(done, out, "only 0 usable kernel candidates")
    assert "PSF" not in line


@pytest.mark.parametrize("algorithm,science,words", [
    ("al", "science", ["only 0 usable kernel candidates"]),
    ("zogy", "uncalibrated", ["only 0 usable stars to fit the template/science flux ratio"]),
], ids=["al", "zogy"])
def test_starless_pair_through_the_command(noiseFiles, tmp_path, algorithm, science, words):
    """al has no kernel stars; zogy without a science photoCalib cannot scale the fluxes."""
    out = tmp_path / "out"
    done = diffimCommand("run", PIPELINES / PIPELINE[algorithm], "--science", noiseFiles[science],
                         "--template", noiseFiles["template"], "-o", out,
                         *[a for o in NO_OFFSET_CHECK for a in ("-c", o)])
    assertOneLineFailure(done, out, *words)


def test_image_smaller_than_the_zogy_kernels_through_the_command(tmp_path):
    science, template, _ = simulatePair(size=32, nStars=1, nTransients=0, seed=3)
    paths = [writeExposure(e, tmp_path / f"{n}.fits")
             for n, e in (("science", science), ("template", template))]
    out = tmp_path / "out"
    done = diffimCommand("run", PIPELINES / "zogy.yaml", "--science", paths[0], "--template",
                         paths[1], "-o", out, "-c", NO_OFFSET_CHECK[0])
    assertOneLineFailure(done, out, "32x32 px images are too small for the zogy subtraction")
