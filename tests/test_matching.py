"""Cross-matching in pixels and on the sky; nearest-neighbour distances."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.matching import matchPixels, matchSky, nearestDistance


def test_three_methods_on_crowded_positions():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 1000, (2, 3000))
    shuffled = rng.permutation(3000)
    x2 = x[shuffled] + rng.normal(0, 0.1, 3000)
    y2 = y[shuffled] + rng.normal(0, 0.1, 3000)
    for method in ("nearest", "mutual", "oneToOne"):
        match = matchPixels(x, y, x2, y2, 1.0, method)
        right = shuffled[match.index2] == match.index1
        assert right.mean() > 0.998 and len(match) > 2990, method
        assert np.all(match.distance <= 1.0)
    # two sources near one reference: nearest pairs both, the others one
    one = matchPixels([0.0, 0.5], [0.0, 0.0], [0.1], [0.0], 1.0, "nearest")
    assert list(one.index1) == [0, 1] and list(one.index2) == [0, 0]
    for method in ("mutual", "oneToOne"):
        assert list(matchPixels([0.0, 0.5], [0.0, 0.0], [0.1], [0.0], 1.0, method).index1) == [0]


def test_sky_matches_across_ra_zero_and_near_the_pole():
    ra1 = np.array([359.9999, 10.0, 0.0])
    dec1 = np.array([0.0, 89.9999, -30.0])
    ra2 = np.array([0.0001, 190.0, 0.0])
    dec2 = np.array([0.0, 89.9999, -30.0 + 2.0 / 3600])
    match = matchSky(ra1, dec1, ra2, dec2, 1.0, "oneToOne")
    assert list(match.index1) == [0, 1]
    assert match.distance == pytest.approx([0.72, 0.72], abs=0.01)
    none = matchSky(ra1, dec1, [np.nan], [np.nan], 5.0)
    assert len(none) == 0


def test_nearest_distance_to_self_and_to_others():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [100.0, 0.0], [np.nan, 1.0]])
    assert nearestDistance(points) == pytest.approx([5.0, 5.0, np.hypot(97, 4), np.inf])
    peaks = np.array([[0.5, 0.0], [10.0, 0.0]])
    distance = nearestDistance(points[:3], peaks, ignoreWithin=1.0)
    assert distance == pytest.approx([10.0, np.hypot(2.5, 4), 90.0])


def test_empty_lists_match_nothing():
    none = np.empty((0, 2))
    assert len(matchPixels([], [], [1.0], [2.0], 1.0)) == 0
    assert len(matchPixels([1.0], [2.0], [], [], 1.0, "oneToOne")) == 0
    assert len(matchSky(np.empty(0), np.empty(0), [10.0], [20.0], 1.0)) == 0
    assert nearestDistance(none).shape == (0,)
    assert nearestDistance(np.array([[0.0, 0.0]]), none).tolist() == [np.inf]
