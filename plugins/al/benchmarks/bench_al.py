"""Time the al subtraction and measure its memory on synthetic images.

Usage::

    python plugins/al/benchmarks/bench_al.py 2048 4096

For each size it simulates a pair (500 stars per 1024x1024, the test fixture's
recipe), then runs ``diffim_subtract`` a few times and prints the best wall time,
the largest peak of resident memory above the level before a call (sampled every
5 ms), and the fit diagnostics. ``--convolve-science`` swaps the seeing so that the
science image (then the narrower PSF) is convolved in plain convolution mode.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from al_testing import makePair  # noqa: E402

from diffim_al import AlardLuptonSubtraction, ImagePsfMatchConfig  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Samples the resident set size in a thread; ``peak`` is the largest seen."""

    def __enter__(self) -> "PeakMemory":
        self.start = _rss()
        self.peak = self.start
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _rss())


def run(size: int, repeats: int, convolveTemplate: bool) -> None:
    # Convolving the science image needs the template to have the wider PSF (else the
    # fit runs in deconvolution mode): swap the seeing for that case.
    sigmas = (1.6, 2.08) if convolveTemplate else (2.08, 1.6)
    science, template, _ = makePair(size, nStars=int(500 * (size / 1024) ** 2), seed=7,
                                    templateSigma=sigmas[0], scienceSigma=sigmas[1])
    config = ImagePsfMatchConfig()
    task = AlardLuptonSubtraction()
    times, extra = [], 0.0
    for _ in range(repeats):
        gc.collect()
        with PeakMemory() as memory:
            start = time.perf_counter()
            result = task.diffim_subtract(science, template, config, convolveTemplate, None,
                                          np.random.default_rng(0))
            times.append(time.perf_counter() - start)
        extra = max(extra, (memory.peak - memory.start) / 2 ** 20)
        total = memory.peak / 2 ** 20
        del result
    meta = task.diffim_subtract(science, template, config, convolveTemplate, None,
                                np.random.default_rng(0)).metadata
    print(f"{size}x{size} convolveTemplate={convolveTemplate}: best {min(times):.2f} s "
          f"(all {', '.join(f'{t:.2f}' for t in times)}), peak RSS +{extra:.0f} MiB "
          f"(total {total:.0f} MiB), candidates used {meta['ALCandidatesUsed']}, "
          f"kernel {meta['ALKernelSize']} px, kernelSum {meta['ALKernelSum']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2048, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--convolve-science", action="store_true")
    args = parser.parse_args()
    for size in args.sizes:
        run(size, args.repeats, not args.convolve_science)


if __name__ == "__main__":
    main()
