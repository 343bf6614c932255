"""The subtraction is byte-identical for any number of threads.

Its stamp fits run in chunks of 128 candidates on as many threads as the run's FFT
workers, and its convolution terms two at a time; small cells make every candidate
active, so the fit spans several chunks.
"""
from __future__ import annotations

import numpy as np
from diffim.threads import limitThreads

from al_testing import subtract


def test_one_and_two_threads_give_identical_results(pair):
    science, template, _ = pair
    results = []
    for threads in (1, 2):
        with limitThreads(threads):
            results.append(subtract(science, template, sizeCellX=32, sizeCellY=32))
    one, two = results
    assert one.metadata["ALCandidatesUsed"] > 128
    for plane in ("image", "variance", "mask"):
        first = getattr(one.subtractedExposure, plane)
        second = getattr(two.subtractedExposure, plane)
        assert first.tobytes() == second.tobytes(), plane
    assert np.array_equal(one.psfMatchingKernel.components, two.psfMatchingKernel.components)
    assert one.metadata == two.metadata
