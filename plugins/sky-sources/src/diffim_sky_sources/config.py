"""Config of the ``skyObjects`` skySources plugin (LSST ``SkyObjectsConfig``)."""
from __future__ import annotations

from diffim.config import Config, ListField, RangeField


class SkyObjectsConfig(Config):
    """Where sky sources may go, how large they are and how many to place."""

    avoidMask = ListField(
        "Mask planes a sky source's footprint must not touch: detected sources of either sign "
        "and pixels without usable data.",
        str, default=["DETECTED", "DETECTED_NEGATIVE", "BAD", "NO_DATA"])
    growMask = RangeField(
        "Pixels by which the avoided regions are grown (isotropically) before placing sky "
        "sources, to keep them off the faint wings of detected sources.",
        int, default=0, min=0)
    sourceRadius = RangeField(
        "Radius (pixels) of each sky source's circular footprint: the pixels whose centres lie "
        "within this distance of the (integer) centre.",
        float, default=8.0, min=0.0, inclusiveMin=False)
    nSources = RangeField(
        "Number of sky sources wanted; fewer are returned when the trials run out first.",
        int, default=100, min=0)
    nTrialSourcesMultiplier = RangeField(
        "Trials allowed per wanted sky source: at most nSources * nTrialSourcesMultiplier "
        "random positions are tried.",
        int, default=5, min=1)
