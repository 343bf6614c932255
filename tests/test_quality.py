"""A run that cannot trust its result says so: the quality block, the status and --strict."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import yaml
from diffim.exposure import Exposure
from diffim.fits_io import writeExposure
from diffim.photocalib import PhotoCalib
from diffim.pipeline import load_pipeline
from diffim.psf import GaussianPsf
from diffim.quality import QualityConfig, assessDifference
from diffim.results import SubtractionResult
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair
from scipy import ndimage

from paths import PIPELINES
from test_faults_input import runPair


def _noise(shape=(512, 512), seed=1, smooth=0.0):
    """A difference of white (or Gaussian-smoothed, per-pixel unit) noise, variance 1."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 1.0, shape)
    if smooth:
        image = ndimage.gaussian_filter(image, smooth)
        image /= image.std()
    return Exposure(image=image.astype(np.float32), variance=np.ones(shape, np.float32),
                    psf=GaussianPsf(1.5, averagePosition=(shape[1] / 2, shape[0] / 2)),
                    photoCalib=PhotoCalib(28.0))


@dataclass
class _Kernel:
    kernelSum: float

    def at(self, x, y):
        return np.ones((3, 3)) * self.kernelSum / 9


def _subtraction(difference, kernelSum, nStars=50):
    return SubtractionResult(subtractedExposure=difference, warpedExposure=difference,
                             psfMatchingKernel=_Kernel(kernelSum), nKernelStars=nStars)


def test_white_noise_is_ok_and_every_check_can_fail():
    white = _noise()
    template = _noise(seed=2)
    template.photoCalib = PhotoCalib(28.0 + 2.5 * np.log10(3.6))   # 3.6 times the counts
    quality = assessDifference(white, _subtraction(white, 1 / 3.6), white, template,
                               QualityConfig())
    assert quality.status == "ok", quality.reasons
    f = quality.figures
    assert f["noiseRatio"] == pytest.approx(1.0, abs=0.02)
    assert f["filteredNoiseRatio"] == pytest.approx(1.0, abs=0.03)
    assert f["maxTileMean"] < 0.05 and f["validFraction"] == 1.0
    assert f["expectedKernelSum"] == pytest.approx(1 / 3.6, rel=1e-3)

    wrongSum = assessDifference(white, _subtraction(white, 1 / 3.0, nStars=2), white, template,
                                QualityConfig())
    assert any("kernel sum 0.3333 departs from the 0.2778" in r for r in wrongSum.reasons)
    assert any("rests on 2 stars" in r for r in wrongSum.reasons)

    shifted = _noise()
    shifted.image[384:, :128] += 1.0                         # a background failure
    shifted.setMask(np.pad(np.ones((300, 512), bool), ((0, 212), (0, 0))), "NO_DATA")
    bad = assessDifference(shifted, None, shifted, None, QualityConfig())
    assert bad.figures["maxTileMean"] == pytest.approx(1.0, abs=0.05)
    assert any("tile of the difference averages" in r for r in bad.reasons)
    assert any("only 41% of the difference holds data" in r for r in bad.reasons)


def test_correlated_noise_is_seen_through_the_psf_filter():
    """Per-pixel unit noise, smoothed over 1 px: right per pixel, 1.6 times too much filtered."""
    quality = assessDifference(_noise(smooth=1.0), None, _noise(), None, QualityConfig())
    f = quality.figures
    assert f["noiseRatio"] == pytest.approx(1.0, abs=0.03)
    assert f["filteredNoiseRatio"] > 1.5
    assert any("noise is correlated between pixels" in r for r in quality.reasons)


def test_footprints_over_the_frame_are_suspect():
    difference = _noise()
    difference.maskPlanes.add("DETECTED")
    detected = np.zeros(difference.shape, bool)
    detected[100:300, 100:300] = True
    difference.setMask(detected, "DETECTED")
    quality = assessDifference(difference, None, difference, None, QualityConfig())
    assert quality.figures["largestFootprint"] == pytest.approx(40000 / 512 ** 2, abs=1e-4)
    assert any("one footprint covers 15.3% of the frame" in r for r in quality.reasons)
    assert any("footprints cover 15% of the frame" in r for r in quality.reasons)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 512-pixel pair (enough kernel stars for the kernel sum to be right) as files."""
    folder = tmp_path_factory.mktemp("quality")
    science, template, _ = simulatePair(size=512, nTransients=8, seed=12)
    return (writeExposure(science, folder / "science.fits"),
            writeExposure(template, folder / "template.fits"))


def test_the_run_records_its_status_and_strict_makes_suspect_an_exit_status(files, tmp_path,
                                                                               capsys):
    science, template = files
    status, stdout, stderr = runPair(capsys, science, template, tmp_path / "ok")
    assert status == 0 and stdout.splitlines()[-1].endswith("; status ok"), stdout
    record = yaml.safe_load((tmp_path / "ok" / "metadata.yaml").read_text())
    assert record["metadata"]["quality"]["status"] == "ok"
    assert record["metadata"]["quality"]["kernelSum"] == pytest.approx(1 / 3.6, rel=0.03)
    assert record["summary"]["status"] == "ok"
    status, stdout, stderr = runPair(capsys, science, template, tmp_path / "strict", "--strict",
                                     "-c", "quality.maxTileMean=0.0")
    assert status == 3 and "status suspect (a 128-pixel tile" in stdout
    assert (tmp_path / "strict" / "diaSources.fits").exists()
    errors = [line for line in stderr.splitlines() if line.startswith("diffim: error:")]
    assert len(errors) == 1 and errors[0].startswith("diffim: error: the result is suspect "
                                                     "(--strict): a 128-pixel tile")


@pytest.mark.parametrize("scale,suspect", [(3.6, False), (3.6 * 1.15, True)])
def test_stars_left_over_by_a_wrong_flux_scaling_are_suspect(scale, suspect):
    # zogy told a template/science flux ratio 15 % off: every bright static star is left
    # over (measured 7.1; 10 % gives 4.7 on this 512² pair's 30 brightest stars)
    science, template, _ = simulatePair(size=512, seed=3, nTransients=5)
    config = load_pipeline(PIPELINES / "zogy.yaml", overrides=[
        "subtract.scaleByCalibration=false", f"subtract.templateFluxScaling={scale}"])
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)
    quality = result.metadata["quality"]
    assert (abs(quality["starResidual"]) > 5.0) is suspect
    assert any("brightest stars are left over" in r for r in quality["reasons"]) is suspect


def test_a_variance_scale_on_too_few_pixels_is_suspect_not_a_silent_one():
    science, template, _ = simulatePair(size=256, seed=4, nTransients=5)
    config = load_pipeline(PIPELINES / "default.yaml",
                           overrides=["scaleVariance.minPixels=100000"])
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)
    quality = result.metadata["quality"]
    assert result.metadata["scaleDiffimVarianceEstimator"] == "none"
    assert quality["varianceScaleFactor"] == 1.0 and quality["status"] == "suspect"
    pixels = quality["varianceScalePixels"]
    assert 0.5 * 256 ** 2 < pixels < 100000
    assert f"scaleDiffimVariance had only {pixels} usable pixels" in " ".join(quality["reasons"])


def test_noise_ratio_of_a_crowded_difference_rejects_its_sources():
    # footprints over all but 1 pixel in 1600: the ratio comes from every valid pixel, the
    # sources (bright squares of both signs) clipped; with the variance 1.5 times too
    # small it is sqrt(1.5). With too few usable pixels it is None and a reason.
    difference = _noise()
    difference.variance /= np.float32(1.5)
    rng = np.random.default_rng(3)
    for x, y in rng.integers(10, 500, (800, 2)):
        difference.image[y - 2:y + 3, x - 2:x + 3] += rng.choice([-30.0, 30.0])
    difference.maskPlanes.add("DETECTED")
    detected = np.ones(difference.shape, bool)
    detected[::40, ::40] = False
    difference.setMask(detected, "DETECTED")
    config = QualityConfig(maxFootprintFraction=1.0, maxLargestFootprint=1.0)
    quality = assessDifference(difference, None, difference, None, config)
    assert quality.figures["noisePixels"] == 512 ** 2
    assert quality.figures["noiseRatio"] == pytest.approx(np.sqrt(1.5), rel=0.03)
    difference.setMask(np.pad(np.zeros((10, 50), bool), ((0, 502), (0, 462)),
                              constant_values=True), "BAD")
    starved = assessDifference(difference, None, difference, None, config)
    assert starved.figures["noiseRatio"] is None and starved.figures["noisePixels"] == 500
    assert any("only 500 pixels of the difference are usable" in r for r in starved.reasons)
