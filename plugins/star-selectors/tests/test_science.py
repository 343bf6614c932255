"""The science selector: S/N, PSF size, flags, isolation and PSF-fit residuals."""
import numpy as np
import pytest

from diffim import Exposure, GaussianPsf, plugins
from diffim.errors import InputError
from diffim_star_selectors import (ScienceStarSelector, ScienceStarSelectorConfig,
                                   SourceMeasurementConfig, measureSources)


def select(sources, exposure, **overrides):
    config = ScienceStarSelectorConfig(**overrides)
    config.freeze()
    return ScienceStarSelector().diffim_sourceSelector(sources=sources, exposure=exposure,
                                                       config=config, references=None)


def test_entry_point():
    assert plugins.load("sourceSelector", "science") is ScienceStarSelector


def test_selected_are_isolated_stars(fields, quality):
    good, recovered = quality(select, fields, minStars=40)
    assert good >= 0.95
    assert recovered >= 0.9


def test_highest_signal_to_noise_first_and_max_count(fields):
    science, _, sources = fields[0]
    stars = select(sources, science, maxCount=10)
    assert len(stars) == 10
    snr = np.asarray(stars["flux"] / stars["fluxErr"])
    assert np.all(np.diff(snr) <= 0)
    everything = select(sources, science, maxCount=0)
    assert snr[-1] >= np.sort(np.asarray(everything["flux"] / everything["fluxErr"]))[-10]
    assert np.all(everything["flux"] / everything["fluxErr"] >= 50.0)


def test_size_is_compared_with_the_psf(fields):
    science, _, sources = fields[0]
    wide = science.clone()
    wide.psf = GaussianPsf(1.3 * 1.95)
    right = len(select(sources, science))
    assert len(select(sources, wide)) <= 0.05 * right
    assert len(select(sources, wide, sizeTolerance=0.4)) >= 0.9 * right


def test_psf_residual_finds_a_neighbour_the_catalog_missed(blob):
    rng = np.random.default_rng(6)
    model = np.full((160, 160), 1000.0)
    stars = [(50.3, 50.6, 6e4), (110.2, 105.7, 6e4)]
    for x, y, flux in stars + [(116.2, 105.7, 3000.0)]:     # 5% companion 6 px away
        ys, xs, b = blob(model.shape, x, y, 1.95, flux)
        model[ys, xs] += b
    image = rng.poisson(model * 2.0) / 2.0 + rng.normal(0, 2.5, model.shape)
    exposure = Exposure(image=image, variance=model / 2.0 + 6.25, psf=GaussianPsf(1.95))
    sources = measureSources(exposure, SourceMeasurementConfig())
    bright = [int(np.argmin(np.hypot(sources["x"] - x, sources["y"] - y))) for x, y, _ in stars]
    catalog = sources[bright]                       # as if the catalog had missed the companion
    catalog.remove_column("neighbourDistance")
    checked = select(catalog, exposure)
    assert len(checked) == 1 and abs(checked["x"][0] - 50.3) < 0.1
    unchecked = select(catalog, exposure, neighbourThreshold=None)
    assert len(unchecked) == 2


def test_needs_a_psf(fields):
    science, _, sources = fields[0]
    noPsf = science.clone()
    noPsf.psf = None
    with pytest.raises(InputError, match="PSF"):
        select(sources, noPsf)
