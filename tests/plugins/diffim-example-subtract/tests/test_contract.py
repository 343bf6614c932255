"""The example third-party plugin runs diffim's subtract contract, as any plugin would.

These three lines are all a plugin's own test suite needs (CONTRIBUTING.md, "Testing
your plugin"); pytest collects the checks from the subclass.
"""
from __future__ import annotations

from diffim.testing.contract import SubtractContract


class TestGaussianMatchContract(SubtractContract):
    plugin = "gaussianMatch"
