"""The SAAO bulge pairs: no WCS, offset by tens of pixels, extremely crowded."""
from __future__ import annotations

import numpy as np
import pytest
from register_testing import normalisedResidual, robustStd, subtractAl
from scipy import ndimage

from diffim.fits_io import readExposure
from diffim.sanitize import sanitize
from diffim.task import ImageDifferenceTask
from diffim_register import SipRegister


def readPair(folder):
    """The pair as a run gets it: read, PSF measured (measurePsf), sanitised."""
    task = ImageDifferenceTask()
    return tuple(sanitize(task.characterize(readExposure(folder / f"{role}.fits"), role), role)
                 for role in ("science", "template"))


@pytest.fixture(scope="module")
def goodSeeing(realData, config):
    science, template = readPair(realData / "saao_kb13475_goodseeing")
    warped = SipRegister().diffim_register(science=science, template=template, config=config,
                                           sipOrder=2, debug=False)
    return science, warped


def test_good_seeing_pair_registers_at_the_documented_offset(goodSeeing):
    _, warped = goodSeeing
    meta = warped.metadata
    assert meta["registerMethod"] == "pattern"
    # SOURCE.md: science(y, x) ~ template(y + 35, x - 31), integer pixels.
    assert meta["registerOffset"] == pytest.approx([31.0, -35.0], abs=1.0)
    assert meta["registerMatches"] >= 80
    assert meta["registerRms"] < 0.2


def test_good_seeing_pair_subtracts_to_noise_where_uncrowded(goodSeeing):
    """In the less crowded half of the field (local mean brightness below its median) the
    difference is at the noise the variance plane predicts."""
    science, warped = goodSeeing
    difference = subtractAl(science, warped)
    crowding = ndimage.uniform_filter(science.image - np.median(science.image), 15)
    valid = ~warped.maskedPixels("NO_DATA")
    uncrowded = valid & (crowding < np.median(crowding[valid]))
    assert robustStd(normalisedResidual(difference, uncrowded)) == pytest.approx(1.0, abs=0.15)


def test_bad_seeing_pair_registers(realData, config):
    """FWHM 8 px science in a bulge field: blended centroids, but a clear registration.
    SOURCE.md places the science frame (-8, +46) px and the template (+35, -36) px from a
    common reference frame: an offset of (-43, +82) px."""
    science, template = readPair(realData / "saao_kb13475_badseeing")
    warped = SipRegister().diffim_register(science=science, template=template, config=config,
                                           sipOrder=2, debug=False)
    meta = warped.metadata
    assert meta["registerOffset"] == pytest.approx([-43.0, 82.0], abs=1.0)
    assert meta["registerMatches"] >= 30
    assert meta["registerRms"] < 0.5
