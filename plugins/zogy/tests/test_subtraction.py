"""Photometry, sign, masks, flux scaling and errors of the zogy subtraction."""
from __future__ import annotations

import numpy as np
import pytest

from diffim import Exposure, ImagePsf, PhotoCalib, plugins
from diffim.errors import InputError
from diffim.psf import gaussian_stamp
from diffim.statistics import iqrSigma

from diffim_zogy import GridPsf, PsfCentroidError, ZogyConfig, ZogySubtraction
from diffim_zogy.errors import FluxScaleError
from zogy_testing import normalisedNoise, psfFlux, shiftedPsf, simulated, sourceFree, subtract

AlardLuptonSubtraction = plugins.load("subtract", "al")
ImagePsfMatchConfig = AlardLuptonSubtraction.ConfigClass


def _brightTransients(truth, minSnr=20.0):
    return truth[(truth["kind"] == "transient") & (truth["differenceSnr"] > minSnr)]


def test_plugin_is_registered():
    cls = plugins.load("subtract", "zogy")
    assert cls is ZogySubtraction
    assert isinstance(cls.ConfigClass(), ZogyConfig)


@pytest.mark.parametrize("seeingRatio", [1.3, 0.7], ids=["worse", "sharper"])
def test_transient_fluxes_match_truth_and_al(seeingRatio):
    science, template, truth = simulated(1024, seeingRatio=seeingRatio, seed=41)
    difference = subtract(science, template).subtractedExposure
    config = ImagePsfMatchConfig()
    config.freeze()
    al = AlardLuptonSubtraction().diffim_subtract(science, template, config, seeingRatio > 1,
                                                  None, np.random.default_rng(0))
    bright = _brightTransients(truth)
    assert len(bright) > 15
    zogy = np.array([psfFlux(difference, x, y)[0] for x, y in zip(bright["x"], bright["y"])])
    alard = np.array([psfFlux(al.subtractedExposure, x, y)[0]
                      for x, y in zip(bright["x"], bright["y"])])
    assert np.median(zogy / bright["differenceFlux"]) == pytest.approx(1.0, abs=0.02)
    assert np.median(zogy / alard) == pytest.approx(1.0, abs=0.02)


def test_difference_psf_is_the_transient_profile(worsePair, worseResult):
    _, _, truth = worsePair
    difference = worseResult.subtractedExposure
    assert difference.psf.at(*difference.center).sum() == pytest.approx(1.0)
    # Each bright transient must look like its true flux times the difference PSF
    # (shifted to its position): reduced chi-square near 1 over the PSF stamps, and
    # clearly better than with a PSF 10% narrower or wider.
    bright = _brightTransients(truth, 30.0)
    assert len(bright) >= 8

    def chiSquare(widthScale):
        terms = []
        for x, y, flux in zip(bright["x"], bright["y"], bright["differenceFlux"]):
            psf, box = shiftedPsf(difference, x, y, widthScale)
            terms.append((difference.image[box] - flux * psf) ** 2 / difference.variance[box])
        return float(np.sum(terms)), int(np.size(terms))

    best, count = chiSquare(1.0)
    assert best / count < 1.2
    assert chiSquare(0.9)[0] - best > 25.0
    assert chiSquare(1.1)[0] - best > 25.0


def test_difference_is_positive_where_science_is_brighter(worsePair, worseResult):
    _, _, truth = worsePair
    bright = _brightTransients(truth)
    difference = worseResult.subtractedExposure
    values = [difference.image[int(round(y)), int(round(x))] for x, y in zip(bright["x"],
                                                                             bright["y"])]
    assert np.all(np.array(values) > 0)


def test_swapping_the_images_negates_the_difference(worsePair, worseResult):
    science, template, _ = worsePair
    swapped = subtract(template, science).subtractedExposure
    difference = worseResult.subtractedExposure
    ratio = worseResult.metadata["zogyFluxRatio"]
    assert swapped.photoCalib == template.photoCalib
    both = (difference.mask == 0) & (swapped.mask == 0)
    residual = (difference.image + swapped.image / ratio)[both]
    sigma = np.sqrt(difference.variance[both])
    assert iqrSigma(residual / sigma) < 0.05
    assert iqrSigma(difference.image[both] / sigma) == pytest.approx(1.0, abs=0.05)


def test_spatial_grid_without_psf_variation_matches_one_cell(worsePair, worseResult):
    science, template, _ = worsePair
    gridded = subtract(science, template, doSpatialGrid=True, gridInnerSize=4.0)
    assert gridded.metadata["zogyGridCells"][0] >= 4
    assert isinstance(gridded.subtractedExposure.psf, GridPsf)
    one, many = worseResult.subtractedExposure, gridded.subtractedExposure
    both = (one.mask == 0) & (many.mask == 0)
    change = (many.image - one.image)[both] / np.sqrt(one.variance[both])
    assert np.percentile(np.abs(change), 99.9) < 0.1
    assert np.max(np.abs(many.variance[both] / one.variance[both] - 1.0)) < 0.02


def test_no_data_propagates(worsePair, worseResult):
    science, template, truth = worsePair
    holed = template.clone()
    holed.image[300:400, 500:650] = np.nan
    holed.mask[300:400, 500:650] |= holed.bitmask("NO_DATA")
    gapped = science.clone()
    gapped.image[700:720, :] = 0.0
    gapped.mask[700:720, :] |= gapped.bitmask("NO_DATA")
    result = subtract(gapped, holed)
    difference, score = result.subtractedExposure, result.scoreExposure
    radius = result.metadata["zogyKernelRadius"]
    scoreRadius = result.metadata["zogyScoreKernelRadius"]
    noData = difference.bitmask("NO_DATA")
    for exposure, reach in ((difference, radius), (score, scoreRadius)):
        grown = np.zeros(exposure.shape, dtype=bool)
        grown[300 - reach:400 + reach, 500 - reach:650 + reach] = True
        grown[700 - reach:720 + reach, :] = True
        assert np.all((exposure.mask[grown] & noData) != 0)
        assert np.all(np.isnan(exposure.image[grown]))
        assert np.all(np.isinf(exposure.variance[grown]))
        assert not np.any((exposure.mask[~grown] & noData) != 0)
        assert np.all(np.isfinite(exposure.image[~grown]))
    far = np.ones(difference.shape, dtype=bool)
    far[300 - 2 * radius:400 + 2 * radius, 500 - 2 * radius:650 + 2 * radius] = False
    far[700 - 2 * radius:720 + 2 * radius, :] = False
    free = far & sourceFree(difference.shape, truth, 12)
    assert iqrSigma(normalisedNoise(difference, free)) == pytest.approx(1.0, abs=0.05)
    reference = worseResult.subtractedExposure
    use = far & (difference.mask == 0)
    change = (difference.image - reference.image)[use] / np.sqrt(reference.variance[use])
    assert np.percentile(np.abs(change), 99) < 0.1


def test_input_masks_are_combined(worsePair):
    science, template, _ = worsePair
    marked = template.clone()
    marked.mask[10:20, 30:40] |= marked.bitmask("BAD")
    difference = subtract(science, marked).subtractedExposure
    assert np.all((difference.mask[10:20, 30:40] & difference.bitmask("BAD")) != 0)


def test_flux_ratio_is_fitted_without_photocalib(worsePair, worseResult):
    science, template, truth = worsePair
    uncalibrated = [exposure.clone() for exposure in (science, template)]
    for exposure in uncalibrated:
        exposure.photoCalib = None
    result = subtract(*uncalibrated)
    assert result.metadata["zogyFluxScalingSource"] == "fit"
    assert result.metadata["zogyFluxRatio"] == pytest.approx(3.6, rel=0.01)
    assert result.metadata["zogyFluxRatioStars"] >= 10
    bright = _brightTransients(truth)
    fluxes = [psfFlux(result.subtractedExposure, x, y)[0] for x, y in zip(bright["x"],
                                                                          bright["y"])]
    assert np.median(np.array(fluxes) / bright["differenceFlux"]) == pytest.approx(1.0,
                                                                                   abs=0.02)
    configured = subtract(*uncalibrated, doFitFluxScaling=False, templateFluxScaling=7.2,
                          scienceFluxScaling=2.0)
    assert configured.metadata["zogyFluxScalingSource"] == "config"
    assert configured.metadata["zogyFluxRatio"] == pytest.approx(3.6)


def test_flux_ratio_comes_from_photocalibs(worsePair):
    science, template, _ = worsePair
    recalibrated = template.clone()
    recalibrated.photoCalib = PhotoCalib(science.photoCalib.zeroPoint + 2.5 * np.log10(2.0))
    result = subtract(science, recalibrated)
    assert result.metadata["zogyFluxScalingSource"] == "photoCalib"
    assert result.metadata["zogyFluxRatio"] == pytest.approx(2.0)


def test_flux_fit_needs_stars():
    science, template, _ = simulated(256, nStars=0, nTransients=0, seed=5)
    science.photoCalib = None
    with pytest.raises(FluxScaleError, match="usable stars"):
        subtract(science, template)


def test_offset_psfs_are_rejected(worsePair):
    science, template, _ = worsePair
    shifted = template.clone()
    stamp = np.roll(gaussian_stamp(1.5, 21), 1, axis=1)
    shifted.psf = ImagePsf(stamp)
    with pytest.raises(PsfCentroidError, match="maxPsfCentroidDist"):
        subtract(science, shifted)
    subtract(science, shifted, maxPsfCentroidDist=1.5)


def test_mismatched_inputs_are_rejected(worsePair):
    science, template, _ = worsePair
    with pytest.raises(InputError, match="science pixel grid"):
        subtract(science, Exposure(image=template.image[:-1], variance=template.variance[:-1],
                                   psf=template.psf))
    unvaried = template.clone()
    unvaried.variance = None
    with pytest.raises(InputError, match="variance"):
        subtract(science, unvaried)


@pytest.mark.parametrize("size,refused", [(24, True), (44, True), (45, False), (64, False)])
def test_images_smaller_than_the_kernel_reach_are_refused(size, refused):
    """21-px PSF stamps give 22-px kernels: below 45 px every pixel would be EDGE (and NaN)."""
    science, template, _ = simulated(size, nStars=1, nTransients=0, seed=5)
    if refused:
        with pytest.raises(InputError, match=rf"{size}x{size} px images are too small.*reach "
                                             r"22 px.*at least 45 px"):
            subtract(science, template)
        return
    difference = subtract(science, template).subtractedExposure
    edge = difference.maskedPixels("EDGE")
    assert edge.sum() == size * size - (size - 44) ** 2
    assert np.isfinite(difference.image[~edge]).all()
