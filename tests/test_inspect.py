"""`diffim inspect OUTDIR`: a finished run's summary read back from its metadata."""
from __future__ import annotations

import re
import shutil

import pytest
import yaml
from click.testing import CliRunner

from diffim.cli import main
from diffim.cli_inspect import inspect
from diffim.errors import InputError
from diffim.inspection import formatSize, inspectRun, kernelFitEntries, readRecord

from paths import PIPELINES, shownAs


@pytest.fixture(scope="module")
def run(pair, tmp_path_factory):
    """A real run's output directory (sky sources on, so that every kind can occur)."""
    out = tmp_path_factory.mktemp("run")
    assert main(["run", str(PIPELINES / "default.yaml"), "--science", str(pair["science"]),
                 "--template", str(pair["template"]), "-o", str(out),
                 "-c", "doSkySources=true", "--overwrite"]) == 0
    return out


@pytest.fixture
def copied(run, tmp_path):
    """A copy of the run's directory that a test may change."""
    return shutil.copytree(run, tmp_path / "copy")


def _field(text: str, name: str) -> str:
    """The value of the ``name  value`` line of the printed summary."""
    found = re.search(rf"^{name} +(.*)$", text, re.M)
    assert found, f"no {name!r} line in:\n{text}"
    return found.group(1)


def test_summary_is_the_metadatas(run):
    record = yaml.safe_load((run / "metadata.yaml").read_text())
    summary = record["summary"]
    text = inspectRun(run)
    status = _field(text, "status")
    assert status.split()[0] == summary["status"]
    for reason in summary.get("reasons") or []:
        assert reason in status
    counts = _field(text, "diaSources")
    total, kinds = re.match(r"(\d+) \((.*)\)$", counts).groups()
    numbers = {name: int(n) for n, name in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", kinds)}
    assert numbers == {"positive": summary["nPositive"], "negative": summary["nNegative"],
                       ("dipole" if summary["nDipoles"] == 1 else "dipoles"): summary["nDipoles"],
                       ("sky source" if summary["nSkySources"] == 1 else "sky sources"):
                       summary["nSkySources"]}
    assert summary["nSkySources"] > 0
    assert int(total) == summary["nDiaSources"] == sum(numbers.values())
    assert _field(text, "noise ratio").startswith(f"{summary['noiseRatio']:.3f} ")
    assert _field(text, "wall time") == f"{summary['wallSeconds']:.1f} s"
    assert _field(text, "algorithm").startswith("al ")
    for step, seconds in record["metadata"]["timing"].items():
        assert re.search(rf"^  {step} +{seconds:.3f} s", text, re.M), step
    total = sum(record["metadata"]["timing"].values())
    assert re.search(rf"^  all steps +{total:.3f} s$", text, re.M)
    assert f"  science   {record['inputs']['science']}" in text


def test_files_written_with_sizes(run):
    text = inspectRun(run)
    files = text.split("files written:\n", 1)[1].splitlines()
    names = [path.name for path in sorted(run.iterdir())]
    assert len(files) == len(names)
    for line in files:
        assert "MISSING" not in line
        name = re.search(r"(\S+)\s+\S+ \S+$", line).group(1)
        assert line.rstrip().endswith(formatSize((run / name).stat().st_size)), line


def test_missing_output_is_marked(copied):
    record = yaml.safe_load((copied / "metadata.yaml").read_text())
    record["outputs"] = {"differenceExp": "difference.fits", "diaSrc": "diaSources.fits",
                         "metadata": "metadata.yaml"}
    (copied / "metadata.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    (copied / "diaSources.fits").unlink()
    text = inspectRun(copied)
    files = text.split("files written:\n", 1)[1].splitlines()
    assert len(files) == 3
    assert re.search(r"diaSrc: diaSources.fits +MISSING$", text, re.M)
    size = formatSize((copied / "difference.fits").stat().st_size)
    assert re.search(rf"differenceExp: difference.fits +{re.escape(size)}$", text, re.M)
    assert text.count("MISSING") == 1


def test_metadata_under_another_name(copied):
    (copied / "metadata.yaml").rename(copied / "run-42.yaml")
    (copied / "notes.yaml").write_text("comment: not a run\n")
    text = inspectRun(copied)
    assert text.splitlines()[0] == f"run in {copied} (run-42.yaml)"


def _oneLineError(directory) -> str:
    with pytest.raises(InputError) as caught:
        inspectRun(directory)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith((f"{directory}:", f"{directory}/metadata.yaml:")), message
    return message


def test_no_run_metadata_is_an_input_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no run metadata found; expected the metadata.yaml" in _oneLineError(empty)
    (empty / "other.yaml").write_text("a: 1\nb: [2, 3]\n")
    assert "no run metadata found" in _oneLineError(empty)
    (empty / "metadata.yaml").write_text("- a list\n- not a record\n")
    assert "not a finished run's metadata" in _oneLineError(empty)
    (empty / "metadata.yaml").write_text("summary: {status: ok\nconfig: [\n")
    assert "not valid YAML" in _oneLineError(empty)
    assert "does not exist" in _oneLineError(tmp_path / "absent")


def test_command_prints_the_summary_and_fails_in_one_line(run, tmp_path, capsys):
    done = CliRunner().invoke(inspect, [str(run)])
    assert done.exit_code == 0, done.output
    assert done.output == inspectRun(run) + "\n"
    assert main(["inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert any(shown in err for shown in shownAs(tmp_path)) and "no run metadata" in err
    (tmp_path / "file").write_text("")
    assert CliRunner().invoke(inspect, [str(tmp_path / "file")]).exit_code == 2


def test_kernel_entries_follow_the_algorithm(run):
    _, record = readRecord(run)
    entries = kernelFitEntries(record)
    assert entries["ALKernelSum"] == record["metadata"]["ALKernelSum"]
    assert "templateCoverage" in entries and "detection.nSources" not in entries
    assert not any(key.startswith("zogy") for key in entries)
    record["metadata"]["psfMatchingAlgorithm"] = "gaussianMatch"
    record["metadata"]["gaussianMatch.kernelSigma"] = 1.5
    assert "gaussianMatch.kernelSigma" in kernelFitEntries(record)
    assert "ALKernelSum" not in kernelFitEntries(record)
