"""Where a region's kernel and PSF are evaluated when part of it holds no data."""
from __future__ import annotations

import numpy as np

from diffim_decorrelate.region import referencePosition


def test_centre_with_data_is_kept():
    finite = np.ones((100, 200), bool)
    assert referencePosition(finite, (slice(0, 100), slice(0, 200)), 99.5, 49.5) == (99.5, 49.5)


def test_centre_without_data_moves_to_the_covered_part():
    # a template covering the top third of the image (a calexp of another pointing)
    finite = np.zeros((300, 300), bool)
    finite[200:, :] = True
    x, y = referencePosition(finite, (slice(0, 300), slice(0, 300)), 149.5, 149.5)
    assert (x, y) == (149.5, 249.5)


def test_region_offsets_and_an_uncovered_centroid():
    # an L-shaped coverage whose centroid has no data: the nearest covered pixel is used
    finite = np.zeros((100, 100), bool)
    finite[:10, :] = True
    finite[:, :10] = True
    x, y = referencePosition(finite, (slice(500, 600), slice(1000, 1100)), 1050.0, 550.0)
    assert finite[int(y) - 500, int(x) - 1000]
    ys, xs = np.nonzero(finite)
    centroid = np.array([xs.mean(), ys.mean()])
    distances = np.hypot(xs - centroid[0], ys - centroid[1])
    assert np.isclose(np.hypot(x - 1000 - centroid[0], y - 500 - centroid[1]), distances.min())
    # nothing covered: the position stays
    empty = np.zeros((10, 10), bool)
    assert referencePosition(empty, (slice(0, 10), slice(0, 10)), 4.5, 4.5) == (4.5, 4.5)
