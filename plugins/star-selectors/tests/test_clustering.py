"""One-dimensional k-means on widths and the refinement of the star cluster."""
import numpy as np

from diffim_star_selectors.clustering import kMeansWidths, refineCluster


def test_star_cluster_is_found_among_galaxies_and_outliers():
    rng = np.random.default_rng(3)
    stars = rng.normal(2.0, 0.03, 80)
    galaxies = rng.uniform(3.0, 7.0, 60)
    narrow = rng.uniform(0.2, 0.5, 3)                 # a few unflagged cosmic rays
    widths = np.concatenate([stars, galaxies, narrow])
    centres, clusterId = kMeansWidths(widths, 0.15)
    assert np.all(np.diff(centres[np.isfinite(centres)]) > 0)
    members = refineCluster(widths, clusterId == 0, 2.0, 0.15)
    assert not members[80:].any()
    assert members[:80].mean() >= 0.9
    assert abs(np.median(widths[members]) - 2.0) < 0.01


def test_refinement_clips_outliers_of_a_loose_cluster():
    rng = np.random.default_rng(4)
    widths = np.concatenate([rng.normal(2.0, 0.02, 50), [2.5, 2.6, 1.4]])
    members = refineCluster(widths, np.ones(len(widths), dtype=bool), 2.0, 0.15)
    assert not members[50:].any() and members[:50].mean() > 0.85


def test_small_cluster_is_left_alone():
    widths = np.array([2.0, 2.1, 5.0, 2.05])
    inCluster = np.array([True, True, True, False])
    np.testing.assert_array_equal(refineCluster(widths, inCluster, 2.0, 0.15), inCluster)
