"""Grid cells, tent weights and the blended difference PSF."""
from __future__ import annotations

import numpy as np
import pytest

from diffim.psf import gaussian_stamp
from diffim_zogy import GridPsf
from diffim_zogy.grid import CellGrid, cellCenters, support, tentWeights


@pytest.mark.parametrize("shape, spacing", [((300, 500), 90.0), ((257, 129), 40.0),
                                            ((100, 100), None), ((64, 300), 1000.0)])
def test_weights_tile_the_image(shape, spacing):
    grid = CellGrid(shape, spacing)
    total = np.zeros(shape)
    coverage = np.zeros(shape, dtype=int)
    for cell in grid.cells():
        total[cell.ySlice, cell.xSlice] += cell.weights
        coverage[cell.ySlice, cell.xSlice] += 1
        assert np.all(cell.weights > 0)
    assert np.allclose(total, 1.0, atol=1e-6)
    assert coverage.min() >= 1 and coverage.max() <= 4


def test_cell_layout():
    assert len(cellCenters(1000, 300.0)) == 3
    assert cellCenters(1000, 300.0) == pytest.approx([1000 / 6 - 0.5, 499.5, 5000 / 6 - 0.5])
    assert CellGrid((512, 1024)).nCells == 1
    assert CellGrid((512, 1024), 256).nCells == 8
    centers = cellCenters(100, 25.0)
    assert support(centers, 0, 100) == (0, int(np.ceil(centers[1])))
    assert support(centers, 3, 100) == (int(np.floor(centers[2])) + 1, 100)


def test_tent_weights_interpolate_linearly():
    centers = np.array([10.0, 30.0, 50.0])
    coords = np.linspace(0, 60, 121)
    weights = np.array([tentWeights(coords, centers, i) for i in range(3)])
    assert weights.sum(axis=0) == pytest.approx(np.ones(coords.size))
    inside = (coords >= 10) & (coords <= 50)
    assert (weights * centers[:, None]).sum(axis=0)[inside] == pytest.approx(coords[inside])


def test_grid_psf_blends_the_cell_stamps():
    stamps = np.array([[gaussian_stamp(s, 25) for s in (1.5, 2.0)],
                       [gaussian_stamp(s, 25) for s in (2.5, 3.0)]])
    psf = GridPsf(stamps, np.array([100.0, 300.0]), np.array([50.0, 150.0]), (200.0, 100.0))
    assert psf.isSpatiallyVarying
    assert psf.at(100.0, 50.0) == pytest.approx(stamps[0, 0])
    assert psf.at(0.0, 400.0) == pytest.approx(stamps[1, 0])
    assert psf.at(200.0, 50.0) == pytest.approx(0.5 * (stamps[0, 0] + stamps[0, 1]))
    assert psf.at(200.0, 100.0).sum() == pytest.approx(1.0)
    assert psf.copy().at(250.0, 75.0) == pytest.approx(psf.at(250.0, 75.0))
    with pytest.raises(ValueError, match="stamps"):
        GridPsf(stamps[0], np.array([100.0, 300.0]), np.array([50.0, 150.0]), (0.0, 0.0))
