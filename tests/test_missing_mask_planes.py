"""Exposures carry whatever mask planes their pipeline made: a configured plane they lack is
empty, for every slot (logged once), never a stop."""
from __future__ import annotations

import numpy as np
import pytest
from diffim import mask
from diffim.mask import MaskPlanes
from diffim.pipeline import load_pipeline
from diffim.task import ImageDifferenceTask
from diffim.testing.simulate import simulatePair

from paths import PIPELINES

PLANES = ("BAD", "SAT", "INTRP", "CR", "EDGE", "DETECTED", "DETECTED_NEGATIVE", "SUSPECT")


@pytest.fixture(scope="module")
def pair():
    science, template, _ = simulatePair(size=320, nTransients=6, seed=21)
    return science, template


def _withoutPlane(exposure, name):
    """A copy whose plane dictionary lacks ``name`` (its pixels, if any, lose the flag)."""
    copy = exposure.clone()
    copy.mask = exposure.mask & ~exposure.bitmask(name)
    copy.maskPlanes = MaskPlanes({n: exposure.maskPlanes[n] for n in exposure.maskPlanes
                                  if n != name})
    return copy


def _emptied(exposure, name):
    copy = exposure.clone()
    copy.clearMask(name)
    return copy


def _run(pipeline, science, template):
    config = load_pipeline(PIPELINES / pipeline, overrides=["doSkySources=true"])
    return ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)


@pytest.mark.parametrize("pipeline", ["default.yaml", "zogy.yaml"])
def test_every_optional_plane_may_be_missing(pair, pipeline, caplog, monkeypatch):
    monkeypatch.setattr(mask, "_REPORTED", set())      # each absence is reported once a process
    science, template = pair
    for name in PLANES:
        present = _run(pipeline, _emptied(science, name), _emptied(template, name))
        with caplog.at_level("INFO", logger="diffim.mask"):
            absent = _run(pipeline, _withoutPlane(science, name), _withoutPlane(template, name))
        np.testing.assert_array_equal(absent.subtractedExposure.image,
                                      present.subtractedExposure.image, err_msg=name)
        assert len(absent.diaSources) == len(present.diaSources) > 0, name
        for column in ("x", "y", "psfFlux", "ip_diffim_forced_PsfFlux_instFlux"):
            np.testing.assert_array_equal(absent.diaSources[column],
                                          present.diaSources[column], err_msg=name)
    assert "SUSPECT, which the exposure does not have" in caplog.text
