"""A template assembled from patches subtracts as well as the single-file template."""
import numpy as np
from scipy.spatial import cKDTree

from diffim import plugins
from diffim.task import ImageDifferenceTask
from diffim.task_config import ImageDifferenceConfig

#: Pixels closer than this to any simulated object are not source-free.
SOURCE_RADIUS = 10.0


def _noiseRatio(science, template, truth):
    """Robust std of difference / sqrt(variance) on source-free pixels (default AL pipeline)."""
    config = ImageDifferenceConfig()
    for flag in ("doDetection", "doMeasurement", "doMerge", "doSkySources",
                 "doForcedMeasurement", "doApCorr"):
        config.set(flag, False)
    difference = ImageDifferenceTask(config).run(exposure=science,
                                                 templateExposure=template).subtractedExposure
    z = difference.image / np.sqrt(difference.variance)
    yy, xx = np.indices(z.shape)
    distance, _ = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([xx.ravel(), yy.ravel()]))
    free = ((distance.reshape(z.shape) > SOURCE_RADIUS) & np.isfinite(z)
            & ~difference.maskedPixels("NO_DATA", "EDGE", "SAT"))
    values = z[free]
    return float(1.4826 * np.median(np.abs(values - np.median(values)))), int(free.sum())


def test_assembled_template_subtracts_like_the_original(pair, repository):
    science, template, truth = pair
    coadd = plugins.load("getTemplate", "coadd")
    config = coadd.ConfigClass()
    config.freeze()
    assembled = coadd().diffim_getTemplate(science=science, config=config, source=str(repository))
    original, nOriginal = _noiseRatio(science, template, truth)
    patched, nPatched = _noiseRatio(science, assembled, truth)
    assert 0.9 < original < 1.1
    assert abs(patched / original - 1.0) < 0.05
    assert nPatched > 0.95 * nOriginal
