"""Time, CPU, memory and quality of diffim's pipelines and of peer codes on simulated pairs.

For each size and kind a seeded pair is simulated (or reused) under ``--workdir``:
``default`` at the simulator's star density with 600 transients per 4096², ``crowded``
with 5000 stars and 250 transients per 2048² (both scaled by area). Each diffim pipeline
runs through its CLI (``python -m diffim.cli -q run PIPELINE ... --overwrite``) in a fresh
child process; each peer (HOTPANTS, sfft's CPU backend, properimage's ZOGY) runs in its
own child process and environment on the same pair, with the template warped onto the
science grid beforehand by diffim's warper (timed apart, not in the peers' wall time).

Per run: wall time of the child, time outside the steps (the run's own wall minus its
steps: reading, characterisation, writing), CPU/wall, peak memory (the child's
``ru_maxrss``), and for diffim the wall and CPU/wall of every step (metadata ``timing``
and ``cpuTiming``). Quality: noise ratio (robust width of D/sqrt(V) on source-free pixels,
V the method's own variance: diffim's variance plane, HOTPANTS's noise image, 1 for
properimage's unit-noise ZOGY D, none from sfft), completeness at true S/N >= 10 and false
detections per Mpix, from diffim's diaSources and from one common detector run on every
difference alike (see ``benchmarks/perf/quality.py``).

Usage:
    python benchmarks/performance.py [--sizes 1024 2048 4096] [--kinds default crowded]
        [--pipelines default zogy] [--workdir DIR] [--peers | --no-peers] [--peer-max-size N]
        [--repeat N]
        [--profile] [--write-results] [--hotpants-source DIR]

Compare figures only within one run of this script: the machine may be shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf import report  # noqa: E402
from perf.child import runChild  # noqa: E402
from perf.pairs import ensurePair, ensurePeerInputs  # noqa: E402
from perf.peers import PEERS  # noqa: E402
from perf.runs import PairContext, diffimCommand, peerRecord, runDiffim  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
RESULTS_JSON = REPO / "benchmarks" / "RESULTS.json"
DEFAULT_WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / "diffim-bench"


def parseArguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--kinds", nargs="+", default=["default", "crowded"],
                        choices=["default", "crowded"])
    parser.add_argument("--pipelines", nargs="+", default=["default", "zogy"],
                        help="pipeline names under pipelines/ or YAML paths")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="pairs, peer builds and environments, run outputs (reused)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--peer-list", nargs="+", default=list(PEERS), choices=PEERS)
    parser.add_argument("--peer-max-size", type=int, default=4096,
                        help="largest pair size the peers run on (sfft and properimage "
                             "exhaust memory or time beyond 4096²)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    parser.add_argument("--profile", action="store_true",
                        help="profile the 4096² default-density AL run (an extra run)")
    parser.add_argument("--write-results", action="store_true",
                        help=f"write {RESULTS.relative_to(REPO)} and RESULTS.json")
    parser.add_argument("--hotpants-source", type=Path,
                        help="HOTPANTS source folder or git repository (default: git clone)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per child")
    parser.add_argument("--memory-limit-gb", type=float, default=8.0,
                        help="address-space cap of every child, to spare a shared machine")
    return parser.parse_args(argv)


def pipelinePath(name: str) -> Path:
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else REPO / "pipelines" / f"{name}.yaml"


def best(runs: list) -> object:
    """The successful run with the smallest wall time (else the first)."""
    ok = [r for r in runs if not r.error]
    return min(ok, key=lambda r: r.wall) if ok else runs[0]


def benchmarkPair(options: argparse.Namespace, kind: str, size: int) -> list[dict]:
    """Every diffim pipeline and peer on the pair of ``kind`` and ``size``."""
    pair, simSeconds = ensurePair(options.workdir, kind, size)
    warp = ensurePeerInputs(pair)
    print(f"\n== {pair.label}: " + ("reused" if simSeconds is None else
                                    f"simulated in {simSeconds:.1f} s")
          + ("" if warp is None else f"; peer template warped in {warp:.2f} s"), flush=True)
    context = PairContext.load(pair)
    records = []
    runRoot = options.workdir / "runs" / f"{kind}-{size}"
    for name in options.pipelines:
        pipeline = pipelinePath(name)
        runs = [runDiffim(pipeline, context, runRoot / pipeline.stem, options.timeout,
                          options.memory_limit_gb) for _ in range(options.repeat)]
        records.append(_announce(best(runs)))
    peers = options.peer_list if options.peers and size <= options.peer_max_size else []
    for name in peers:
        runs = [peerRecord(name, context, options.workdir, runRoot / name, options.timeout,
                           options.hotpants_source, options.memory_limit_gb)
                for _ in range(options.repeat)]
        records.append(_announce(best(runs)))
    return records


def _announce(record) -> dict:
    data = record.asDict()
    state = f"failed: {record.error}" if record.error else \
        f"{record.wall:.1f} s, cpu/wall {record.cpuPerWall:.2f}, peak {record.peakGB:.2f} GB"
    print(f"  {record.method:<16} {state}", flush=True)
    return data


def profileRun(options: argparse.Namespace) -> str | None:
    """cProfile of the AL pipeline on the 4096² default pair: its top entries by own time."""
    pair, _ = ensurePair(options.workdir, "default", 4096)
    runDir = options.workdir / "runs" / "profile"
    stats = runDir / "al-4096.prof"
    command = diffimCommand(pipelinePath("default"), pair, runDir / "out")
    command[1:1] = ["-m", "cProfile", "-o", str(stats)]
    child = runChild(command, runDir, "profile", options.timeout)
    if child.returncode != 0:
        print(f"profile run failed: {child.reason()}")
        return None
    return report.profileTop(stats)


def render(results: dict) -> tuple[str, str]:
    """The plain-text report and the Markdown body of RESULTS.md."""
    records = results["runs"]
    text, md = [], []
    m = results["machine"]
    load = "/".join(str(x) for x in m.get("loadAverage", []))
    machineLine = (f"{m['cpu']}, {m['cores']} cores, {m['memoryGB']} GB, load average {load} "
                   f"at the end; Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, "
                   f"astropy {m['astropy']}")
    text.append(f"machine: {machineLine}")
    md.append(f"Machine: {machineLine}. Command: `{results['command']}` "
              f"({results['date']}, {results['seconds'] / 60:.0f} min).")
    for title, (header, rows) in (("Runs", report.mainRows(records)),
                                  ("diffim steps: wall s (cpu/wall)", report.stepRows(records))):
        if len(header) < 2:
            continue
        text += ["", title, report.textTable(header, rows)]
        md += ["", f"## {title}", "", report.markdownTable(header, rows)]
    ratioLines = [f"{name}: {value:.2f}" for name, value in results["ratios"]]
    if ratioLines:
        text += ["", "Ratios (wall)", *ratioLines]
        md += ["", "## Ratios (wall time)", "", *(f"- {line}" for line in ratioLines)]
    if results["memory8192"]:
        text += ["", "8192²", *results["memory8192"]]
        md += ["", "## 8192²", "", *(f"- {line}" for line in results["memory8192"])]
    if results.get("profile"):
        text += ["", "cProfile, AL 4096² default, top by own time", results["profile"]]
        md += ["", "## cProfile of the AL run, 4096² default density (top by own time)", "",
               "```", results["profile"], "```"]
    return "\n".join(text), "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    options = parseArguments(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = []
    for size in options.sizes:
        for kind in options.kinds:
            records += benchmarkPair(options, kind, size)
    results = {"machine": report.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime()),
               "command": " ".join(["python", "benchmarks/performance.py",
                                    *(argv if argv is not None else sys.argv[1:])]),
               "runs": records, "ratios": report.ratios(records),
               "memory8192": report.memoryVerdicts(records)}
    if options.profile:
        results["profile"] = profileRun(options)
    results["seconds"] = time.perf_counter() - start
    text, markdown = render(results)
    print("\n" + text)
    (options.workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if options.write_results:
        RESULTS_JSON.write_text(json.dumps(results, indent=1, default=str) + "\n")
        header = RESULTS.read_text().split("<!-- results -->")[0] if RESULTS.exists() else ""
        RESULTS.write_text((header or "# Benchmark results\n\n") + "<!-- results -->\n\n"
                           + markdown + "\n")
        print(f"\nwrote {RESULTS.relative_to(REPO)} and {RESULTS_JSON.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
