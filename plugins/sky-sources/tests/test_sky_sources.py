"""Sky sources land on empty sky, never overlap, are reproducible and measure pure noise."""
import numpy as np
from astropy.table import Table

from diffim import Exposure, GaussianPsf, plugins
from diffim.photometry import measurePsfFlux
from diffim_sky_sources import SkyObjects, SkyObjectsConfig

AVOIDED = ("DETECTED", "DETECTED_NEGATIVE", "BAD", "NO_DATA")


def _place(exposure, seed=42, **overrides):
    return SkyObjects().diffim_skySources(exposure, SkyObjectsConfig(**overrides),
                                          np.random.default_rng(seed))


def _footprints(table, shape):
    """Label image (sky source i owns label i + 1) and per-pixel count of covering footprints."""
    labels = np.zeros(shape, dtype=np.int32)
    count = np.zeros(shape, dtype=np.int32)
    for i, row in enumerate(table):
        reach = int(row["radius"]) + 1
        x, y = int(row["x"]), int(row["y"])
        window = (slice(max(y - reach, 0), y + reach + 1), slice(max(x - reach, 0), x + reach + 1))
        yy, xx = np.mgrid[window]
        inside = (xx - row["x"]) ** 2 + (yy - row["y"]) ** 2 <= row["radius"] ** 2
        labels[window][inside] = i + 1
        count[window] += inside
    return labels, count


def test_entry_point_and_lsst_defaults():
    assert plugins.load("skySources", "skyObjects") is SkyObjects
    assert plugins.distribution("skySources", "skyObjects") == "diffim-sky-sources"
    config = SkyObjectsConfig()
    assert config.avoidMask == AVOIDED
    assert (config.growMask, config.sourceRadius, config.nSources,
            config.nTrialSourcesMultiplier) == (0, 8.0, 100, 5)


def test_called_through_pluggy_with_a_frozen_config(detected):
    manager = plugins.new_manager()
    manager.register(SkyObjects())
    config = SkyObjectsConfig()
    config.freeze()
    mask = detected.mask.copy()
    table = manager.hook.diffim_skySources(exposure=detected, config=config,
                                           rng=np.random.default_rng(1))
    assert isinstance(table, Table) and table.colnames == ["x", "y", "radius"]
    assert len(table) == 100 and (table["radius"] == 8.0).all()
    assert str(table["x"].unit) == "pix" and table["x"].description
    np.testing.assert_array_equal(detected.mask, mask)


def test_footprints_avoid_masked_pixels_and_each_other(detected):
    table = _place(detected, nSources=400)
    assert len(table) == 400
    labels, count = _footprints(table, detected.shape)
    assert count.max() == 1
    assert not (detected.maskedPixels(*AVOIDED) & (labels > 0)).any()
    margin = 8 + 1
    assert table["x"].min() >= margin and table["x"].max() <= detected.width - 1 - margin
    assert table["y"].min() >= margin and table["y"].max() <= detected.height - 1 - margin
    assert np.all(table["x"] == np.round(table["x"])) and np.all(table["y"] == np.round(table["y"]))


def test_grow_mask_keeps_footprints_further_away(detected):
    table = _place(detected, growMask=6, nSources=200)
    labels, _ = _footprints(table, detected.shape)
    ys, xs = np.nonzero(detected.maskedPixels(*AVOIDED) & ~detected.maskedPixels("NO_DATA"))
    for row in table:
        near = np.hypot(xs - row["x"], ys - row["y"])
        assert near.min() > 8.0 + 6.0 - 1.0


def test_same_seed_same_sources_different_seed_different(detected):
    first, again = _place(detected, seed=7), _place(detected, seed=7)
    other = _place(detected, seed=8)
    np.testing.assert_array_equal(first["x"], again["x"])
    np.testing.assert_array_equal(first["y"], again["y"])
    assert not np.array_equal(first["x"], other["x"])


def test_sky_psf_fluxes_are_pure_noise(detected):
    table = _place(detected, nSources=400)
    valid = ~detected.maskedPixels("NO_DATA")
    sky = measurePsfFlux(detected.image, detected.variance, valid, detected.psf,
                         np.asarray(table["x"]), np.asarray(table["y"]))
    pull = sky.flux / sky.fluxErr
    assert abs(np.mean(pull)) < 3.0 / np.sqrt(len(pull))
    assert abs(np.std(pull) - 1.0) < 0.1
    # The same statistic at uniformly random positions, sources included, is far from noise.
    rng = np.random.default_rng(3)
    x, y = rng.uniform(20, 1000, 400), rng.uniform(20, 900, 400)
    anywhere = measurePsfFlux(detected.image, detected.variance, valid, detected.psf, x, y)
    assert np.std(anywhere.flux / anywhere.fluxErr) > 3.0


def test_trials_are_bounded_when_the_sky_is_full(makeDetected):
    exposure = Exposure(image=np.zeros((200, 200)), variance=np.ones((200, 200)),
                        psf=GaussianPsf(2.0))
    nearlyFull = np.ones((200, 200), dtype=bool)
    nearlyFull[50:120, 50:120] = False
    exposure.setMask(nearlyFull, "DETECTED")
    table = _place(exposure, nSources=20, nTrialSourcesMultiplier=3)
    assert table.meta["nTrials"] == 60 and 0 < len(table) < 20
    labels, _ = _footprints(table, exposure.shape)
    assert not (nearlyFull & (labels > 0)).any()
    exposure.setMask(np.ones((200, 200), dtype=bool), "DETECTED")
    assert len(_place(exposure)) == 0


def test_small_images_and_bad_planes():
    tiny = Exposure(image=np.zeros((17, 40)), variance=np.ones((17, 40)))
    assert len(_place(tiny)) == 0
    assert len(_place(tiny, sourceRadius=3.0, nSources=2)) == 2
    assert len(_place(tiny, sourceRadius=3.0, nSources=2, avoidMask=["DETECTED", "STREAK"])) == 2
