"""ImagePsfMatchConfig: LSST names, ImageDifferenceTask's effective defaults, validation."""
from __future__ import annotations

import pytest

from diffim.errors import ConfigError
from diffim_al import ImagePsfMatchConfig


def test_image_difference_overrides_are_the_defaults():
    config = ImagePsfMatchConfig()
    assert config.fitForBackground is True
    assert config.spatialKernelOrder == 1
    assert config.spatialBgOrder == 2
    assert config.history["spatialKernelOrder"][0] == (2, "default")
    assert config.history["spatialBgOrder"][0] == (1, "default")
    assert config.history["fitForBackground"][0] == (False, "default")


def test_lsst_defaults():
    config = ImagePsfMatchConfig()
    expected = dict(kernelBasisSet="alard-lupton", kernelSize=21, scaleByFwhm=True,
                    kernelSizeFwhmScaling=6.0, kernelSizeMin=21, kernelSizeMax=35,
                    spatialModelType="chebyshev1", sizeCellX=128, sizeCellY=128, nStarPerCell=3,
                    maxSpatialIterations=3, singleKernelClipping=True, kernelSumClipping=True,
                    spatialKernelClipping=True, checkConditionNumber=False,
                    maxConditionNumber=5e7, badMaskPlanes=("NO_DATA", "EDGE", "SAT"),
                    candidateResidualMeanMax=0.25, candidateResidualStdMax=1.5,
                    useCoreStats=False, candidateCoreRadius=3, maxKsumSigma=3.0,
                    constantVarianceWeighting=True, alardNGauss=3, alardDegGauss=(4, 2, 2),
                    alardSigGauss=(0.7, 1.5, 3.0), alardGaussBeta=2.0, alardMinSig=0.7,
                    alardDegGaussDeconv=3, alardMinSigDeconv=0.4, alardNGaussDeconv=3,
                    detThreshold=10.0, fpNpixMin=5, fpNpixMax=500, fpGrowKernelScaling=1.0,
                    fpGrowPix=30)
    for name, value in expected.items():
        assert getattr(config, name) == value, name


@pytest.mark.parametrize("name, value", [("kernelSize", 20), ("kernelSizeMin", 22),
                                         ("kernelBasisSet", "delta-function"),
                                         ("spatialModelType", "legendre"),
                                         ("maxSpatialIterations", 6), ("alardGaussBeta", 1.0)])
def test_illegal_values_are_rejected(name, value):
    with pytest.raises(ConfigError):
        ImagePsfMatchConfig(**{name: value})


@pytest.mark.parametrize("overrides, message", [
    (dict(alardDegGauss=[4, 2]), "alardDegGauss"),
    (dict(alardSigGauss=[1.0]), "alardSigGauss"),
    (dict(kernelSizeMin=35, kernelSizeMax=21), "kernelSizeMin"),
    (dict(scaleByFwhm=False, fpGrowPix=10), "fpGrowPix"),
])
def test_validate(overrides, message):
    config = ImagePsfMatchConfig(**overrides)
    with pytest.raises(ConfigError, match=message):
        config.validate()
