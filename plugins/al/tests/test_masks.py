"""The border a kernel cannot convolve (mask growth is core's: tests/test_morphology.py)."""
from __future__ import annotations

from diffim_al.masks import borderPixels


def test_border():
    border = borderPixels((10, 12), 3)
    assert border.sum() == 10 * 12 - 4 * 6
    assert not border[3:7, 3:9].any()
