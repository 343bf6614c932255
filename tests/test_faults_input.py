"""Input faults through ``diffim run``: one line on stderr naming the file, no outputs.

Each faulty input is made from a small simulated pair, given as the science
or as the template, and run through the real command (in process, by
:func:`diffim.cli.main`; a few in a subprocess). Bad pixels (NaN, infinite,
variance <= 0) are not faults: they become NO_DATA and the run succeeds.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from diffim.cli import main
from diffim.errors import InputError
from diffim.exposure import Exposure
from diffim.fits_io import readExposure, writeExposure
from diffim.mask import MaskPlanes
from diffim.messages import shortenPaths
from diffim.psf import GaussianPsf
from diffim.testing.simulate import simulatePair
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from paths import PIPELINES

DEFAULT = PIPELINES / "default.yaml"
SIZE = 256


# ---------------------------------------------------------------------------
# helpers shared with test_faults_output.py and test_determinism.py
# ---------------------------------------------------------------------------


def runDiffim(capsys, *args) -> tuple[int, str, str]:
    """``diffim -q ARGS`` in this process: exit status, stdout, stderr."""
    capsys.readouterr()
    status = main(["-q", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def runPair(capsys, science, template, outdir, *extra) -> tuple[int, str, str]:
    """``diffim -q run default.yaml --science S --template T -o OUTDIR EXTRA``."""
    args = ["run", DEFAULT, "--science", science, "-o", outdir, *extra]
    if template is not None:
        args[4:4] = ["--template", template]
    return runDiffim(capsys, *args)


def assertOneLineError(status: int, stderr: str, *fragments: str) -> str:
    """Non-zero status; stderr is one ``diffim: error:`` line holding every fragment."""
    assert status != 0
    lines = stderr.rstrip("\n").split("\n")
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    line = lines[0]
    assert line.startswith("diffim: error: ") and len(line) <= 200, line
    for fragment in fragments:
        # a long message names its files by their last folders or their name alone
        assert any(shortened in line for shortened in (fragment, shortenPaths(fragment, 2),
                                                       shortenPaths(fragment, 1))), \
            f"{fragment!r} not in {line!r}"
    return line


def listing(directory: Path) -> dict[str, bytes] | None:
    """Every file under ``directory`` (hidden ones included) with its content; None if absent."""
    if not directory.exists():
        return None
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(directory.rglob("*"))}


def noMask(path: Path, plane: str = "NO_DATA") -> np.ndarray:
    """Where ``plane`` is set in the MASK of a diffim FITS file."""
    with fits.open(path) as hdus:
        return (hdus["MASK"].data & (1 << hdus["MASK"].header[f"MP_{plane}"])) != 0


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict[str, Path]:
    """A 256 x 256 simulated science/template pair, written once for the module."""
    folder = tmp_path_factory.mktemp("pair")
    science, template, _ = simulatePair(size=SIZE, seed=3, nTransients=5)
    return {"science": writeExposure(science, folder / "science.fits"),
            "template": writeExposure(template, folder / "template.fits")}


# ---------------------------------------------------------------------------
# faulty files
# ---------------------------------------------------------------------------


def _edited(source: Path, target: Path, edit: Callable[[fits.HDUList], None]) -> Path:
    with fits.open(source) as hdus:
        copy = fits.HDUList([hdu.copy() for hdu in hdus])
    edit(copy)
    copy.writeto(target, output_verify="ignore")
    return target


def _cut(source: Path, target: Path, where: Callable[[bytes], int]) -> Path:
    raw = source.read_bytes()
    target.write_bytes(raw[:where(raw)])
    return target


def _hdu_start(path: Path, name: str) -> int:
    with fits.open(path) as hdus:
        return hdus[name].fileinfo()["hdrLoc"]


def _drop_wcs(hdus: fits.HDUList) -> None:
    for hdu in hdus[1:4]:
        for key in list(hdu.header):
            if key[:5] in ("CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "WCSAX", "RADES",
                           "LONPO", "LATPO", "MJDRE") or key[:3] in ("PC1", "PC2", "CD1", "CD2"):
                del hdu.header[key]


def _set_plane(plane: str, value: float) -> Callable[[fits.HDUList], None]:
    def edit(hdus):
        hdus[plane].data[...] = value
    return edit


def _set_mask(name: str) -> Callable[[fits.HDUList], None]:
    def edit(hdus):
        hdus["MASK"].data[...] |= 1 << hdus["MASK"].header[f"MP_{name}"]
    return edit


def _header_only(cards: list[str]) -> bytes:
    return "".join(c.ljust(80) for c in [*cards, "END"]).ljust(2880).encode("ascii")


def _plain_header(naxes: list[int]) -> list[str]:
    return ["SIMPLE  =                    T", "BITPIX  =                  -32",
            f"NAXIS   = {len(naxes):>20}",
            *[f"NAXIS{i + 1}  = {n:>20}" for i, n in enumerate(naxes)]]


def _huge_mef(source: Path, target: Path) -> Path:
    """The science MEF with its IMAGE header claiming 300000 x 300000 pixels."""
    raw = bytearray(source.read_bytes())
    start = _hdu_start(source, "IMAGE")
    header = raw[start:start + 2880].decode("ascii")
    for key in ("NAXIS1", "NAXIS2"):
        i = header.index(key.ljust(8) + "=")
        header = header[:i] + f"{key:<8}= {300000:>20}".ljust(80) + header[i + 80:]
    raw[start:start + 2880] = header.encode("ascii")
    target.write_bytes(bytes(raw))
    return target


def _make(case: str, good: Path, folder: Path) -> Path:
    """The faulty file for ``case``, made from the good exposure file ``good``."""
    target = folder / f"{case}.fits"
    if case == "missing":
        return target
    if case == "directory":
        target.mkdir()
        return target
    if case == "text":
        target.write_text("SIMPLE? no, this is a text file\n" * 100)
        return target
    if case == "empty":
        target.write_bytes(b"")
        return target
    if case == "truncated-data":
        return _cut(good, target, lambda raw: _hdu_start(good, "IMAGE") + 2880 + 100000)
    if case == "truncated-padding":
        return _cut(good, target, lambda raw: len(raw) - 100)
    if case == "truncated-extension-header":
        return _cut(good, target, lambda raw: _hdu_start(good, "MASK") + 1000)
    if case == "truncated-primary-header":
        return _cut(good, target, lambda raw: 1000)
    if case == "trailing-garbage":
        target.write_bytes(good.read_bytes() + b"\x00garbage" * 50)
        return target
    if case == "no-image-extension":
        return _edited(good, target, lambda h: h.remove(h["IMAGE"]))
    if case in ("image-is-a-table", "mask-is-a-table"):
        name = case.split("-")[0].upper()
        table = fits.BinTableHDU.from_columns([fits.Column("a", "D", array=[1.0, 2.0])],
                                              name=name)
        return _edited(good, target, lambda h: h.__setitem__(name, table))
    if case == "mask-shape":
        return _edited(good, target, lambda h: setattr(h["MASK"], "data", h["MASK"].data[:100]))
    if case == "variance-shape":
        return _edited(good, target,
                       lambda h: setattr(h["VARIANCE"], "data", h["VARIANCE"].data[:, :50]))
    if case == "table-only":
        table = fits.BinTableHDU.from_columns([fits.Column("a", "D", array=[1.0])])
        fits.HDUList([fits.PrimaryHDU(), table]).writeto(target)
        return target
    if case == "1-D-plain":
        fits.PrimaryHDU(np.ones(500, np.float32)).writeto(target)
        return target
    if case == "1-D-image-extension":
        return _edited(good, target, lambda h: setattr(h["IMAGE"], "data", h["IMAGE"].data[7]))
    if case == "3-D-plain":
        fits.PrimaryHDU(np.ones((3, 40, 50), np.float32)).writeto(target)
        return target
    if case == "3-D-image-extension":
        return _edited(good, target, lambda h: setattr(
            h["IMAGE"], "data", np.stack([h["IMAGE"].data] * 2)))
    if case == "zero-size":
        target.write_bytes(_header_only(_plain_header([0, 10])))
        return target
    if case == "huge-plain":
        target.write_bytes(_header_only(_plain_header([300000, 300000])))
        return target
    if case == "huge-image-extension":
        return _huge_mef(good, target)
    if case == "all-nan":
        return _edited(good, target, _set_plane("IMAGE", np.nan))
    if case == "all-zero-variance":
        return _edited(good, target, _set_plane("VARIANCE", 0.0))
    if case == "all-negative-variance":
        return _edited(good, target, _set_plane("VARIANCE", -4.0))
    if case in ("all-NO_DATA", "all-BAD", "all-SAT"):
        return _edited(good, target, _set_mask(case[4:]))
    if case == "unknown-projection":
        return _edited(good, target, lambda h: h["IMAGE"].header.update(
            CTYPE1="RA---XYZ", CTYPE2="DEC--XYZ"))
    if case == "singular-wcs":
        return _edited(good, target, lambda h: h["IMAGE"].header.update(
            PC1_1=0.0, PC1_2=0.0, PC2_1=0.0, PC2_2=0.0))
    if case == "off-projection-wcs":
        return _edited(good, target, lambda h: h["IMAGE"].header.update(
            CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRPIX1=-2e6))
    if case == "no-wcs":
        return _edited(good, target, _drop_wcs)
    raise AssertionError(case)


#: case -> fragments the error line must hold ({file} is the faulty file's path).
FILE_FAULTS = {
    "missing": ["{file}: file not found"],
    "directory": ["Invalid value for '--{role}'", "{file}' is a directory"],
    "text": ["{file}: not a readable FITS file", "No SIMPLE card found",
             "expected a FITS image or a diffim exposure file"],
    "empty": ["{file}: not a readable FITS file", "Empty or corrupt FITS file"],
    "truncated-data": ["{file}: truncated: HDU 1 (IMAGE) ends at byte 270720 but the file has "
                       "105760 bytes", "download it again"],
    "truncated-padding": ["{file}: truncated: HDU 4 (PSF) ends at byte {full} but the file "
                          "has {size} bytes"],
    "truncated-extension-header": ["{file}: 1000 bytes after HDU 1 (IMAGE) are not a valid "
                                   "FITS extension", "truncated or corrupt"],
    "truncated-primary-header": ["{file}: not a readable FITS file"],
    "trailing-garbage": ["{file}: 400 bytes after HDU 4 (PSF) are not a valid FITS extension"],
    "no-image-extension": ["{file}: has MASK and VARIANCE extensions but no IMAGE extension",
                           "expected the IMAGE, MASK, VARIANCE layout"],
    "image-is-a-table": ["{file}: the IMAGE extension is a BinTableHDU; expected an image "
                         "extension"],
    "mask-is-a-table": ["{file}: the MASK extension is a BinTableHDU; expected an image "
                        "extension"],
    "mask-shape": ["{file}: MASK shape (100, 256) differs from IMAGE shape (256, 256)"],
    "variance-shape": ["{file}: VARIANCE shape (256, 50) differs from IMAGE shape (256, 256)"],
    "table-only": ["{file}: no image data (expected a 2-D image in some HDU)"],
    "1-D-plain": ["{file}: image data are 1-D with shape (500,); expected a 2-D image"],
    "1-D-image-extension": ["{file}: image data are 1-D with shape (256,); expected a 2-D image"],
    "3-D-plain": ["{file}: image data are 3-D with shape (3, 40, 50); expected a 2-D image"],
    "3-D-image-extension": ["{file}: image data are 3-D with shape (2, 256, 256)"],
    "zero-size": ["{file}: image has zero size (shape (10, 0)); expected a non-empty 2-D image"],
    "huge-plain": ["{file}: a 300000x300000 image needs about 12572.9 GiB to process",
                   "GiB is available (cut it into smaller pieces)"],
    "huge-image-extension": ["{file}: a 300000x300000 image needs about 12572.9 GiB"],
    "all-nan": ["{file}: {role} exposure has no usable pixels", "masked NO_DATA, BAD or SAT"],
    "all-zero-variance": ["{file}: {role} exposure has no usable pixels", "variance <= 0"],
    "all-negative-variance": ["{file}: {role} exposure has no usable pixels"],
    "all-NO_DATA": ["{file}: {role} exposure has no usable pixels", "masked NO_DATA, BAD or SAT"],
    "all-BAD": ["{file}: {role} exposure has no usable pixels"],
    "all-SAT": ["{file}: {role} exposure has no usable pixels"],
    "unknown-projection": ["{file}: invalid WCS", "Unrecognized projection code (XYZ in CTYPE1)",
                           "expected a celestial WCS such as RA---TAN/DEC--TAN"],
    "singular-wcs": ["{file}: invalid WCS", "PCi_ja matrix is singular"],
    "off-projection-wcs": ["{file}: invalid WCS (CTYPE RA---SIN, DEC--SIN): the pixel-to-sky "
                           "mapping is singular or not finite at the image centre",
                           "fix CRVAL/CD/PC/CDELT, or remove the WCS"],
    "no-wcs": ["the {role} exposure has no celestial WCS but the other has",
               "give both a WCS, or neither"],
}


#: Files whose header declares an image too large to hold in memory.
HUGE_CASES = {"huge-plain", "huge-image-extension"}


@pytest.mark.parametrize("role", ["science", "template"])
@pytest.mark.parametrize("case", list(FILE_FAULTS))
def test_faulty_input_file_is_one_line_error_and_writes_nothing(pair, tmp_path, capsys, case,
                                                                role):
    bad = _make(case, pair[role], tmp_path)
    files = {**pair, role: bad}
    outdir = tmp_path / "out"
    status, _, stderr = runPair(capsys, files["science"], files["template"], outdir)
    size = bad.stat().st_size if bad.is_file() else 0
    faults = FILE_FAULTS[case]
    if role == "science" and case in HUGE_CASES:
        # a huge science image runs in tiles (no memory refusal): what is wrong first is
        # that the file does not hold the pixels its header declares
        faults = ["{file}: truncated: HDU", "copy or download it again"]
    fragments = [f.format(file=bad, role=role, size=size, full=pair[role].stat().st_size)
                 for f in faults]
    assertOneLineError(status, stderr, *fragments)
    assert status == (2 if case == "directory" else 1)
    assert listing(outdir) is None


@pytest.mark.parametrize("case", sorted(HUGE_CASES))
def test_huge_science_image_run_whole_is_refused_from_its_header(pair, tmp_path, capsys,
                                                                 case):
    bad = _make(case, pair["science"], tmp_path)
    status, _, stderr = runPair(capsys, bad, pair["template"], tmp_path / "out",
                                "--tile-size", "0")
    assertOneLineError(status, stderr, *[f.format(file=bad) for f in FILE_FAULTS[case]])
    assert listing(tmp_path / "out") is None


def test_a_multi_line_message_is_printed_as_one_line(pair, tmp_path, capsys, monkeypatch):
    from diffim import runner

    def fail(*args, **kwargs):
        raise InputError("first line\n  second line\twith a tab")

    monkeypatch.setattr(runner.ImageFiles, "read", fail)
    status, _, stderr = runPair(capsys, pair["science"], pair["template"], tmp_path / "out")
    assert status == 1
    assert stderr == "diffim: error: first line second line with a tab\n"


def test_failure_after_the_output_directory_was_made_removes_it(pair, tmp_path, capsys):
    outdir = tmp_path / "new" / "deeper" / "out"
    repository = tmp_path / "no-such-repository"          # found missing inside the run
    status, _, stderr = runPair(capsys, pair["science"], None, outdir,
                                "--template-repo", repository)
    assertOneLineError(status, stderr, "getTemplate plugin 'coadd'", str(repository))
    assert not (tmp_path / "new").exists()


def test_failure_leaves_an_existing_output_directory_as_it_was(pair, tmp_path, capsys):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "notes.txt").write_text("mine")
    before = listing(outdir)
    repository = tmp_path / "no-such-repository"
    status, _, stderr = runPair(capsys, pair["science"], None, outdir,
                                "--template-repo", repository)
    assertOneLineError(status, stderr, "getTemplate plugin 'coadd'", str(repository))
    assert listing(outdir) == before


@pytest.mark.parametrize("case,fragments", [
    ("missing", ["{file}: file not found"]),
    ("not-a-table", ["{file}: cannot read a FITS table"]),
])
def test_faulty_science_source_catalog(pair, tmp_path, capsys, case, fragments):
    catalog = tmp_path / "sources.fits"
    if case == "not-a-table":
        fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(catalog)
    status, _, stderr = runPair(capsys, pair["science"], pair["template"], tmp_path / "out",
                                "--science-sources", catalog)
    assertOneLineError(status, stderr, *[f.format(file=catalog) for f in fragments])
    assert listing(tmp_path / "out") is None


# ---------------------------------------------------------------------------
# science and template that do not go together
# ---------------------------------------------------------------------------


def _moved_template(pair, folder: Path, dx: float) -> Path:
    """The template with a WCS claiming it lies ``dx`` pixels further along x."""
    return _edited(pair["template"], folder / "moved.fits",
                   lambda h: [h[n].header.__setitem__("CRPIX1", h[n].header["CRPIX1"] - dx)
                              for n in ("IMAGE", "MASK", "VARIANCE")])


def _cropped_template(pair, folder: Path, start: int) -> Path:
    """The template without its first ``start`` columns (WCS kept true)."""
    def crop(hdus):
        for name in ("IMAGE", "MASK", "VARIANCE"):
            hdus[name].data = hdus[name].data[:, start:].copy()
            hdus[name].header["CRPIX1"] -= start
    return _edited(pair["template"], folder / "cropped.fits", crop)


def _coverage(start: int) -> float:
    """Covered fraction of the science by the template cropped at column ``start``.

    The template is offset by (0.3, 0.2) px: the science lacks template data in
    ``start + 1`` columns and one row, grown by NO_DATA_GROW = 2 pixels.
    """
    return (SIZE - start - 3) * (SIZE - 3) / SIZE**2


@pytest.mark.parametrize("dx", [10 * SIZE, -2 * SIZE, SIZE + 3])
@pytest.mark.parametrize("required", [0.1, 0.0])
def test_template_not_overlapping_the_science_is_refused(pair, tmp_path, capsys, dx, required):
    template = _moved_template(pair, tmp_path, dx)
    status, _, stderr = runPair(capsys, pair["science"], template, tmp_path / "out",
                                "-c", f"requiredTemplateFraction={required}")
    assertOneLineError(status, stderr, "template covers 0.0% of the science image; "
                                       f"requiredTemplateFraction is {required:.1%}",
                       "lower it, or give a template that covers the science image")
    assert listing(tmp_path / "out") is None


@pytest.mark.parametrize("start,required,covered", [(154, 0.5, "38.2%"), (30, 0.9, "86.1%")])
def test_template_coverage_below_the_required_fraction_is_refused(pair, tmp_path, capsys, start,
                                                                  required, covered):
    assert f"{_coverage(start):.1%}" == covered
    template = _cropped_template(pair, tmp_path, start)
    status, _, stderr = runPair(capsys, pair["science"], template, tmp_path / "out",
                                "-c", f"requiredTemplateFraction={required}")
    assertOneLineError(status, stderr, f"template covers {covered} of the science image; "
                                       f"requiredTemplateFraction is {required:.1%}")
    assert listing(tmp_path / "out") is None


def test_partial_coverage_above_the_required_fraction_runs(pair, tmp_path, capsys):
    template = _cropped_template(pair, tmp_path, 154)
    outdir = tmp_path / "out"
    status, _, stderr = runPair(capsys, pair["science"], template, outdir,
                                "-c", "requiredTemplateFraction=0.35")
    assert status == 0, stderr
    metadata = yaml.safe_load((outdir / "metadata.yaml").read_text())
    assert metadata["metadata"]["templateCoverage"] == pytest.approx(_coverage(154), abs=1e-6)
    nodata = noMask(outdir / "difference.fits")
    assert nodata[:, :157].all() and not nodata[:, 160:].all()


@pytest.mark.parametrize("scienceBand,templateBand", [("r", "g"), ("i", "z")])
def test_different_bands_are_refused(pair, tmp_path, capsys, scienceBand, templateBand):
    science = _edited(pair["science"], tmp_path / "sci.fits",
                      lambda h: h[0].header.__setitem__("FILTER", scienceBand))
    template = _edited(pair["template"], tmp_path / "tmpl.fits",
                       lambda h: h[0].header.__setitem__("FILTER", templateBand))
    status, _, stderr = runPair(capsys, science, template, tmp_path / "out")
    assertOneLineError(status, stderr, f"the science exposure is in band {scienceBand!r} but "
                                       f"the template in band {templateBand!r}",
                       "give a template of the same band")
    assert listing(tmp_path / "out") is None


def test_neither_with_a_wcs_runs_on_the_common_grid(pair, tmp_path, capsys):
    science = _edited(pair["science"], tmp_path / "sci.fits", _drop_wcs)
    template = _edited(pair["template"], tmp_path / "tmpl.fits", _drop_wcs)
    status, _, stderr = runPair(capsys, science, template, tmp_path / "out")
    assert status == 0, stderr
    with fits.open(tmp_path / "out" / "difference.fits") as hdus:
        assert "CTYPE1" not in hdus["IMAGE"].header


# ---------------------------------------------------------------------------
# bad pixels are NO_DATA, not errors
# ---------------------------------------------------------------------------

BLOCK = (slice(100, 110), slice(60, 75))


@pytest.fixture(scope="module")
def baseline(pair, tmp_path_factory) -> Path:
    """Outputs of the good pair (difference and warped template)."""
    outdir = tmp_path_factory.mktemp("baseline") / "out"
    assert main(["-q", "run", str(DEFAULT), "--science", str(pair["science"]), "--template",
                 str(pair["template"]), "-o", str(outdir), "-c", "doWriteWarpedExp=true"]) == 0
    return outdir


@pytest.mark.parametrize("plane,value", [("IMAGE", np.nan), ("IMAGE", np.inf),
                                         ("IMAGE", -np.inf), ("VARIANCE", np.nan),
                                         ("VARIANCE", np.inf), ("VARIANCE", 0.0),
                                         ("VARIANCE", -3.0)])
@pytest.mark.parametrize("role", ["science", "template"])
def test_bad_pixels_become_no_data_and_the_run_succeeds(pair, baseline, tmp_path, capsys, role,
                                                        plane, value):
    def spoil(hdus):
        hdus[plane].data[BLOCK] = value
    files = {**pair, role: _edited(pair[role], tmp_path / "bad.fits", spoil)}
    outdir = tmp_path / "out"
    status, _, stderr = runPair(capsys, files["science"], files["template"], outdir,
                                "-c", "doWriteWarpedExp=true")
    assert status == 0 and stderr == ""
    block = np.zeros((SIZE, SIZE), dtype=bool)
    block[BLOCK] = True
    if role == "science":
        # The science is not resampled or convolved (convolveTemplate=auto picks the
        # template): exactly the 150 spoiled pixels become NO_DATA in the difference.
        before, after = noMask(baseline / "difference.fits"), noMask(outdir / "difference.fits")
        assert np.count_nonzero(after & ~before) == 150
        assert np.array_equal(after, before | block)
    else:
        # The template is shifted by (-0.3, -0.2) px: its NO_DATA moves with the nearest
        # whole pixel (none) and grows by NO_DATA_GROW = 2 against spline ringing.
        before = noMask(baseline / "warpedTemplate.fits")
        after = noMask(outdir / "warpedTemplate.fits")
        assert np.array_equal(after, before | ndimage.binary_dilation(block, iterations=2))
    with fits.open(outdir / "difference.fits") as hdus:
        good = ~noMask(outdir / "difference.fits")
        assert np.all(np.isfinite(hdus["IMAGE"].data[good]))
        assert np.all(hdus["VARIANCE"].data[good] > 0)


@pytest.mark.parametrize("dtype,offset", [(np.uint16, 0.0), (np.int16, -1000.0), (np.int32, 0.0),
                                          (np.int32, -1000.0)])
def test_integer_images_are_read_as_float(pair, tmp_path, capsys, dtype, offset):
    with fits.open(pair["science"]) as hdus:
        pixels = np.round(hdus["IMAGE"].data + offset).astype(dtype)

    def integer(hdus):
        hdus["IMAGE"].data = pixels
    science = _edited(pair["science"], tmp_path / "int.fits", integer)
    with fits.open(science) as hdus:
        assert hdus["IMAGE"].header["BITPIX"] == 8 * np.dtype(dtype).itemsize
    exposure = readExposure(science)
    assert exposure.image.dtype == np.float32
    assert np.array_equal(exposure.image, pixels.astype(np.float32))
    status, _, stderr = runPair(capsys, science, pair["template"], tmp_path / "out")
    assert status == 0 and stderr == ""
    assert (tmp_path / "out" / "difference.fits").exists()


# ---------------------------------------------------------------------------
# real processes: warnings and log output do not spoil the one line
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["truncated-data", "all-NO_DATA", "off-projection-wcs"])
def test_one_line_in_a_real_process(pair, tmp_path, case):
    bad = _make(case, pair["science"], tmp_path)
    done = subprocess.run([sys.executable, "-m", "diffim.cli", "-q", "run", str(DEFAULT),
                           "--science", str(bad), "--template", str(pair["template"]),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    fragments = [f.format(file=bad, role="science") for f in FILE_FAULTS[case]]
    assertOneLineError(done.returncode, done.stderr, *fragments)
    assert done.returncode == 1 and done.stdout == ""
    assert listing(tmp_path / "out") is None


# ---------------------------------------------------------------------------
# FITS round trips and truncation, by hypothesis
# ---------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
finite32 = st.floats(-1e6, 1e6, width=32)
pixel32 = st.one_of(finite32, st.just(float("nan")), st.just(float("inf")))


@st.composite
def exposures(draw) -> Exposure:
    shape = draw(shapes)
    image = draw(arrays(np.float32, shape, elements=pixel32))
    variance = draw(arrays(np.float32, shape, elements=st.floats(0.0, 1e6, width=32)))
    mask = draw(arrays(np.int32, shape, elements=st.integers(0, 2**20)))
    sigma = draw(st.floats(0.5, 4.0))
    return Exposure(image=image, mask=mask, variance=variance,
                    psf=GaussianPsf(sigma, averagePosition=(shape[1] / 2, shape[0] / 2)),
                    filter=draw(st.sampled_from([None, "g", "r", "HSC-I"])),
                    maskPlanes=MaskPlanes())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exposure=exposures())
def test_exposure_round_trip_is_bit_exact(exposure):
    with tempfile.TemporaryDirectory() as folder:
        path = writeExposure(exposure, Path(folder) / "e.fits")
        back = readExposure(path)
    for plane in ("image", "variance", "mask"):
        assert np.array_equal(getattr(back, plane), getattr(exposure, plane), equal_nan=True)
        assert getattr(back, plane).dtype == getattr(exposure, plane).dtype
    assert back.filter == exposure.filter
    assert back.psf.gaussianSigma == exposure.psf.gaussianSigma
    assert {n: back.maskPlanes[n] for n in back.maskPlanes} == \
        {n: exposure.maskPlanes[n] for n in exposure.maskPlanes}


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> tuple[bytes, list[int]]:
    """A written 20 x 30 exposure's bytes and the byte offsets where its HDUs start."""
    rng = np.random.default_rng(5)
    exposure = Exposure(image=rng.normal(100, 5, (20, 30)).astype(np.float32),
                        variance=np.full((20, 30), 25.0, np.float32),
                        psf=GaussianPsf(1.5, averagePosition=(15, 10)))
    path = writeExposure(exposure, tmp_path_factory.mktemp("small") / "small.fits")
    with fits.open(path) as hdus:
        starts = [hdu.fileinfo()["hdrLoc"] for hdu in hdus]
    return path.read_bytes(), starts


@settings(max_examples=60, deadline=None)
@given(fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_any_truncation_is_an_input_error(small_file, fraction):
    raw, starts = small_file
    size = int(fraction * len(raw))
    # A cut exactly where an extension starts leaves a valid, shorter FITS file.
    assume(size not in starts[1:])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.fits"
        path.write_bytes(raw[:size])
        with pytest.raises(InputError) as caught:
            readExposure(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")


@settings(max_examples=30, deadline=None)
@given(extra=st.binary(min_size=1, max_size=6000))
def test_any_bytes_after_the_last_hdu_are_an_input_error(small_file, extra):
    raw, _ = small_file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.fits"
        path.write_bytes(raw + extra)
        with pytest.raises(InputError) as caught:
            readExposure(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
