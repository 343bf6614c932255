"""Every run() input has a command-line way in; shipped pipelines by name; -q in any position."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table

from diffim.cli import main
from diffim.fits_io import readExposure, writeExposure
from diffim.shipped_pipelines import resolvePipeline, shippedPipelines
from diffim.testing.simulate import writePair

from paths import PIPELINES


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict[str, Path]:
    return writePair(tmp_path_factory.mktemp("pair"), size=384, seed=4, nTransients=12)


@pytest.fixture(scope="module")
def plain(pair, tmp_path_factory) -> Path:
    """The run every other one is compared with: default pipeline, by name."""
    out = tmp_path_factory.mktemp("plain") / "run"
    assert main(["run", "default", "--science", str(pair["science"]), "--template",
                 str(pair["template"]), "-o", str(out), "-q"]) == 0
    return out


def _sources(outdir: Path) -> Table:
    return Table.read(outdir / "diaSources.fits")


def test_shipped_pipelines_are_the_repository_ones():
    shipped = shippedPipelines()
    assert set(shipped) == {"default", "zogy", "al-spatial"}
    for name, path in shipped.items():
        assert path.read_bytes() == (PIPELINES / f"{name}.yaml").read_bytes()
    assert resolvePipeline("zogy.yaml") == shipped["zogy"]


def test_pipeline_by_name_runs_the_shipped_file(plain, pair, tmp_path):
    byPath = tmp_path / "byPath"
    assert main(["run", str(PIPELINES / "default.yaml"), "--science", str(pair["science"]),
                 "--template", str(pair["template"]), "-o", str(byPath), "-q"]) == 0
    assert (plain / "difference.fits").read_bytes() == (byPath / "difference.fits").read_bytes()
    metadata = yaml.safe_load((plain / "metadata.yaml").read_text())
    assert Path(metadata["inputs"]["pipeline"]) == shippedPipelines()["default"]


def test_pipelines_command_lists_them(capsys):
    assert main(["pipelines"]) == 0
    out = capsys.readouterr().out
    for name, path in shippedPipelines().items():
        assert f"{name} " in out and str(path) in out
    assert "Default diffim pipeline" in out


def test_unknown_pipeline_name_is_one_line(capsys, tmp_path):
    assert main(["validate", "defualt"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "defualt: pipeline file not found" in err and "default, " in err


def test_local_file_wins_over_a_shipped_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("zogy").write_text("subtract: al\n")
    assert main(["validate", "zogy"]) == 0
    assert "subtract=al" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["before", "after", None])
def test_quiet_in_any_position(where, pair, tmp_path, caplog):
    args = ["run", "default", "--science", str(pair["science"]), "--template",
            str(pair["template"]), "-o", str(tmp_path / "out")]
    if where is not None:
        args = ["-q", *args] if where == "before" else [*args, "-q"]
    with caplog.at_level(logging.DEBUG, logger="diffim"):
        assert main(args) == 0
    # The run logs each step at INFO; -q lets only warnings through the diffim logger.
    chatty = [r for r in caplog.records if r.levelno < logging.WARNING
              and r.name.startswith("diffim")]
    assert bool(chatty) is (where is None)


def test_verbose_after_the_command_name():
    logger = logging.getLogger("diffim")
    before = logger.level
    try:
        assert main(["-q", "plugins", "-v"]) == 0
        assert logger.level == logging.DEBUG
        assert main(["-v", "plugins", "-q"]) == 0
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(before)


def test_difference_detects_on_an_existing_difference(plain, pair, tmp_path, capsys):
    out = tmp_path / "again"
    assert main(["run", "default", "--science", str(pair["science"]), "--difference",
                 str(plain / "difference.fits"), "-o", str(out), "-q"]) == 0
    assert not (out / "difference.fits").exists()
    metadata = yaml.safe_load((out / "metadata.yaml").read_text())
    assert metadata["config"]["doSubtract"] is False
    again, first = _sources(out), _sources(plain)
    # The variance is rescaled once more and the difference sanitized again: the
    # same sources come out, within a small fraction of a pixel.
    assert abs(len(again) - len(first)) <= 1
    near = [np.hypot(first["x"] - x, first["y"] - y).min() for x, y in zip(again["x"],
                                                                          again["y"])]
    assert np.median(near) < 0.05


def test_difference_without_psf_takes_the_sciences(plain, pair, tmp_path):
    bare = tmp_path / "bare.fits"
    with fits.open(plain / "difference.fits") as hdus:
        fits.PrimaryHDU(hdus["IMAGE"].data, header=hdus["IMAGE"].header).writeto(bare)
    out = tmp_path / "out"
    assert main(["run", "default", "--science", str(pair["science"]), "--difference", str(bare),
                 "-o", str(out), "-q"]) == 0
    bright = _sources(plain)
    bright = bright[bright["snr"] > 20] if "snr" in bright.colnames else bright
    found = _sources(out)
    for x, y in zip(bright["x"], bright["y"]):
        assert np.hypot(found["x"] - x, found["y"] - y).min() < 1.0


def test_background_is_added_back(plain, pair, tmp_path):
    science = readExposure(pair["science"])
    ny, nx = science.shape
    yy, xx = np.mgrid[:ny, :nx]
    # A bump the AL background polynomial cannot absorb: without it added back, the
    # difference would hold it.
    bump = (300.0 * np.exp(-((xx - 120) ** 2 + (yy - 250) ** 2) / (2 * 25.0**2))
            ).astype(np.float32)
    science.image = science.image - bump
    writeExposure(science, tmp_path / "science-bg.fits")
    fits.writeto(tmp_path / "background.fits", bump)
    withBg, without = tmp_path / "with", tmp_path / "without"
    for out, extra in ((withBg, ["--background", str(tmp_path / "background.fits")]),
                       (without, [])):
        assert main(["run", "default", "--science", str(tmp_path / "science-bg.fits"),
                     "--template", str(pair["template"]), "-o", str(out), "-q", *extra]) == 0
    reference = readExposure(plain / "difference.fits").image
    for out, close in ((withBg, True), (without, False)):
        difference = readExposure(out / "difference.fits").image
        good = np.isfinite(difference) & np.isfinite(reference)
        peak = np.abs(difference - reference)[good].max()
        assert bool(peak < 0.5) == close, (out.name, peak)
    metadata = yaml.safe_load((withBg / "metadata.yaml").read_text())
    assert metadata["config"]["doAddCalexpBackground"] is True


def test_template_sources_limit_kernel_stars(plain, pair, tmp_path):
    truth = Table.read(pair["truth"])
    stars = truth[(truth["kind"] == "star") & ~truth["saturated"]]
    stars.sort("templateFlux", reverse=True)
    catalog = tmp_path / "templateSources.fits"
    stars[:15]["x", "y"].write(catalog)
    out = tmp_path / "out"
    assert main(["run", "default", "--science", str(pair["science"]), "--template",
                 str(pair["template"]), "--template-sources", str(catalog), "-o", str(out),
                 "-q", "-c", "doSelectSources=true"]) == 0
    used = yaml.safe_load((out / "metadata.yaml").read_text())["metadata"]["ALCandidatesUsed"]
    before = yaml.safe_load((plain / "metadata.yaml").read_text())["metadata"]
    assert 0 < used <= 15 < before["ALCandidatesUsed"]


@pytest.mark.parametrize("args, message", [
    (["-c", "doAddCalexpBackground=true"], "pass it with --background FILE"),
    (["-c", "doSubtract=false"], "pass it with --difference FILE"),
])
def test_config_needing_an_input_names_the_option(pair, tmp_path, capsys, args, message):
    template = [] if "doSubtract=false" in args else ["--template", str(pair["template"])]
    assert main(["run", "default", "--science", str(pair["science"]), *template, "-o",
                 str(tmp_path / "out"), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "\n" not in err.strip()
    assert not (tmp_path / "out").exists()


def test_simulate_names_the_overwrite_flag(pair, capsys):
    assert main(["simulate", "-o", str(pair["science"].parent), "--size", "64"]) == 2
    err = capsys.readouterr().err
    assert "use --overwrite" in err and "overwrite=True" not in err


def test_output_piped_into_head_ends_quietly(monkeypatch, capsys):
    """``diffim config default | head``: the reader went away before the output was written;
    no traceback, exit status 141 as for a shell command killed by SIGPIPE."""
    import os
    import sys

    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        assert main(["config", "default"]) == 141
        monkeypatch.undo()
    assert capsys.readouterr().err == ""
