"""Config of the ``calexp`` getTemplate plugin (LSST ``GetCalexpAsTemplateConfig``)."""
from __future__ import annotations

import re

from diffim.config import ChoiceField, Config, ListField

#: How each pixel of a template visit is weighted when several are combined.
WEIGHTINGS = {
    "pixel": "each pixel by its own inverse variance (the variance plane, after the visit is "
             "brought to the first visit's calibration)",
    "image": "every pixel of a visit by the inverse of the visit's median variance (LSST's "
             "coadd weighting: the combined PSF is then exactly the weighted mean of the "
             "visits' PSFs wherever all of them cover)",
}


def _isPlaneName(value: str) -> bool:
    """True for a mask plane name: letters, digits and underscores."""
    return re.fullmatch(r"[A-Za-z0-9_]+", value) is not None


class GetCalexpAsTemplateConfig(Config):
    """How several template visits (calexps) are combined into one template.

    With one template visit neither field acts: that calexp is the template as
    it is.
    """

    weighting = ChoiceField(
        "How the pixels of the template visits are weighted in their mean when several are "
        "combined (the variance of the mean follows from the weights either way).",
        str, allowed=WEIGHTINGS, default="pixel")
    badMaskPlanes = ListField(
        "Mask planes whose pixels are left out of the mean when several template visits are "
        "combined, in addition to NO_DATA (always left out), e.g. ['SAT', 'CR']; a pixel that "
        "no visit supplies is NO_DATA in the template. Planes a visit lacks count as empty.",
        str, default=(), itemCheck=_isPlaneName)
