"""Time and peak memory of the decorrelation on simulated pairs.

Usage: python bench_decorrelate.py [SIZE ...]   (default 2048 4096)

For each size, a pair with a PSF that varies by 30% across the field is
simulated (``diffim.testing.simulate.simulatePair``, template on the science grid),
subtracted with the ``al`` plugin (template convolved), and decorrelated for
the whole image (with and without completeVarPlanePropagation) and on the
spatial grid (default config); then, as in score mode, the science image is
pre-convolved with its PSF, subtracted again, and the likelihood image turned
into the score image (whole image and grid). Time is the shortest wall time of three untraced
calls; peak memory is the largest traced allocation (tracemalloc, which sees
numpy's arrays) during one more call, beyond what was allocated before it.
"""
from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np

from diffim.preconvolve import preConvolutionKernel, preConvolve
from diffim.sanitize import sanitize
from diffim.testing.simulate import simulatePair
from diffim import plugins

from diffim_decorrelate import DecorrelateALKernel, DecorrelateALKernelConfig

AlardLuptonSubtraction = plugins.load("subtract", "al")
ImagePsfMatchConfig = AlardLuptonSubtraction.ConfigClass


def measure(call):
    """Run ``call()`` four times; return its result, best wall time (s), peak extra memory (MiB)."""
    seconds = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = call()
        seconds = min(seconds, time.perf_counter() - start)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    call()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return result, seconds, peak / 2 ** 20


def benchmark(size: int) -> None:
    science, template, _ = simulatePair(size=size, psfVariation=0.3, offset=(0.0, 0.0), seed=5)
    science, template = sanitize(science, "science"), sanitize(template, "template")
    alConfig = ImagePsfMatchConfig()
    alConfig.freeze()
    subtract = AlardLuptonSubtraction().diffim_subtract
    subtraction = subtract(science, template, alConfig, True, None, np.random.default_rng(0))
    preConvKernel = preConvolutionKernel(science, useGaussian=False)
    likelihood = subtract(preConvolve(science, preConvKernel), template, alConfig, True, None,
                          np.random.default_rng(0))
    plugin = DecorrelateALKernel()
    for mode, spatial, complete, score in (
            ("single", False, False, False), ("single, complete", False, True, False),
            ("spatial", True, False, False), ("score", False, False, True),
            ("score, spatial", True, False, True)):
        config = DecorrelateALKernelConfig(completeVarPlanePropagation=complete)
        config.freeze()
        result = likelihood if score else subtraction
        kernel = preConvKernel if score else None
        output, seconds, peak = measure(lambda: plugin.diffim_decorrelate(
            science, template, result, config, spatial, kernel))
        print(f"{size}x{size} {mode:17s} {seconds:6.2f} s  peak {peak:5.0f} MiB  "
              f"kernel {result.psfMatchingKernel.kernelSize} px  psf {output.psf!r}")


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["2048", "4096"]:
        benchmark(int(arg))
