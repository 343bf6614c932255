"""Print wall time and peak memory of `diffim run` for each pipeline at 2048² and 4096².

Each size runs in a fresh child process so its peak resident memory is its own.
Simulation of the input pair is not timed. Compare figures only within one run
of this script: the machine is shared and noisy.

Usage: python benchmarks/run_time_memory.py [--sizes 2048 4096] [--pipelines FILE ...]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(size: int, workdir: Path, pipeline: Path) -> None:
    """Run the CLI in this process and print a JSON line with time and memory."""
    from diffim.cli import main

    args = ["run", str(pipeline), "--science", str(workdir / "science.fits"),
            "--template", str(workdir / "template.fits"), "-o", str(workdir / "out"),
            "--overwrite"]
    start = time.perf_counter()
    status = main(args)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"size": size, "status": status, "seconds": seconds, "peakMB": peak_mb}))


def parent(sizes: list[int], pipelines: list[Path]) -> None:
    print(f"diffim run: wall time and peak memory (cores: {os.cpu_count()})")
    print(f"{'pipeline':>16} {'size':>6} {'seconds':>9} {'peak GB':>8}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "diffim.cli", "simulate", "-o", tmp,
                            "--size", str(size), "--seed", "2"], check=True,
                           capture_output=True)
            for pipeline in pipelines:
                done = subprocess.run([sys.executable, __file__, "--child", str(size), tmp,
                                       "--pipelines", str(pipeline)], capture_output=True,
                                      text=True)
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
                label = f"{pipeline.stem:>16} {size:>6}"
                if done.returncode != 0 or not lines:
                    print(f"{label} failed: {done.stderr.strip().splitlines()[-1:]}")
                    continue
                figures = json.loads(lines[-1])
                print(f"{label} {figures['seconds']:>9.1f} {figures['peakMB'] / 1024:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--pipelines", type=Path, nargs="+",
                        default=[REPO / "pipelines" / f"{name}.yaml"
                                 for name in ("default", "zogy", "al-spatial")])
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "DIR"))
    options = parser.parse_args()
    if options.child:
        child(int(options.child[0]), Path(options.child[1]), options.pipelines[0])
    else:
        parent(options.sizes, options.pipelines)
