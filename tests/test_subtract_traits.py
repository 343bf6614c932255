"""The task and the config decide from what a subtraction plugin declares, never its name.

A third-party plugin that behaves like ZOGY (white difference, its own score image, no
matched template, no kernel stars) is treated as ZOGY is; one that declares nothing is
treated as a kernel-matching (AL-like) algorithm.
"""
from __future__ import annotations

import textwrap

import pytest

from diffim.errors import ConfigError, PluginError
from diffim.pipeline import load_pipeline
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair
from fakeplugins import installSite, writeDistribution
from paths import PIPELINES

FAKE_MODULE = '''
import dataclasses

from scipy import signal

from diffim.hookspecs import hookimpl
from diffim.results import SubtractionTraits
from diffim_example_subtract.subtraction import GaussianMatchSubtraction


#: What ZOGY declares.
ZOGY_LIKE = SubtractionTraits(needsDecorrelation=False, makesScoreImage=True,
                              makesMatchedExposure=False, usesKernelSources=False)


class ScoreMatch(GaussianMatchSubtraction):
    """Gaussian matching that also returns a score image and says its difference is white."""

    traits = ZOGY_LIKE

    @hookimpl
    def diffim_subtract(self, science, template, config, convolveTemplate, kernelSources, rng):
        result = super().diffim_subtract(science, template, config, convolveTemplate,
                                         kernelSources, rng)
        difference = result.subtractedExposure
        psf = difference.psf.at(*difference.psf.averagePosition) if difference.psf else \\
            science.psf.at(*science.psf.averagePosition)
        score = difference.clone()
        score.image = signal.fftconvolve(difference.image, psf[::-1, ::-1], mode="same")
        score.variance = signal.fftconvolve(difference.variance, (psf ** 2)[::-1, ::-1],
                                            mode="same")
        return dataclasses.replace(result, scoreExposure=score, needsDecorrelation=False)


class PlainMatch(GaussianMatchSubtraction):
    """The same matching, declaring nothing."""


class BrokenPromise(GaussianMatchSubtraction):
    """Declares a score image and returns none."""

    traits = ZOGY_LIKE

    @hookimpl
    def diffim_subtract(self, science, template, config, convolveTemplate, kernelSources, rng):
        result = super().diffim_subtract(science, template, config, convolveTemplate,
                                         kernelSources, rng)
        return dataclasses.replace(result, needsDecorrelation=False)
'''


@pytest.fixture(scope="module")
def pair():
    science, template, _ = simulatePair(size=384, nTransients=8, seed=11)
    return science, template


@pytest.fixture
def thirdParty(tmp_path, monkeypatch):
    """Install (on sys.path) a distribution with three subtract plugins."""
    writeDistribution(tmp_path, "fake-subtract-traits", "0.1", textwrap.dedent("""\
        [diffim.subtract]
        scoreMatch = fake_subtract_traits:ScoreMatch
        plainMatch = fake_subtract_traits:PlainMatch
        brokenPromise = fake_subtract_traits:BrokenPromise
        """), {"fake_subtract_traits": FAKE_MODULE})
    yield from installSite(monkeypatch, tmp_path, ("fake_subtract_traits",))


def _run(pair, *overrides):
    config = load_pipeline(PIPELINES / "default.yaml", overrides=list(overrides))
    science, template = pair
    return ImageDifferenceTask(config=config).run(exposure=science.clone(),
                                                  templateExposure=template.clone())


def test_zogy_like_plugin_is_validated_as_zogy(thirdParty):
    for flag, reason in (("doDecorrelation", "its difference is not correlated by a kernel "
                                             "convolution"),
                         ("doWriteMatchedExp", "it makes no PSF-matched image"),
                         ("doSelectSources", "it fits no kernel on stars")):
        overrides = ["subtract=scoreMatch", f"{flag}=true"]
        if flag != "doDecorrelation":
            overrides.append("doDecorrelation=false")
        with pytest.raises(ConfigError, match=rf"^subtract=scoreMatch does not allow "
                                              rf"{flag}=True \({reason}\)"):
            load_pipeline(PIPELINES / "default.yaml", overrides=overrides).validate()
    # a score image of its own: no pre-convolution rules apply
    load_pipeline(PIPELINES / "default.yaml",
                  overrides=["subtract=scoreMatch", "doDecorrelation=false",
                             "useScoreImageDetection=true", "convolveTemplate=false"]).validate()


def test_zogy_like_plugin_is_run_as_zogy(thirdParty, pair):
    result = _run(pair, "subtract=scoreMatch", "doDecorrelation=false",
                  "useScoreImageDetection=true")
    steps = result.metadata["timing"]
    assert "decorrelate" not in steps and "preConvolve" not in steps
    # detection ran on the plugin's own score image, and the difference is kept
    assert result.scoreExposure is result.subtractRes.scoreExposure
    assert result.subtractedExposure is result.subtractRes.subtractedExposure
    # its Gaussian-matched difference is not as white as it claims: detection measures the
    # excess noise of the score image and raises its thresholds by it
    assert result.metadata["detection.noiseRatio"] > 1.05
    assert len(result.diaSources) >= 3


def test_plugin_declaring_nothing_is_run_as_kernel_matching(thirdParty, pair):
    # its difference is meant for the decorrelator, which needs the kernel it did not
    # return: the step is skipped, naming the plugin (tests/test_degradation.py)
    result = _run(pair, "subtract=plainMatch")
    assert "decorrelate" not in result.metadata["timing"]
    assert any(note.startswith("decorrelation skipped: subtract plugin 'plainMatch' returned "
                               "no psfMatchingKernel") for note in result.metadata["degraded"])
    with pytest.raises(ConfigError, match="requires convolveTemplate=True with "
                                          "subtract=plainMatch"):
        load_pipeline(PIPELINES / "default.yaml",
                      overrides=["subtract=plainMatch", "useScoreImageDetection=true",
                                 "convolveTemplate=false", "doWriteSubtractedExp=false"]
                      ).validate()


def test_a_result_that_breaks_its_declared_traits_is_the_plugin_fault(thirdParty, pair):
    with pytest.raises(PluginError, match="declares makesScoreImage but returned no "
                                          "scoreExposure"):
        _run(pair, "subtract=brokenPromise", "doDecorrelation=false")
