"""The spatially varying decorrelation: agreement with the single filter, locality, no seams."""
from __future__ import annotations

import numpy as np
import pytest
from decorrelate_testing import (BlendedKernel, GaussianKernel, autocorrelation, decorrelate,
                                 interior, makeNoisePair)

from diffim import SpatialPsf
from diffim.errors import ConfigError
from diffim.statistics import iqrSigma
from diffim_decorrelate.grid import AxisNodes

SIZE = 384
#: A small grid in pixels: 9 x 9 nodes 48 px apart on the 384 px images.
GRID = {"scaleByFwhm": False, "gridStep": 48.0, "borderSize": 24.0}


def test_constant_kernel_matches_the_single_filter():
    pair = makeNoisePair(SIZE, scienceVariance=0.04, templateVariance=0.2, seed=6)
    single = decorrelate(pair)
    spatial = decorrelate(pair, True, **GRID)
    noise = float(np.std(interior(single.image)))
    assert np.abs(interior(spatial.image - single.image)).max() < 1e-3 * noise
    np.testing.assert_allclose(interior(spatial.variance), interior(single.variance), rtol=1e-3)
    assert isinstance(spatial.psf, SpatialPsf)
    assert len(spatial.psf.x) == 81
    assert spatial.psf.sigma() < pair.difference.psf.sigma()


@pytest.fixture(scope="module")
def varyingKernel():
    """The kernel sigma goes from 1.0 px (left) to 3.5 px (right); the template is noisy."""
    kernel = BlendedKernel(GaussianKernel(1.0), GaussianKernel(3.5), SIZE)
    scienceVariance = np.broadcast_to(0.02 + 0.06 * np.arange(SIZE) / SIZE, (SIZE, SIZE))
    pair = makeNoisePair(SIZE, scienceVariance=scienceVariance, templateVariance=0.5,
                         kernel=kernel, seed=7)
    return pair, decorrelate(pair, True, **GRID), decorrelate(pair)


def _normalised(exposure):
    return exposure.image / np.sqrt(exposure.variance)


def test_local_filters_follow_a_varying_kernel(varyingKernel):
    """Each side gets its own filter; one filter from the centre mis-whitens both sides."""
    pair, spatial, single = varyingKernel
    rows = slice(40, -40)
    for cols in (slice(40, 120), slice(-120, -40)):
        assert iqrSigma(_normalised(spatial)[rows, cols]) == pytest.approx(1.0, abs=0.02)
        for lag in (1, 2, 3):
            assert abs(autocorrelation(spatial.image[rows, cols], lag)) < 0.03
    assert iqrSigma(_normalised(single)[rows, 40:120]) > 1.04
    assert abs(autocorrelation(single.image[rows, 40:120], 1)) > 0.05


def _strips(centres, halfWidth: int = 4) -> np.ndarray:
    columns = np.zeros(SIZE, dtype=bool)
    for centre in centres:
        c = int(round(centre))
        columns[max(c - halfWidth, 0):c + halfWidth + 1] = True
    columns[:40] = columns[-40:] = False
    return columns


def test_no_seams_between_grid_cells(varyingKernel):
    """Noise is as well normalised and as white half-way between nodes as on them."""
    pair, spatial, _ = varyingKernel
    nodes = AxisNodes.spanning(SIZE, GRID["gridStep"]).positions
    between = _strips((nodes[1:] + nodes[:-1]) / 2)
    on = _strips(nodes)
    rows = slice(40, -40)
    ratio = _normalised(spatial)[rows]
    ratioBetween, ratioOn = iqrSigma(ratio[:, between]), iqrSigma(ratio[:, on])
    assert ratioBetween == pytest.approx(ratioOn, rel=0.03)
    assert ratioBetween == pytest.approx(1.0, abs=0.03)
    betweenImage = np.where(between[None, :], spatial.image, np.nan)[rows]
    assert abs(autocorrelation(betweenImage, 1)) < 0.05


def test_variance_plane_has_no_steps(varyingKernel):
    """No column-to-column change exceeds 1/20 of the change across the image.

    Cells with hard edges put the whole change into one step per cell boundary
    (about 1/8 of it here).
    """
    _, spatial, _ = varyingKernel
    profile = spatial.variance[40:-40, 20:-20].mean(axis=0)
    assert profile.max() - profile.min() > 0.1
    assert np.abs(np.diff(profile)).max() < (profile.max() - profile.min()) / 20


def test_grid_sizes_scale_with_the_psf_width():
    """Default sizes are in FWHM units: 20 FWHM steps over 384 px with FWHM 7.8 -> 4 x 4."""
    pair = makeNoisePair(SIZE, scienceVariance=0.04, templateVariance=0.04)
    fwhm = pair.difference.psf.fwhm()
    spatial = decorrelate(pair, True)
    count = int(np.ceil((SIZE - 1) / (20.0 * fwhm))) + 1
    assert len(spatial.psf.x) == count ** 2
    finer = decorrelate(pair, True, gridStep=10.0)
    assert len(finer.psf.x) > len(spatial.psf.x)


def test_point_source_flux_is_preserved():
    pair = makeNoisePair(SIZE, scienceVariance=0.04, templateVariance=0.2, sourceFlux=1000.0,
                         nSources=9, noise=False,
                         kernel=BlendedKernel(GaussianKernel(1.5), GaussianKernel(2.5), SIZE))
    after = decorrelate(pair, True, **GRID)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for x, y in zip(pair.sourceX, pair.sourceY):
        inside = np.hypot(xx - x, yy - y) <= 20.0
        assert float(after.image[inside].sum()) == pytest.approx(1000.0, rel=0.01)


def test_grid_finer_than_a_pixel_is_a_config_error():
    with pytest.raises(ConfigError, match="gridStep 0.05 FWHM"):
        decorrelate(makeNoisePair(64), True, gridStep=0.05)


def test_spatial_psf_model_measures_point_sources():
    pair = makeNoisePair(SIZE, scienceVariance=0.04, templateVariance=0.16, sourceFlux=1000.0,
                         nSources=9, noise=False)
    after = decorrelate(pair, True, **GRID)
    x, y = int(pair.sourceX[4]), int(pair.sourceY[4])
    psf = after.psf.at(x, y)
    half = psf.shape[0] // 2
    stamp = after.image[y - half:y + half + 1, x - half:x + half + 1]
    assert (stamp * psf).sum() / (psf * psf).sum() == pytest.approx(1000.0, rel=0.01)
