"""Windowed centroids (with calibrated errors) and adaptive moments of many sources at once."""
from __future__ import annotations

import numpy as np
import pytest
from diffim.centroids import windowedCentroids
from diffim.moments import adaptiveMoments


def _gaussians(rng, n, cov, flux, size=600, noise=2.0):
    """An image of ``n`` elliptical Gaussians on a grid, with white noise."""
    centres = np.array([(40 + 60 * (k % 9), 40 + 60 * (k // 9)) for k in range(n)], float)
    centres += rng.uniform(-0.5, 0.5, centres.shape)
    yy, xx = np.mgrid[:size, :size]
    inv = np.linalg.inv(np.array([[cov[0], cov[2]], [cov[2], cov[1]]]))
    norm = flux / (2 * np.pi * np.sqrt(np.linalg.det(np.linalg.inv(inv))))
    image = np.zeros((size, size))
    for cx, cy in centres:
        dx, dy = xx - cx, yy - cy
        image += norm * np.exp(-0.5 * (inv[0, 0] * dx * dx + 2 * inv[0, 1] * dx * dy
                                       + inv[1, 1] * dy * dy))
    return image + rng.normal(0, noise, image.shape), centres


def test_windowed_centroid_errors_are_calibrated():
    rng = np.random.default_rng(1)
    pulls = []
    for _ in range(4):
        image, centres = _gaussians(rng, 81, (4.0, 4.0, 0.0), 1500.0)
        start = np.rint(centres)
        found = windowedCentroids(image, start[:, 0], start[:, 1], 2.0,
                                  variance=np.full(image.shape, 4.0))
        assert not found.failed.any()
        pulls.append((found.x - centres[:, 0]) / found.xErr)
        pulls.append((found.y - centres[:, 1]) / found.yErr)
        assert found.xUnit == pytest.approx(found.xErr / 2.0)
    pulls = np.concatenate(pulls)
    assert abs(np.mean(pulls)) < 0.1 and np.std(pulls) == pytest.approx(1.0, abs=0.1)


def test_windowed_centroid_uses_only_its_light():
    rng = np.random.default_rng(2)
    image, centres = _gaussians(rng, 1, (4.0, 4.0, 0.0), 5000.0, size=80, noise=0.5)
    dipole = image - np.roll(image, 3, axis=1)            # a negative lobe 3 px to the right
    start = np.rint(centres[:, 0]), np.rint(centres[:, 1])
    clipped = windowedCentroids(dipole, *start, 2.0, clipNegative=True)
    positive = windowedCentroids(np.clip(dipole, 0.0, None), *start, 2.0)
    assert clipped.x == pytest.approx(positive.x) and clipped.y == pytest.approx(positive.y)
    # a bright neighbour in another footprint adds nothing
    yy, xx = np.mgrid[:80, :80]
    labels = np.where(np.hypot(xx - centres[0, 0], yy - centres[0, 1]) < 6, 1, 2)
    crowded = np.where(labels == 2, 1e6, image)
    alone = windowedCentroids(image, *start, 2.0, labels=labels, owner=[1])
    ignored = windowedCentroids(crowded, *start, 2.0, labels=labels, owner=[1])
    assert ignored.x == pytest.approx(alone.x, abs=1e-9)
    assert abs(alone.x[0] - centres[0, 0]) < 0.05
    lost = windowedCentroids(np.zeros((50, 50)), [25.0], [25.0], 2.0)
    assert lost.failed[0] and lost.x[0] == 25.0 and np.isnan(lost.xErr[0])


@pytest.mark.parametrize("fixCentre", [True, False])
def test_adaptive_moments_recover_an_elliptical_gaussian(fixCentre):
    rng = np.random.default_rng(4)
    cov = (6.0, 3.0, 1.2)
    image, centres = _gaussians(rng, 81, cov, 20000.0, noise=1.0)
    start = centres if fixCentre else np.rint(centres)
    result = adaptiveMoments(image, start[:, 0], start[:, 1], 2.0,
                             variance=np.full(image.shape, 1.0), fixCentre=fixCentre)
    assert not result.failed.any()
    assert np.median(result.ixx) == pytest.approx(cov[0], rel=0.01)
    assert np.median(result.iyy) == pytest.approx(cov[1], rel=0.01)
    assert np.median(result.ixy) == pytest.approx(cov[2], abs=0.03)
    assert np.median(result.flux) == pytest.approx(20000.0, rel=0.01)
    assert np.all(np.isfinite(result.fluxErr))
    if not fixCentre:
        assert np.max(np.hypot(result.x - centres[:, 0], result.y - centres[:, 1])) < 0.05


def test_adaptive_moments_fail_on_a_hot_pixel_and_on_empty_sky():
    image = np.zeros((60, 60))
    image[20, 20] = 1000.0
    result = adaptiveMoments(image, [20.0, 45.0], [20.0, 45.0], 2.0, fixCentre=False)
    assert list(result.failed) == [True, True]
    assert np.isnan(result.ixx).all() and list(result.x) == [20.0, 45.0]
