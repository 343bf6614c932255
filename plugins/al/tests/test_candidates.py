"""Candidate detection, stamps and cells."""
from __future__ import annotations

import numpy as np

from diffim_al import ImagePsfMatchConfig
from diffim_al.candidates import BAD, UNFIT, KernelCandidates, detectStars, makeCandidates


def test_detection_finds_the_stars(pair):
    science, _, truth = pair
    bad = np.zeros(science.shape, dtype=bool)
    x, y = detectStars(science.image, science.variance, bad, science.psf.at(0, 0),
                       ImagePsfMatchConfig())
    bright = np.flatnonzero((truth.scienceFlux > 2e4) & (truth.x > 20) & (truth.x < 492)
                            & (truth.y > 20) & (truth.y < 492))
    distance = np.hypot(x[None, :] - truth.x[bright, None], y[None, :] - truth.y[bright, None])
    isolated = np.sort(np.hypot(truth.x[bright, None] - truth.x[None, :],
                                truth.y[bright, None] - truth.y[None, :]), axis=1)[:, 1] > 15
    assert np.mean(distance.min(axis=1)[isolated] < 1.0) > 0.95
    assert len(x) < len(truth.x) + len(truth.transientX)


def test_detection_threshold_and_footprint_limits_act(pair):
    science, _, _ = pair
    bad = np.zeros(science.shape, dtype=bool)
    psf = science.psf.at(0, 0)
    default = detectStars(science.image, science.variance, bad, psf, ImagePsfMatchConfig())[0]
    strict = detectStars(science.image, science.variance, bad, psf,
                         ImagePsfMatchConfig(detThreshold=100.0))[0]
    small = detectStars(science.image, science.variance, bad, psf,
                        ImagePsfMatchConfig(fpNpixMax=40))[0]
    assert len(strict) < 0.7 * len(default)
    assert len(small) < 0.7 * len(default)
    masked = bad.copy()
    masked[:, :256] = True
    half = detectStars(science.image, science.variance, masked, psf, ImagePsfMatchConfig())[0]
    assert np.all(half >= 256)


def test_stamps_with_bad_pixels_are_dropped():
    image = np.ones((200, 200), dtype=np.float32)
    reject = np.zeros((200, 200), dtype=bool)
    reject[100, 100] = True
    x = np.array([100.2, 150.0, 40.0, 3.0, 250.0])
    y = np.array([99.7, 150.0, 40.0, 3.0, 10.0])
    candidates, nMasked = makeCandidates(x, y, 10, reject, image, image, ImagePsfMatchConfig())
    assert nMasked == 1
    np.testing.assert_array_equal(candidates.x, [150, 40, 3])
    np.testing.assert_array_equal(candidates.x0, [140, 30, 0])
    assert candidates.stampSize == 21


def test_cells_use_the_best_candidates_and_replace_rejected_ones():
    n = 6
    candidates = KernelCandidates(
        x=np.arange(n), y=np.zeros(n, dtype=int), x0=np.zeros(n, dtype=int),
        y0=np.zeros(n, dtype=int), stampSize=5, rank=np.array([1.0, 5.0, 3.0, 2.0, 9.0, 4.0]),
        cell=np.array([0, 0, 0, 0, 1, 1]), nPerCell=2, status=np.full(n, UNFIT, dtype=np.int8))
    np.testing.assert_array_equal(candidates.active(), [1, 2, 4, 5])
    candidates.reject(np.array([1]))
    np.testing.assert_array_equal(candidates.active(), [2, 3, 4, 5])
    candidates.reject(np.array([2, 3, 4]))
    np.testing.assert_array_equal(candidates.active(), [0, 5])
    assert candidates.nBad == 4 and candidates.status[1] == BAD

