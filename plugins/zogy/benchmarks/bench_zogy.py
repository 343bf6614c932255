"""Time the zogy subtraction and measure its memory on simulated pairs.

Usage::

    python plugins/zogy/benchmarks/bench_zogy.py 2048 4096 [--grid] [--repeats 3]

For each size it simulates a pair with :func:`diffim.testing.simulate.simulatePair`
(template already on the science grid), sanitises it as the task does, and runs
``diffim_subtract`` a few times. It prints the best wall time and the peak
resident memory above the level before the call (sampled every 2 ms), with the
main diagnostics.
"""
from __future__ import annotations

import argparse
import gc
import os
import threading
import time

import numpy as np

from diffim.sanitize import sanitize
from diffim.testing.simulate import simulatePair
from diffim_zogy import ZogyConfig, ZogySubtraction


def residentBytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class MemorySampler:
    """Context manager recording the highest resident size seen while it is open."""

    def __enter__(self) -> "MemorySampler":
        self.baseline = residentBytes()
        self.highest = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.highest = max(self.highest, residentBytes())
            self._stop.wait(0.002)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.highest = max(self.highest, residentBytes())

    @property
    def extraMiB(self) -> float:
        return (self.highest - self.baseline) / 2 ** 20


def benchmark(size: int, repeats: int, grid: bool) -> None:
    science, template, _ = simulatePair(size=size, offset=(0.0, 0.0), seed=3,
                                        psfVariation=0.3 if grid else 0.0)
    science = sanitize(science, "science")
    template = sanitize(template, "template")
    config = ZogyConfig(doSpatialGrid=grid)
    config.freeze()
    plugin = ZogySubtraction()
    times, extra = [], []
    for _ in range(repeats):
        gc.collect()
        with MemorySampler() as memory:
            start = time.perf_counter()
            result = plugin.diffim_subtract(science, template, config, True, None,
                                            np.random.default_rng(0))
            times.append(time.perf_counter() - start)
        extra.append(memory.extraMiB)
        meta = result.metadata
        del result
    print(f"{size}x{size} doSpatialGrid={grid}: best {min(times):.2f} s "
          f"(all {', '.join(f'{t:.2f}' for t in times)}), peak memory +{max(extra):.0f} MiB "
          f"over the inputs; cells {meta['zogyGridCells']}, kernel radius "
          f"{meta['zogyKernelRadius']}, score radius {meta['zogyScoreKernelRadius']}, "
          f"Fourier floor {meta['zogyFourierFloor']:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2048, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="doSpatialGrid with a 30%% PSF "
                        "width variation across the image")
    args = parser.parse_args()
    for size in args.sizes:
        benchmark(size, args.repeats, args.grid)


if __name__ == "__main__":
    main()
