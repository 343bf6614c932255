"""Installed plugins called by name, for the tests and benchmarks of other plugins.

A plugin's tests that need another slot's output (a detection catalog to measure, an AL
difference to decorrelate) load that slot's plugin through the plugin system, as the task
does, rather than importing its package: plugins meet only through the core.
"""
from __future__ import annotations

from .. import plugins
from ..exposure import Exposure
from ..results import DetectionResult


def detectSources(exposure: Exposure, name: str = "threshold", doSmooth: bool = True,
                  doMerge: bool = True, growFootprint: int = 2) -> DetectionResult:
    """Run the installed ``detection`` plugin ``name`` with its default config.

    Parameters
    ----------
    exposure : Exposure
        The difference to detect on (its DETECTED planes are set, as in a run).
    name : str
        Entry-point name of the detection plugin.
    doSmooth, doMerge, growFootprint
        The task's arguments of the hook (their defaults are the default pipeline's).
    """
    detection = plugins.load("detection", name)
    return detection().diffim_detection(exposure=exposure, config=detection.ConfigClass(),
                                        doSmooth=doSmooth, doMerge=doMerge,
                                        growFootprint=growFootprint)
