"""Mask dilation by the kernel footprint and re-mapping of plane bits."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation

from diffim.mask import MaskPlanes
from diffim.mask import remapMask
from diffim_al.masks import borderPixels, dilateMask


def test_dilation_is_a_per_plane_box_or():
    rng = np.random.default_rng(1)
    mask = np.zeros((60, 70), dtype=np.int32)
    mask[rng.random(mask.shape) < 0.01] |= 1 << 3
    mask[rng.random(mask.shape) < 0.005] |= 1 << 8
    mask[0, 69] |= 1 << 30
    dilated = dilateMask(mask, 2)
    for bit in (3, 8, 30):
        expected = binary_dilation((mask & (1 << bit)) != 0, np.ones((5, 5), dtype=bool))
        np.testing.assert_array_equal((dilated & (1 << bit)) != 0, expected)
    assert not (dilated & ~((1 << 3) | (1 << 8) | (1 << 30))).any()


def test_border():
    border = borderPixels((10, 12), 3)
    assert border.sum() == 10 * 12 - 4 * 6
    assert not border[3:7, 3:9].any()


def test_remap_moves_bits_and_adds_planes():
    source = MaskPlanes({"BAD": 0, "SAT": 5, "GHOST": 1})
    target = MaskPlanes({"BAD": 0, "SAT": 1})
    mask = np.array([[1, 2, 32, 35]], dtype=np.int32)
    remapped = remapMask(mask, source, target)
    ghost = 1 << target["GHOST"]
    np.testing.assert_array_equal(remapped, [[1, ghost, 2, 1 | 2 | ghost]])
    same = MaskPlanes({"BAD": 0, "SAT": 1})
    assert remapMask(mask, same, same.copy()) is mask
