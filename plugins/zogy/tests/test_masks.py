"""The output border (plane bits and mask growth are core's: tests/test_mask.py, test_morphology.py)."""
from __future__ import annotations

import numpy as np

from diffim_zogy.masks import setBorder


def test_set_border():
    mask = np.zeros((10, 12), dtype=np.int32)
    setBorder(mask, 16, 2)
    assert mask[:2].all() and mask[-2:].all() and mask[:, :2].all() and mask[:, -2:].all()
    assert not mask[2:-2, 2:-2].any()
