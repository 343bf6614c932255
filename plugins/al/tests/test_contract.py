"""The al plugin keeps the subtract slot's contract (:mod:`diffim.testing.contract`).

Both directions: the template convolved (the simulated pair's template is the sharper
one), and the science image convolved, where the difference is divided by the kernel
sum to stay on the science image's flux scale.
"""
from __future__ import annotations

from diffim.testing.contract import SubtractContract


class TestAlContract(SubtractContract):
    plugin = "al"


class TestAlConvolvingScienceContract(SubtractContract):
    plugin = "al"
    overrides = ("convolveTemplate=false",)
