"""Mask plane dictionaries and moving bits between them."""
from __future__ import annotations

import numpy as np
from diffim.mask import MaskPlanes, remapMask


def test_remap_moves_bits_by_name_and_adds_planes():
    source = MaskPlanes({"BAD": 0, "SAT": 5, "GHOST": 1})
    target = MaskPlanes({"BAD": 0, "SAT": 1})
    mask = np.array([[1, 2, 32, 35]], dtype=np.int32)
    remapped = remapMask(mask, source, target)
    ghost = 1 << target["GHOST"]
    np.testing.assert_array_equal(remapped, [[1, ghost, 2, 1 | 2 | ghost]])
    same = MaskPlanes({"BAD": 0, "SAT": 1})
    assert remapMask(mask, same, same.copy()) is mask
