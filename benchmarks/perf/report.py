"""The benchmark's printed tables, ratios, machine description, JSON and RESULTS.md."""
from __future__ import annotations

import math
import os
import platform
import pstats
from importlib import metadata
from io import StringIO
from pathlib import Path

#: A pipeline meets the issue's memory target when its peak stays within this (GB).
MEMORY_TARGET_GB = 2.0


def machine() -> dict:
    """CPU model, cores, memory, load average (1/5/15 min), Python and package versions."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = float("nan")
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) / 1024 ** 2
    versions = {}
    for dist in ("numpy", "scipy", "astropy", "diffim"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "missing"
    return {"cpu": cpu, "cores": os.cpu_count(), "memoryGB": round(memory, 1),
            "loadAverage": [round(x, 1) for x in os.getloadavg()],
            "python": platform.python_version(), **versions}


def _num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mainRows(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: one row per run."""
    header = ["pair", "method", "wall s", "outside s", "cpu/wall", "peak GB", "noise ratio",
              "compl S/N≥10", "false/Mpix", "common compl", "common false/Mpix", "note"]
    rows = []
    for r in records:
        f = r["figures"]
        note = r["error"] or _note(r)
        rows.append([f"{r['kind']} {r['size']}²", r["method"], _num(r["wall"], 1),
                     _num(f.get("outside"), 1), _num(r["cpuPerWall"]), _num(r["peakGB"]),
                     _num(f.get("noiseRatio"), 3), _num(f.get("completeness"), 3),
                     _num(f.get("falsePerMpix")), _num(f.get("common_completeness"), 3),
                     _num(f.get("common_falsePerMpix")), note])
    return header, rows


def _note(record: dict) -> str:
    f = record["figures"]
    parts = []
    if f.get("status"):
        parts.append(f"status {f['status']}")
    if f.get("startup") is not None:
        parts.append(f"start-up {f['startup']:.1f} s")
    if f.get("subtractSeconds") is not None:
        parts.append(f"subtraction call {f['subtractSeconds']:.1f} s")
    if f.get("warpSeconds") is not None:
        parts.append(f"+ warp {f['warpSeconds']:.1f} s (not in wall)")
    return "; ".join(parts)


def stepRows(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Per-step table of the diffim runs: wall seconds (cpu/wall) per step and run."""
    runs = [r for r in records if r["steps"]]
    steps: list[str] = []
    for r in runs:
        steps += [s for s in r["steps"] if s not in steps]
    header = ["step"] + [f"{r['method'].split()[-1]} {r['kind']} {r['size']}²" for r in runs]
    rows = []
    for step in steps + ["outside steps"]:
        row = [step]
        for r in runs:
            if step == "outside steps":
                row.append(_num(r["figures"].get("outside"), 2))
                continue
            s = r["steps"].get(step)
            if s is None:
                row.append("–")
            elif s.get("cpu") is None or not s["wall"] > 0:
                # a step that ran beside others records only its wait, often 0 s
                row.append(_num(s["wall"], 2))
            else:
                row.append(f"{s['wall']:.2f} ({s['cpu'] / s['wall']:.2f})")
        rows.append(row)
    return header, rows


def _find(records: list[dict], method: str, kind: str, size: int) -> dict | None:
    for r in records:
        if (r["method"], r["kind"], r["size"]) == (method, kind, size) and not r["error"]:
            return r
    return None


def ratios(records: list[dict]) -> list[tuple[str, float]]:
    """Wall-time ratios: 4096²/2048², crowded/default at 2048², diffim vs HOTPANTS and sfft."""
    out = []
    methods = list(dict.fromkeys(r["method"] for r in records))
    for method in methods:
        for name, a, b in (("4096²/2048² (default)", ("default", 4096), ("default", 2048)),
                           ("crowded/default (2048²)", ("crowded", 2048), ("default", 2048))):
            ra, rb = _find(records, method, *a), _find(records, method, *b)
            if ra and rb:
                out.append((f"{method}: {name}", ra["wall"] / rb["wall"]))
    pairs = list(dict.fromkeys((r["kind"], r["size"]) for r in records))
    for ours in ("diffim default", "diffim zogy"):
        for peer in ("hotpants", "sfft"):
            for kind, size in pairs:
                ra, rb = _find(records, ours, kind, size), _find(records, peer, kind, size)
                if ra and rb:
                    out.append((f"{ours} / {peer} wall ({kind} {size}²)", ra["wall"] / rb["wall"]))
    return out


def memoryVerdicts(records: list[dict], size: int = 8192) -> list[str]:
    """For each diffim run at ``size``: whether it completed within the 2 GB target."""
    lines = []
    for r in records:
        if r["size"] != size or not r["method"].startswith("diffim"):
            continue
        done = "completed" if not r["error"] else f"failed ({r['error']})"
        within = "within" if r["peakGB"] <= MEMORY_TARGET_GB else "NOT within"
        lines.append(f"{r['method']} {r['kind']} {size}²: {done}, peak {r['peakGB']:.2f} GB, "
                     f"{within} {MEMORY_TARGET_GB:.0f} GB")
    return lines


def profileTop(path: Path, count: int = 15) -> str:
    """The ``count`` functions of a cProfile dump with the most own (tottime) seconds."""
    stream = StringIO()
    stats = pstats.Stats(str(path), stream=stream)
    stats.strip_dirs().sort_stats("tottime").print_stats(count)
    lines = stream.getvalue().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln for ln in lines[start:] if ln.strip())


def textTable(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return "\n".join([*lines, *(fmt.format(*row) for row in rows)])


def markdownTable(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])
