"""Growing masks: the three metrics, and the fast paths equal the definition."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.morphology import growLabels, growMask, growMaskBits, structuringElement
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


def test_bit_planes_grow_each_on_its_own():
    mask = np.zeros((30, 30), dtype=np.int32)
    mask[5, 5] = 0b01
    mask[20, 20] = 0b10
    mask[25, 5] = 0b100                                   # not asked to grow
    grown = growMaskBits(mask, 0b011, 2)
    assert ((grown & 0b01) != 0).sum() == 25 and ((grown & 0b10) != 0).sum() == 25
    assert ((grown & 0b100) != 0).sum() == 1 and grown.dtype == mask.dtype
    assert mask.sum() == 0b111 and np.array_equal(growMaskBits(mask, 0b1000, 3), mask)


def test_grown_labels_go_to_the_nearest_region():
    labels = np.zeros((7, 11), dtype=np.int32)
    labels[3, 2] = 1
    labels[3, 8] = 2
    grown = growLabels(labels, 3)
    assert grown[3, 4] == 1 and grown[3, 6] == 2 and grown[3, 5] in (1, 2)
    assert grown[0, 2] == 1 and grown[0, 0] == 0          # sqrt(13) > 3
    assert growLabels(labels, 2, "taxicab")[1, 1] == 0 and growLabels(labels, 2, "taxicab")[2, 1] == 1
