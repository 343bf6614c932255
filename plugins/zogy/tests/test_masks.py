"""Mask plane bits and the output border (mask growth is core's: tests/test_morphology.py)."""
from __future__ import annotations

import numpy as np

from diffim.mask import MaskPlanes
from diffim_zogy.masks import planeBits, setBorder


def test_plane_bits_skip_planes_not_defined():
    planes = MaskPlanes()
    assert planeBits(planes, ("BAD", "NOT_A_PLANE")) == 1 << planes["BAD"]


def test_set_border():
    mask = np.zeros((10, 12), dtype=np.int32)
    setBorder(mask, 16, 2)
    assert mask[:2].all() and mask[-2:].all() and mask[:, :2].all() and mask[:, -2:].all()
    assert not mask[2:-2, 2:-2].any()
