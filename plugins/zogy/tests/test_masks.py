"""Mask combination and growth."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter

from diffim.mask import MaskPlanes
from diffim.mask import remapMask
from diffim_zogy.masks import growPlanes, planeBits, setBorder


def test_grow_planes_matches_a_square_maximum_filter():
    rng = np.random.default_rng(1)
    mask = np.zeros((300, 400), dtype=np.int32)
    mask[rng.random(mask.shape) < 1e-3] |= 1 << 1
    mask[rng.random(mask.shape) < 1e-3] |= 1 << 8
    mask[rng.random(mask.shape) < 1e-3] |= 1 << 3
    grown = growPlanes(mask, (1 << 1) | (1 << 8), 7)
    for bit in (1, 8):
        expected = maximum_filter(((mask >> bit) & 1).astype(np.uint8), size=15, mode="constant")
        assert np.array_equal(((grown >> bit) & 1).astype(np.uint8), expected)
    assert np.array_equal(grown & (1 << 3), mask & (1 << 3))
    assert np.array_equal(growPlanes(mask, 1 << 1, 0), mask)


def test_remap_mask_translates_bits_by_name():
    source = MaskPlanes({"BAD": 0, "NO_DATA": 1, "CUSTOM": 2})
    target = MaskPlanes()
    mask = np.array([[1, 2, 4, 7]], dtype=np.int32)
    remapped = remapMask(mask, source, target)
    bad, noData, custom = (1 << target[name] for name in ("BAD", "NO_DATA", "CUSTOM"))
    assert remapped.tolist() == [[bad, noData, custom, bad | noData | custom]]
    assert planeBits(target, ("BAD", "NOT_A_PLANE")) == bad


def test_set_border():
    mask = np.zeros((10, 12), dtype=np.int32)
    setBorder(mask, 16, 2)
    assert mask[:2].all() and mask[-2:].all() and mask[:, :2].all() and mask[:, -2:].all()
    assert not mask[2:-2, 2:-2].any()
