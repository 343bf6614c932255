"""The subtract contract suite fails plugins that break the contract, naming plugin and check.

Each broken plugin is the example plugin (gaussianMatch, which passes the contract:
tests/plugins/diffim-example-subtract/tests/test_contract.py) with one defect, installed
as a distribution of its own; the contract must fail exactly the checks that defect
breaks, and no other.
"""
from __future__ import annotations

import re

import pytest

from diffim.testing.contract import CHECKS, ContractFailure, SubtractContract
from fakeplugins import installSite, writeDistribution

BROKEN_MODULE = '''
import dataclasses

from diffim.hookspecs import hookimpl
from diffim_example_subtract.subtraction import GaussianMatchSubtraction


class _Broken(GaussianMatchSubtraction):
    """gaussianMatch, then ``damage`` applied to its result."""

    @hookimpl
    def diffim_subtract(self, science, template, config, convolveTemplate, kernelSources, rng):
        result = super().diffim_subtract(science, template, config, convolveTemplate,
                                         kernelSources, rng)
        self.damage(result, science, template)
        return result


class Doubled(_Broken):
    """The difference times 2, its variance consistently times 4."""

    def damage(self, result, science, template):
        result.subtractedExposure.image *= 2
        result.subtractedExposure.variance *= 4


class TemplateUnits(_Broken):
    """The difference on the template's flux scale."""

    def damage(self, result, science, template):
        scale = 1.0 / result.metadata["gaussianMatch.fluxScale"]
        result.subtractedExposure.image *= scale
        result.subtractedExposure.variance *= scale ** 2


class Flipped(_Broken):
    """Template minus science."""

    def damage(self, result, science, template):
        result.subtractedExposure.image *= -1


class TouchesTemplate(_Broken):
    """Scales the template it was given in place."""

    def damage(self, result, science, template):
        template.image *= result.metadata["gaussianMatch.fluxScale"]


class Understated(_Broken):
    """A variance plane 4 times too small."""

    def damage(self, result, science, template):
        result.subtractedExposure.variance /= 4


class UnnamedMetadata(_Broken):
    """A metadata key that does not say whose it is."""

    def damage(self, result, science, template):
        result.metadata["kernelSigma"] = result.metadata["gaussianMatch.kernelSigma"]
'''

BROKEN = {"doubled": "Doubled", "templateUnits": "TemplateUnits", "flipped": "Flipped",
          "touchesTemplate": "TouchesTemplate", "understated": "Understated",
          "unnamedMetadata": "UnnamedMetadata"}


@pytest.fixture
def broken(tmp_path, monkeypatch):
    """Install (on sys.path) a distribution of broken subtract plugins."""
    lines = "".join(f"{name} = fake_broken_subtract:{cls}\n" for name, cls in BROKEN.items())
    writeDistribution(tmp_path, "fake-broken-subtract", "0.1", "[diffim.subtract]\n" + lines,
                      {"fake_broken_subtract": BROKEN_MODULE})
    yield from installSite(monkeypatch, tmp_path, ("fake_broken_subtract",))


#: A flat science sky and no saturated stars: gaussianMatch fits one background and one
#: flux scale over every pixel, so on this pair its runs are clean (and quick).
CLEAN_PAIR = {"skyGradient": 0.0, "saturation": 1e9}


def _contract(name: str, **pairOptions) -> type[SubtractContract]:
    # the broken plugins keep gaussianMatch's metadata names
    return type("TestBrokenContract", (SubtractContract,),
                {"plugin": name, "metadataPrefix": "gaussianMatch.",
                 "pairOptions": {**CLEAN_PAIR, **pairOptions}})


@pytest.mark.parametrize("name,failing,message", [
    ("doubled", {"fluxScale"}, r"the plugin's difference holds 1\.[89]\d* times the true flux"),
    ("templateUnits", {"fluxScale"}, r"holds [34]\.\d+ times the true flux"),
    ("flipped", {"signs", "fluxScale"}, r"is not positive at 1[0-9] of 1[0-9] transients"),
    ("touchesTemplate", {"inputsUnmodified"}, r"modified template image \(direct call\)$"),
    ("understated", {"noise"}, r"difference / sqrt\(variance\) on \d+ empty pixels is (1\.9|2\.0)"),
    ("unnamedMetadata", {"metadata"}, r"metadata keys 'kernelSigma' do not start with "
                                      r"'gaussianmatch\.'"),
])
def test_contract_fails_a_broken_plugin(broken, name, failing, message):
    failures = _contract(name).failures()
    assert set(failures) == failing, failures
    for check, text in failures.items():
        assert text.startswith(f"subtract plugin {name!r} fails the contract check {check!r}: ")
    assert any(re.search(message, text) for text in failures.values()), failures


def test_a_failed_check_is_a_test_failure_under_pytest(broken):
    contract = _contract("doubled")()
    with pytest.raises(ContractFailure, match="'doubled' fails the contract check 'fluxScale'"):
        contract.test_fluxScale()
    contract.test_signs()  # the other checks pass
    assert issubclass(ContractFailure, AssertionError)
    assert [f"test_{check}" for check in CHECKS] == sorted(
        (name for name in vars(SubtractContract) if name.startswith("test_")),
        key=lambda name: CHECKS.index(name[5:]))


def test_a_plugin_that_raises_fails_every_check_with_the_error(broken):
    failures = _contract("doubled", seeingRatio=0.8).failures()
    # gaussianMatch needs the science PSF wider than the template's
    assert set(failures) == set(CHECKS) - {"inputsUnmodified"}
    assert "the direct run raised InputError: gaussianMatch needs a science PSF wider" in \
        failures["signs"]


def test_the_plugin_must_be_named():
    with pytest.raises(TypeError, match="must set plugin"):
        SubtractContract().test_signs()
