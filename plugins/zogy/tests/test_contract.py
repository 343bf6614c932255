"""The zogy plugin keeps the subtract slot's contract (:mod:`diffim.testing.contract`).

Its traits say its difference is white, so the contract runs the default pipeline with
doDecorrelation=false, as the shipped zogy pipeline does.
"""
from __future__ import annotations

from diffim.testing.contract import SubtractContract


class TestZogyContract(SubtractContract):
    plugin = "zogy"
