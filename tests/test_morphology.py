"""Growing masks: the three metrics, and the fast paths equal the definition."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.morphology import growMask, structuringElement
from scipy import ndimage


@pytest.mark.parametrize("metric", ["euclidean", "taxicab", "chessboard"])
@pytest.mark.parametrize("radius", [1, 2, 3.5, 7])
def test_growth_is_dilation_by_the_metric_ball(metric, radius):
    mask = np.random.default_rng(1).random((120, 90)) > 0.995
    expected = ndimage.binary_dilation(mask, structure=structuringElement(radius, metric))
    assert np.array_equal(growMask(mask, radius, metric), expected)


def test_ball_shapes_and_trivial_cases():
    assert structuringElement(2, "euclidean").sum() == 13
    assert structuringElement(2, "taxicab").sum() == 13
    assert structuringElement(2, "chessboard").sum() == 25
    assert structuringElement(3.0, "euclidean").sum() == 29
    single = np.zeros((9, 9), dtype=bool)
    single[4, 4] = True
    assert growMask(single, 0).sum() == 1
    stack = growMask(np.stack([single, single]), 1, "taxicab")
    assert stack.shape == (2, 9, 9) and stack.sum() == 10
    with pytest.raises(ValueError, match="unknown metric"):
        growMask(single, 1, "hexagonal")
