"""The diffim command: outputs, one-line errors, refusal to overwrite, nothing partial."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table

from paths import PIPELINES

DIFFIM = [sys.executable, "-m", "diffim.cli"]


def diffim(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*DIFFIM, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"diffim {' '.join(map(str, args))} failed: {done.stderr}")
    return done


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pair")
    diffim("simulate", "-o", folder, "--size", "512", "--seed", "7", "--transients", "10")
    return folder


def test_simulate_writes_pair_and_truth(small_pair):
    for name in ("science.fits", "template.fits", "truth.fits"):
        assert (small_pair / name).exists()
    truth = Table.read(small_pair / "truth.fits")
    assert (truth["kind"] == "transient").sum() == 10


def test_run_writes_outputs_and_metadata(small_pair, tmp_path):
    out = tmp_path / "out"
    done = diffim("run", PIPELINES / "default.yaml", "--science", small_pair / "science.fits",
                  "--template", small_pair / "template.fits", "-o", out,
                  "-c", "doWriteWarpedExp=true", "-c", "doWriteMatchedExp=true")
    assert "diaSources" in done.stdout and str(out / "difference.fits") in done.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["diaSources.fits", "difference.fits", "diffim.log", "matchedTemplate.fits",
                     "metadata.yaml", "warpedTemplate.fits"]
    with fits.open(out / "difference.fits") as hdus:
        assert [h.name for h in hdus] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE", "PSF"]
    metadata = yaml.safe_load((out / "metadata.yaml").read_text())
    assert metadata["config"]["doWriteWarpedExp"] is True
    assert metadata["versions"]["diffim-al"]
    assert set(metadata["metadata"]["timing"]) >= {"warpTemplate", "subtract", "detection"}
    assert 0.9 < metadata["summary"]["noiseRatio"] < 1.1
    table = Table.read(out / "diaSources.fits")
    assert len(table) == metadata["summary"]["nDiaSources"]


def test_existing_output_is_refused_without_overwrite(small_pair, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "difference.fits").write_text("keep me")
    done = diffim("run", PIPELINES / "default.yaml", "--science", small_pair / "science.fits",
                  "--template", small_pair / "template.fits", "-o", out, check=False)
    assert done.returncode == 1
    assert "difference.fits already exists; use --overwrite" in done.stderr
    assert (out / "difference.fits").read_text() == "keep me"


@pytest.mark.parametrize("args,pattern", [
    (["-c", "subtract=alx"], "subtract plugin 'alx': not installed; installed subtract plugins: "),
    (["-c", "detection.thresholdValu=3"], "did you mean 'thresholdValue'"),
    (["-c", "growFootprint=wide"], "growFootprint.*expects int"),
])
def test_bad_config_gives_one_line_error_and_no_output(small_pair, tmp_path, args, pattern):
    import re

    out = tmp_path / "out"
    done = diffim("run", PIPELINES / "default.yaml", "--science", small_pair / "science.fits",
                  "--template", small_pair / "template.fits", "-o", out, *args, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffim: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_malformed_pipeline_gives_one_line_error(small_pair, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("subtract: al\ndetection: [threshold\n")
    done = diffim("validate", bad, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert f"{bad}: malformed YAML at line 3" in done.stderr


def test_missing_science_file_is_named(tmp_path):
    done = diffim("run", PIPELINES / "default.yaml", "--science", tmp_path / "nope.fits",
                  "--template", tmp_path / "nope2.fits", "-o", tmp_path / "out", check=False)
    assert done.returncode == 1
    assert "nope.fits" in done.stderr and done.stderr.count("\n") == 1


def test_validate_config_and_plugins_commands():
    assert "valid" in diffim("validate", PIPELINES / "default.yaml").stdout
    dumped = yaml.safe_load(diffim("config", PIPELINES / "default.yaml",
                                   "-c", "detection.thresholdValue=6").stdout)
    assert dumped["detection"]["thresholdValue"] == 6.0
    assert dumped["requiredTemplateFraction"] == 0.1
    listing = diffim("plugins").stdout
    assert "subtract:" in listing and "diffim-al" in listing and "gaussianMatch" in listing


@pytest.mark.parametrize("pipeline,extra", [
    ("zogy", []),
    ("default", ["-c", "doWriteSubtractedExp=false", "-c", "convolveTemplate=true"]),
])
def test_score_image_detection_writes_the_score(small_pair, tmp_path, pipeline, extra):
    out = tmp_path / "out"
    diffim("run", PIPELINES / f"{pipeline}.yaml", "--science", small_pair / "science.fits",
           "--template", small_pair / "template.fits", "-o", out,
           "-c", "useScoreImageDetection=true", "-c", "doWriteScoreExp=true", *extra)
    with fits.open(out / "score.fits") as hdus:
        score, variance = hdus["IMAGE"].data, hdus["VARIANCE"].data
        mask = hdus["MASK"].data
    good = np.isfinite(score) & np.isfinite(variance) & (mask == 0)
    z = score[good] / np.sqrt(variance[good])
    assert 0.9 < 1.4826 * np.median(np.abs(z - np.median(z))) < 1.1
    truth = Table.read(small_pair / "truth.fits")
    sources = Table.read(out / "diaSources.fits")
    bright = truth[(truth["kind"] == "transient") & (truth["differenceSnr"] > 15)]
    found = sum(np.hypot(sources["x"] - t["x"], sources["y"] - t["y"]).min() < 2 for t in bright)
    assert found >= 0.8 * len(bright) and len(bright) >= 3
    assert (out / "difference.fits").exists() == (pipeline == "zogy")


def test_template_from_a_coadd_repository(small_pair, tmp_path):
    band = tmp_path / "repo" / "deepCoadd" / "r"
    band.mkdir(parents=True)
    shutil.copy(small_pair / "template.fits", band / "patch_0_0.fits")
    out = tmp_path / "out"
    done = diffim("run", PIPELINES / "default.yaml", "--science", small_pair / "science.fits",
                  "--template-repo", tmp_path / "repo", "-o", out)
    assert "diaSources" in done.stdout
    metadata = yaml.safe_load((out / "metadata.yaml").read_text())
    assert metadata["inputs"]["templateRepo"] == str(tmp_path / "repo")
    assert "deepCoadd/r/patch_0_0.fits" in yaml.safe_dump(metadata)


@pytest.mark.parametrize("args,message", [
    (("--template", "t.fits", "--template-repo", "repo"), "give --template or --template-repo, "
                                                          "not both"),
    ((), "no template given: pass a template file (--template) or a coadd repository "
         "(--template-repo)"),
])
def test_template_options_are_checked(small_pair, tmp_path, args, message):
    done = diffim("run", PIPELINES / "default.yaml", "--science", small_pair / "science.fits",
                  *args, "-o", tmp_path / "out", check=False)
    assert done.returncode in (1, 2)
    assert message in done.stderr and done.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()
