"""Config, pipeline and plugin faults, as a user of the ``diffim`` command meets them.

Every fault ends in exactly one line on stderr (``diffim: error: ...``) that names
the file, override, field, slot or plugin at fault and what was expected, a
non-zero exit status, nothing on stdout and no output files. The tests run the
real command: in process through :func:`diffim.cli.main` for speed, and as a
subprocess where the process boundary matters (logging, installed plugins).
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffim import plugins
from diffim.cli import main
from diffim.config import Config
from diffim.config.fields import AutoField, ChoiceField, Field, ListField
from diffim.errors import ConfigError, PluginError
from diffim.pipeline import RESERVED, dump_config, load_pipeline

from fakeplugins import installSite, writeDistribution
from paths import PIPELINES, startsWithPath

DEFAULT = PIPELINES / "default.yaml"


@dataclass
class Outcome:
    """What the user sees: exit status, stdout and stderr."""

    status: int
    stdout: str
    stderr: str

    @property
    def errorLine(self) -> str:
        """The single stderr line, without the ``diffim: error: `` prefix (asserts it is one)."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"expected one stderr line, got {self.stderr!r}"
        assert lines[0].startswith("diffim: error: "), lines[0]
        return lines[0].removeprefix("diffim: error: ")


@pytest.fixture
def diffim(capsys):
    """Run ``diffim ARGS`` in process and return its :class:`Outcome`."""

    def run(*args) -> Outcome:
        capsys.readouterr()
        status = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Outcome(status, out, err)

    return run


def runArgs(pipeline: Path, pair: dict[str, Path], out: Path, *extra: str) -> list:
    return ["run", pipeline, "--science", pair["science"], "--template", pair["template"],
            "-o", out, *extra]


def assertNothingWritten(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def assertFails(outcome: Outcome, *patterns: str, status: int = 1) -> str:
    """Check the one-line failure and that each regex pattern is in its line."""
    line = outcome.errorLine
    assert outcome.status == status, (outcome.status, line)
    assert outcome.stdout == ""
    assert len(line) <= 200, line
    for pattern in patterns:
        assert re.search(pattern, line), f"{pattern!r} not in {line!r}"
    return line


# --------------------------------------------------------------------------------------------
# -c overrides on the command line
# --------------------------------------------------------------------------------------------

INSTALLED_SUBTRACT = r"installed subtract plugins: al, gaussianMatch, zogy"

OVERRIDE_FAULTS = [
    # unknown slot: the closest, or the list of slots
    (["subtrat.kernelSize=31"], [r"^-c subtrat\.kernelSize=31: ", r"unknown slot 'subtrat'",
                                 r"did you mean 'subtract'\?$"]),
    (["xyz.abc=1"], [r"unknown slot 'xyz'; slots and nested configs are: "
                     r"(\w+, )+\w+ \(the closest of \d+\)$"]),
    (["growFootprint.x=1"], [r"'growFootprint' is a plain field.*write growFootprint=VALUE"]),
    (["subtract.kernelSize.x=3"], [r"slot fields are one level deep \(subtract\.FIELD\)"]),
    # unknown plugin: the installed ones and the closest
    (["subtract=zogi"], [r"^-c subtract=zogi: subtract plugin 'zogi': not installed; "
                         + INSTALLED_SUBTRACT, r"did you mean 'zogy'\?$"]),
    (["subtract=AL"], [INSTALLED_SUBTRACT, r"did you mean 'al'\?$"]),
    (["detection=thresold"], [r"detection plugin 'thresold'.*installed detection plugins: "
                              r"threshold; did you mean 'threshold'\?$"]),
    (["measurement.plugin=nothingLikeIt"], [r"measurement plugin 'nothingLikeIt': not "
                                            r"installed; installed measurement plugins: "
                                            r"[\w, ]*\bdipole\b[\w, ]*$"]),
    # unknown field: the closest, or the fields there are
    (["growFootprnt=3"], [r"unknown field 'growFootprnt' in ImageDifferenceConfig; did you "
                          r"mean 'growFootprint'\?$"]),
    (["detection.thresholdValu=3"], [r"detection \(threshold\): unknown field 'thresholdValu'",
                                     r"did you mean 'thresholdValue'\?$"]),
    (["scaleVariance.zzz=1"], [r"scaleVariance \(iqr\): unknown field 'zzz' in \w+; its fields "
                               r"are: ([\w]+, )+\w+ \(the closest of 6\)$"]),
    (["connections.foo=1"], [r"unknown field 'foo' in ImageDifferenceConnections; its fields "
                             r"are: ([\w]+, )+\w+ \(the closest of \d+\)$"]),
    # wrong type
    (["growFootprint=wide"], [r"field 'growFootprint' expects int, got str 'wide'$"]),
    (["growFootprint=2.5"], [r"field 'growFootprint' expects int, got float 2\.5$"]),
    (["doMerge=maybe"], [r"field 'doMerge' expects bool, got str 'maybe'$"]),
    (["doMerge=1"], [r"field 'doMerge' expects bool, got int 1$"]),
    (["convolveTemplate=sometimes"], [r"field 'convolveTemplate' expects bool"]),
    (["detection.thresholdValue=high"], [r"detection \(threshold\): field 'thresholdValue' "
                                         r"expects float, got str 'high'$"]),
    (["detection.thresholdValue=[1, 2]"], [r"'thresholdValue' expects float, got list"]),
    (["scaleVariance.maskPlanes=SAT"], [r"field 'maskPlanes' expects a list of str, got str "
                                        r"'SAT'$"]),
    (["scaleVariance.maskPlanes=[SAT, 3]"], [r"field 'maskPlanes' expects str, got int 3$"]),
    (["coaddName=null"], [r"field 'coaddName' may not be None \(expected str\)$"]),
    (["coaddName=42"], [r"field 'coaddName' expects str, got int 42$"]),
    (["detection={thresholdValue: 3, bogus: 1}"], [r"unknown field 'bogus'"]),
    (["connections=3"], [r"'connections' expects a mapping of its fields, got int$"]),
    # out of range or not one of the choices
    (["growFootprint=-1"], [r"field 'growFootprint': -1 is outside int in \[0, inf\)$"]),
    (["requiredTemplateFraction=1.5"], [r"'requiredTemplateFraction': 1\.5 is outside float "
                                        r"in \[0\.0, 1\.0\]$"]),
    (["requiredTemplateFraction=nan"], [r"'requiredTemplateFraction': nan is outside"]),
    (["controlStepSize=0"], [r"'controlStepSize': 0 is outside int in \[1, inf\)$"]),
    (["templateSipOrder=10"], [r"'templateSipOrder': 10 is outside int in \[0, 9\]$"]),
    (["detection.thresholdValue=0"], [r"'thresholdValue': 0\.0 is outside float in "
                                      r"\(0\.0, inf\)$"]),
    (["detection.thresholdPolarity=up"], [r"'thresholdPolarity': 'up' is not one of "
                                          r"'positive', 'negative', 'both'$"]),
    (["scaleVariance.binSize=1"], [r"scaleVariance \(iqr\): field 'binSize': 1 is outside"]),
    # the value itself
    (["coaddName=!!python/name:os.system"], [r"YAML tag !!python/name:os\.system is refused"]),
    (["doMerge=!!python/object/apply:os.system ['true']"], [r"tag !!python/object/apply:"
                                                            r"os\.system is refused"]),
    (["growFootprint"], [r"^override 'growFootprint': expected FIELD=VALUE"]),
    (["=3"], [r"^override '=3': expected FIELD=VALUE"]),
    # a plugin's own checks, at load time
    (["subtract.alardDegGauss=[1, 2]"], [r"^subtract \(al\): alardDegGauss has 2 degrees; "
                                         r"expected one per Gaussian \(alardNGauss=3\)$"]),
    (["subtract.kernelSizeMin=41", "subtract.kernelSizeMax=31"],
     [r"^subtract \(al\): kernelSizeMin=41 exceeds kernelSizeMax=31$"]),
    # conflicting options the task refuses
    (["subtract=zogy", "doDecorrelation=true"],
     [r"^subtract=zogy does not allow doDecorrelation=True \(its difference is not correlated "
      r"by a kernel convolution\); set it to False$"]),
    (["doSubtract=false", "doDetection=false"], [r"nothing to do$"]),
    (["getTemplate.coaddName=goodSeeing"], [r"^getTemplate\.coaddName \('goodSeeing'\) must "
                                            r"equal coaddName \('deep'\)$"]),
    (["subtract=zogy", "doDecorrelation=false", "doWriteMatchedExp=true"],
     [r"^subtract=zogy does not allow doWriteMatchedExp=True \(it makes no PSF-matched "
      r"image\); set it to False$"]),
    (["useGaussianForPreConvolution=true"], [r"^useGaussianForPreConvolution=True requires "
                                             r"useScoreImageDetection=True$"]),
    (["kernelSourcesFromRef=true", "doSelectSources=true"],
     [r"^astrometer \(matcher\): astrometer\.refCatalog is not set"]),
    (["subtract.scaleByFwhm=false", "subtract.fpGrowPix=5"],
     [r"^subtract \(al\): fpGrowPix=5 must exceed half the kernel size"]),
    (["doDetection=false"], [r"^doMeasurement=True requires doDetection=True$"]),
    (["doAddMetrics=true"], [r"doAddMetrics=True requires doSelectSources=True"]),
    (["doWriteScoreExp=true"], [r"doWriteScoreExp=True requires useScoreImageDetection=True$"]),
    (["useScoreImageDetection=true", "convolveTemplate=true"],
     [r"set doWriteSubtractedExp=False$"]),
    (["useScoreImageDetection=true", "doWriteSubtractedExp=false"],
     [r"^useScoreImageDetection=True requires convolveTemplate=True with subtract=al$"]),
]


@pytest.mark.parametrize("overrides,patterns", OVERRIDE_FAULTS,
                         ids=[" ".join(o) for o, _ in OVERRIDE_FAULTS])
def test_override_faults_stop_the_run_with_one_line(diffim, pair, tmp_path, overrides,
                                                    patterns):
    out = tmp_path / "out"
    args = [a for text in overrides for a in ("-c", text)]
    assertFails(diffim(*runArgs(DEFAULT, pair, out, *args)), *patterns)
    assertNothingWritten(out)


def test_flag_whose_slot_has_no_implementation_names_the_slot(diffim, pair, tmp_path,
                                                             monkeypatch):
    real = plugins.installed
    monkeypatch.setattr(plugins, "installed",
                        lambda slot: {} if slot == "skySources" else real(slot))
    plugins.load.cache_clear()
    out = tmp_path / "out"
    try:
        outcome = diffim(*runArgs(DEFAULT, pair, out, "-c", "doSkySources=true"))
    finally:
        plugins.load.cache_clear()
    assertFails(outcome, r"^doSkySources=True needs the skySources slot, but skySources plugin "
                         r"'skyObjects': not installed; installed skySources plugins: none$")
    assertNothingWritten(out)


@pytest.mark.parametrize("command", ["validate", "config"])
def test_validate_and_config_commands_report_the_same_faults(diffim, command):
    line = assertFails(diffim(command, DEFAULT, "-c", "subtract=zogi"), INSTALLED_SUBTRACT)
    assert line.startswith("-c subtract=zogi: ")


# --------------------------------------------------------------------------------------------
# Pipeline files
# --------------------------------------------------------------------------------------------

FILE_FAULTS = [
    ("subtract: [al\n", [r"malformed YAML at line 2, column 1: expected ',' or ']'"]),
    ("subtract: al\n\tdetection: threshold\n", [r"malformed YAML at line 2, column 1: found "
                                                r"character '\\t'"]),
    ("subtract: al: zogy\n", [r"malformed YAML at line 1, column 13: mapping values are not "
                              r"allowed here$"]),
    ("doMerge: !!python/object/apply:os.system ['true']\n",
     [r"malformed YAML at line 1, column 10: tag !!python/object/apply:os\.system is refused: "
      r"pipelines are plain YAML \(yaml\.safe_load\); write the plain value$"]),
    ("subtract: !!python/name:os.system\n", [r"line 1, column 11: tag !!python/name:os\.system "
                                             r"is refused"]),
    ("coaddName: !custom deep\n", [r"tag !custom is refused"]),
    ("? [a, b]\n: 1\n", [r"malformed YAML at line 1, column 3: found unhashable key$"]),
    ("- subtract\n- al\n", [r"a pipeline must be a mapping of keys to values, got list$"]),
    ("just words\n", [r"a pipeline must be a mapping of keys to values, got str$"]),
    ("subtrat: al\n", [r"unknown key 'subtrat'; expected a task field, a slot or one of "
                       r"description, imports, parameters; did you mean 'subtract'\?$"]),
    ("3: 4\n", [r"unknown key 3; expected a task field"]),
    ("subtract: {plugin: zogi}\n", [r"subtract plugin 'zogi': not installed; "
                                    + INSTALLED_SUBTRACT, r"did you mean 'zogy'\?$"]),
    ("subtract: zogi\n", [INSTALLED_SUBTRACT]),
    ("subtract: 3\n", [r"slot 'subtract' expects a plugin name or a mapping, got int$"]),
    ("subtract: {kernelSiz: 31}\n", [r"subtract \(al\): unknown field 'kernelSiz' in \w+; "
                                     r"did you mean 'kernelSize'\?$"]),
    ("detection: {plugin: threshold, thresholdValue: -2}\n",
     [r"detection \(threshold\): field 'thresholdValue': -2\.0 is outside float"]),
    ("connections: [a]\n", [r"'connections' expects a mapping of its fields, got list$"]),
    ("connections: {differenceExp: 3}\n", [r"field 'differenceExp' expects str, got int 3$"]),
    ("growFootprint: -2\n", [r"field 'growFootprint': -2 is outside int in \[0, inf\)$"]),
    ("doMerge: [1]\n", [r"field 'doMerge' expects bool, got list \[1\]$"]),
    ("doMerge: &a yes\ngrowFootprint: *a\n", [r"field 'growFootprint' expects int, got bool "
                                              r"True$"]),
    ("imports: 3\n", [r"'imports' must be a list of file names$"]),
    ("imports: [missing.yaml]\n", [r"missing\.yaml: pipeline file not found$"]),
    ("imports: [.]\n", [r"cannot read pipeline file \(Is a directory\)$"]),
    ("parameters: [1]\n", [r"'parameters' must be a mapping of names to values$"]),
    ("parameters: {threshold: 3}\ndetection: {thresholdValue: '${treshold}'}\n",
     [r"unknown parameter \$\{treshold\}; did you mean 'threshold'\?$"]),
]


@pytest.mark.parametrize("text,patterns", FILE_FAULTS, ids=[t for t, _ in FILE_FAULTS])
def test_pipeline_file_faults_name_the_file(diffim, pair, tmp_path, text, patterns):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    line = assertFails(diffim(*runArgs(path, pair, out)), *patterns)
    located = {"imports: [missing.yaml]\n": str(tmp_path / "missing.yaml"),
               "imports: [.]\n": str(tmp_path)}
    assert startsWithPath(line, located.get(text, str(path)), ": "), line
    assertNothingWritten(out)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00s\x00u\x00", b"subtract: al\n\x89PNG\r\n"])
def test_binary_pipeline_file_is_refused(diffim, tmp_path, content):
    path = tmp_path / "binary.yaml"
    path.write_bytes(content)
    line = assertFails(diffim("validate", path))
    assert startsWithPath(line, path, ": not a YAML text file (byte 0x")


def test_import_cycle_names_the_files(diffim, tmp_path):
    (tmp_path / "a.yaml").write_text("imports: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("imports: [a.yaml]\n")
    assertFails(diffim("validate", tmp_path / "a.yaml"),
                r"import cycle \(a\.yaml -> b\.yaml -> a\.yaml\)$")


def test_fault_in_an_imported_file_names_that_file(diffim, tmp_path):
    (tmp_path / "base.yaml").write_text("growFootprint: big\n")
    child = tmp_path / "child.yaml"
    child.write_text("imports: [base.yaml]\nsubtract: al\n")
    line = assertFails(diffim("validate", child), r"'growFootprint' expects int")
    assert startsWithPath(line, tmp_path / "base.yaml", ": ")


@pytest.mark.parametrize("text,pattern", [
    (None, r"override\.yaml: pipeline file not found$"),
    ("detecton: {thresholdValue: 3}\n", r"override\.yaml: unknown key 'detecton'.*did you mean "
                                        r"'detection'\?$"),
    ("scaleVariance: nope\n", r"override\.yaml: scaleVariance plugin 'nope': not installed; "
                              r"installed scaleVariance plugins: iqr"),
])
def test_override_file_faults_name_the_override_file(diffim, pair, tmp_path, text, pattern):
    override = tmp_path / "override.yaml"
    if text is not None:
        override.write_text(text)
    out = tmp_path / "out"
    assertFails(diffim(*runArgs(DEFAULT, pair, out, "-C", override)), pattern)
    assertNothingWritten(out)


@pytest.mark.parametrize("args,pattern", [
    (["validate", "{tmp}/missing.yaml"], r"missing\.yaml: pipeline file not found$"),
    (["validate", "{tmp}"], r"Invalid value for 'PIPELINE': File '.*' is a directory\.$"),
    (["run", str(DEFAULT), "-o", "{tmp}/out"], r"Missing option '--science'"),
    (["validate", str(DEFAULT), "--bogus"], r"No such option '--bogus'"),
    (["valdate", str(DEFAULT)], r"No such command 'valdate'"),
])
def test_command_line_faults_are_one_line(diffim, tmp_path, args, pattern):
    outcome = diffim(*[a.format(tmp=tmp_path) for a in args])
    assertFails(outcome, pattern, status=1 if "missing.yaml" in args[1] else 2)
    assertNothingWritten(tmp_path / "out")


def test_scaling_both_variances_warns_but_runs_validation():
    """The seed's conflicting pair warns (one log line) and is still valid: exit status 0."""
    done = subprocess.run([sys.executable, "-m", "diffim.cli", "validate", str(DEFAULT),
                           "-c", "doScaleTemplateVariance=true"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "WARNING diffim.config: doScaleDiffimVariance and doScaleTemplateVariance are both True: "
        "scaling the difference variance alone is enough (the other is wasted work)"]
    quiet = subprocess.run([sys.executable, "-m", "diffim.cli", "validate", str(DEFAULT)],
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""


# --------------------------------------------------------------------------------------------
# Plugins that misbehave, installed by a distribution
# --------------------------------------------------------------------------------------------

FAKE_MODULE = '''
import numpy as np

from diffim.config import Config
from diffim.hookspecs import hookimpl


class EmptyConfig(Config):
    """No fields."""


class Raises:
    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure, config):
        raise ZeroDivisionError("variance of an empty sample")


class RaisesTwoLines:
    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure, config):
        raise ValueError("first line\\nsecond line")


class WrongType:
    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure, config):
        return [1.0]


class ReturnsNone:
    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure, config):
        return None


class NoConfig:
    @hookimpl
    def diffim_scaleVariance(self, exposure, config):
        return 1.0


class NoHook:
    ConfigClass = EmptyConfig


class TwoSlots:
    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_scaleVariance(self, exposure, config):
        return 1.0

    @hookimpl
    def diffim_detection(self, exposure, config, doSmooth, doMerge, growFootprint):
        return None


def notAClass():
    return 1.0


class Listener:
    """An observer that records the steps it hears."""

    steps = []

    @hookimpl
    def diffim_after_step(self, step, seconds):
        Listener.steps.append(step)


class ExposureNotResult:
    ConfigClass = EmptyConfig

    @hookimpl
    def diffim_subtract(self, science, template, config, convolveTemplate, kernelSources, rng):
        return science
'''

FAKE_ENTRY_POINTS = """\
[diffim.scaleVariance]
raises = fake_diffim_faults:Raises
raisesTwoLines = fake_diffim_faults:RaisesTwoLines
wrongType = fake_diffim_faults:WrongType
returnsNone = fake_diffim_faults:ReturnsNone
noConfig = fake_diffim_faults:NoConfig
noHook = fake_diffim_faults:NoHook
twoSlots = fake_diffim_faults:TwoSlots
function = fake_diffim_faults:notAClass
missing = fake_diffim_faults_not_there:Nothing
typo = fake_diffim_faults:Raisse
explodes = fake_diffim_explodes:Anything
twin = fake_diffim_faults:Raises

[diffim.subtract]
exposureNotResult = fake_diffim_faults:ExposureNotResult

[diffim.observers]
listener = fake_diffim_faults:Listener
deaf = fake_diffim_faults_not_there:Listener
"""

FAKE_DIST = "fake-diffim-faults"


@pytest.fixture(scope="module")
def fakeSite(tmp_path_factory) -> Path:
    """A folder that, on sys.path, installs the distribution fake-diffim-faults."""
    site = tmp_path_factory.mktemp("site")
    writeDistribution(site, FAKE_DIST, "0.2", FAKE_ENTRY_POINTS, {
        "fake_diffim_faults": FAKE_MODULE,
        "fake_diffim_explodes": 'raise RuntimeError("cannot start:\\n  the licence file is '
                                'missing")\n'})
    writeDistribution(site, "fake-diffim-twin", "0.1",
                      "[diffim.scaleVariance]\ntwin = fake_diffim_faults:WrongType\n")
    return site


@pytest.fixture
def installed(fakeSite, monkeypatch):
    """Put the fake distribution on sys.path for this test only."""
    yield from installSite(monkeypatch, fakeSite, ("fake_diffim_faults", "fake_diffim_explodes"))


#: Flags off so that a run reaches the scaleVariance plugin quickly.
QUICK = ["-c", "doMeasurement=false", "-c", "doForcedMeasurement=false", "-c", "doApCorr=false"]


@pytest.mark.parametrize("name,pattern", [
    ("raises", r"raised ZeroDivisionError: variance of an empty sample$"),
    ("wrongType", r"returned list, expected float or floating or VarianceScale$"),
    ("returnsNone", r"returned NoneType, expected float or floating or VarianceScale$"),
])
def test_misbehaving_plugin_is_named_with_its_distribution(installed, diffim, pair, tmp_path,
                                                           name, pattern):
    out = tmp_path / "out"
    outcome = diffim(*runArgs(DEFAULT, pair, out, "-c", f"scaleVariance={name}", *QUICK))
    assertFails(outcome, rf"^scaleVariance plugin '{name}' \(from {FAKE_DIST}\): " + pattern)
    assertNothingWritten(out)


def test_subtract_plugin_returning_the_wrong_type_is_named(installed, diffim, pair, tmp_path):
    out = tmp_path / "out"
    outcome = diffim(*runArgs(DEFAULT, pair, out, "-c", "subtract=exposureNotResult",
                              "-c", "doDecorrelation=false", *QUICK))
    assertFails(outcome, rf"^subtract plugin 'exposureNotResult' \(from {FAKE_DIST}\): returned "
                         r"Exposure, expected SubtractionResult$")
    assertNothingWritten(out)


def test_plugin_exception_with_a_multiline_message_stays_one_line(installed, diffim, pair,
                                                                  tmp_path):
    out = tmp_path / "out"
    outcome = diffim(*runArgs(DEFAULT, pair, out, "-c", "scaleVariance=raisesTwoLines", *QUICK))
    assertFails(outcome, r"'raisesTwoLines' \(from fake-diffim-faults\): raised ValueError: "
                         r"first line second line$")
    assertNothingWritten(out)


@pytest.mark.parametrize("name,pattern", [
    ("noConfig", r"class needs a ConfigClass attribute, a subclass of diffim\.config\.Config$"),
    ("noHook", r"class does not implement the hook diffim_scaleVariance$"),
    ("twoSlots", r"class implements hooks of other slots \(diffim_detection\); register one "
                 r"class per slot$"),
    ("function", r"entry point must name a class, got <function notAClass"),
    ("missing", r"fails to load: "
                r"ModuleNotFoundError: No module named 'fake_diffim_faults_not_there'$"),
    ("typo", r"fails to load: AttributeError: .*'Raisse'"),
    ("explodes", r"fails to load: RuntimeError: "
                 r"cannot start: / the licence file is missing$"),
])
def test_broken_plugin_is_refused_when_selected(installed, diffim, pair, tmp_path, name,
                                                pattern):
    out = tmp_path / "out"
    outcome = diffim(*runArgs(DEFAULT, pair, out, "-c", f"scaleVariance={name}"))
    line = assertFails(outcome, rf"scaleVariance plugin '{name}' \(from {FAKE_DIST}\): " + pattern)
    assert line.startswith(f"-c scaleVariance={name}: ")
    assertNothingWritten(out)


def test_plugin_name_declared_twice_is_refused(installed, diffim):
    outcome = diffim("validate", DEFAULT, "-c", "scaleVariance=twin")
    assertFails(outcome, r"^-c scaleVariance=twin: scaleVariance plugin 'twin': declared by 2 "
                         r"distributions \((fake-diffim-faults, fake-diffim-twin|"
                         r"fake-diffim-twin, fake-diffim-faults)\); uninstall all but one$")


def test_broken_entry_points_do_not_stop_the_others(installed, diffim):
    """With broken plugins installed, the working ones (theirs and ours) still load."""
    assert diffim("validate", DEFAULT, "-c", "scaleVariance=raises").status == 0
    assert diffim("validate", DEFAULT).status == 0
    listing = diffim("plugins")
    assert listing.status == 0 and listing.stderr == ""
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()
             if line.startswith("    ")}
    for name in ("missing", "typo"):
        assert f"{FAKE_DIST} 0.2" in lines[name] and "BROKEN: " in lines[name], lines[name]
    for name in ("raises", "iqr", "al", "zogy"):
        assert "BROKEN" not in lines[name], lines[name]
    assert "ModuleNotFoundError" in lines["missing"]


def test_broken_observer_is_skipped_with_a_warning_and_the_others_hear(installed, pair,
                                                                      caplog):
    from diffim.fits_io import readExposure
    from diffim.task import ImageDifferenceTask

    config = load_pipeline(DEFAULT, overrides=["doDetection=false", "doMeasurement=false",
                                               "doMerge=false"])
    with caplog.at_level("WARNING", logger="diffim.plugins"):
        task = ImageDifferenceTask(config)
    warned = [r.getMessage() for r in caplog.records if r.name == "diffim.plugins"]
    assert warned == [f"observer plugin 'deaf' (from {FAKE_DIST}) skipped: entry point "
                      "fake_diffim_faults_not_there:Listener fails to load: ModuleNotFoundError: "
                      "No module named 'fake_diffim_faults_not_there'"]
    listener = sys.modules["fake_diffim_faults"].Listener
    listener.steps.clear()
    task.run(exposure=readExposure(pair["science"]),
             templateExposure=readExposure(pair["template"]))
    assert listener.steps[:2] == ["warpTemplate", "subtract"]


def test_broken_plugin_seen_by_the_installed_command(fakeSite, pair, tmp_path):
    """The same fault through the installed ``diffim`` script: stderr is one line, status 1."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(fakeSite), *filter(None, [os.environ.get("PYTHONPATH")])])}
    script = Path(sys.executable).with_name("diffim")
    out = tmp_path / "out"
    done = subprocess.run([str(script), *map(str, runArgs(DEFAULT, pair, out, "-c",
                                                          "scaleVariance=missing"))],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"diffim: error: -c scaleVariance=missing: scaleVariance plugin 'missing' (from "
        f"{FAKE_DIST}): fails to load: "
        "ModuleNotFoundError: No module named 'fake_diffim_faults_not_there'"]
    assertNothingWritten(out)


# --------------------------------------------------------------------------------------------
# Property tests of config parsing
# --------------------------------------------------------------------------------------------

def _fieldPaths() -> list[tuple[str, Field]]:
    """Every settable field path of the default pipeline with its Field declaration."""
    config = load_pipeline(DEFAULT, freeze=False)
    paths = [(name, field) for name, field in type(config)._fields.items()]
    for name in type(config)._nested:
        nested = getattr(config, name)
        paths += [(f"{name}.{f}", d) for f, d in type(nested)._fields.items()]
    for name, slot in config.slots().items():
        if slot.available:
            paths += [(f"{name}.{f}", d) for f, d in type(slot.config)._fields.items()]
    return paths


FIELD_PATHS = _fieldPaths()

SPECIAL_VALUES = ["true", "False", "yes", "off", "null", "~", "", "[]", "[1, 2]", "[a, b]",
                  "{}", "{a: 1}", "inf", "-inf", ".nan", "nan", "1e3", "1.0e3", "0x1F", "1_000",
                  "auto", "'3'", "\"quoted\"", "a: b", "- x", "#comment", "'", "[", "!!str 5",
                  "!!int 7", "!!python/name:os.system", "12:30", "2024-01-01", "\u00e9t\u00e9",
                  "tab\there", "3 # trailing"]

VALUE_TEXT = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)


def _typeOk(field: Field, value) -> bool:
    if value is None:
        return field.optional
    if isinstance(field, AutoField) and value == AutoField.AUTO:
        return True
    if isinstance(field, ListField):
        return isinstance(value, tuple) and all(type(v) is field.dtype for v in value)
    return type(value) is field.dtype


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _get(config: Config, path: str):
    head, _, rest = path.partition(".")
    return getattr(config, head) if not rest else getattr(getattr(config, head), rest)


@pytest.fixture(scope="module")
def dumpDir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dumps")


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=st.sampled_from(FIELD_PATHS), raw=VALUE_TEXT)
def test_any_override_value_round_trips_or_is_refused_naming_the_field(dumpDir, entry, raw):
    path, field = entry
    leaf = path.rpartition(".")[2]
    text = f"{path}={raw}"
    try:
        config = load_pipeline(DEFAULT, overrides=[text], freeze=False)
    except (ConfigError, PluginError) as exc:
        message = str(exc)
        assert isinstance(exc, ConfigError), message
        assert "\n" not in message and "\r" not in message
        shown = f"-c {text}: " if text.isprintable() else f"-c {text!r}: "
        assert message.startswith(shown), message
        detail = message.removeprefix(shown)
        assert f"field {leaf!r}" in detail or "YAML tag" in detail, message
        return
    value = _get(config, path)
    assert _typeOk(field, value), (path, raw, value)
    dumped = dumpDir / "dumped.yaml"
    dumped.write_text(dump_config(config))
    reloaded = load_pipeline(dumped, freeze=False)
    assert _same(_get(reloaded, path), value), (path, raw, value, _get(reloaded, path))
    assert reloaded.toDict().keys() == config.toDict().keys()


KNOWN_KEYS = {*[p for p, _ in FIELD_PATHS if "." not in p], *RESERVED,
              *load_pipeline(DEFAULT, freeze=False).slots(), "connections"}
IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(unknown=IDENTIFIER.filter(lambda k: k not in KNOWN_KEYS), value=SCALAR,
       before=st.dictionaries(st.sampled_from(["growFootprint", "doMerge", "coaddName"]),
                              st.just(None), max_size=3))
def test_unknown_top_level_key_is_refused_naming_it(dumpDir, unknown, value, before):
    valid = {"growFootprint": 3, "doMerge": False, "coaddName": "goodSeeing"}
    body = {key: valid[key] for key in before}
    body[unknown] = value
    path = dumpDir / "unknown.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert message.startswith(f"{path}: unknown key {unknown!r}; expected a task field"), message
    assert "\n" not in message


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slot=st.sampled_from(["detection", "subtract", "scaleVariance", "connections"]),
       unknown=IDENTIFIER, value=SCALAR)
def test_unknown_key_inside_a_slot_is_refused_naming_it(dumpDir, slot, unknown, value):
    config = load_pipeline(DEFAULT, freeze=False)
    target = config.connections if slot == "connections" else getattr(config, slot).config
    if unknown in target.fieldNames() or unknown in ("plugin", "name"):
        return
    path = dumpDir / "unknownField.yaml"
    path.write_text(yaml.safe_dump({"imports": [str(DEFAULT)], slot: {unknown: value}}))
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert f"unknown field {unknown!r} in {type(target).__name__}" in message
    assert "\n" not in message


def test_choice_and_range_fields_are_covered_by_the_property_tests():
    """The sampled paths include every kind of field, so the properties reach each check."""
    kinds = {type(field) for _, field in FIELD_PATHS}
    assert {Field, ChoiceField, ListField, AutoField} <= kinds
    assert len(FIELD_PATHS) > 150
