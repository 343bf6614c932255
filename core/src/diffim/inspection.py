"""Reading a finished run back: its metadata record, and a plain-text summary of it.

``diffim inspect OUTDIR`` prints :func:`inspectRun`; :mod:`diffim.report` uses the
same helpers to pick the PSF-matching entries out of the task metadata.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

#: The metadata file a run writes by default (``connections.metadata``).
METADATA_NAME = "metadata.yaml"

#: Top-level keys of a finished run's metadata record.
RECORD_KEYS = ("summary", "config")

#: diaSource kind -> the summary's count of it; each diaSource is one kind.
COUNT_KEYS = {"positive": "nPositive", "negative": "nNegative", "dipole": "nDipoles",
              "sky": "nSkySources"}

#: Task metadata about the PSF matching that carry no algorithm prefix.
KERNEL_KEYS = ("convolveTemplate", "templateCoverage", "templateMisalignment", "measuredOffset",
               "nKernelSources", "nControlSources")

#: Prefixes of PSF-matching metadata shared by every algorithm (besides the algorithm's name).
KERNEL_PREFIXES = ("psfMatching", "subtract.")

#: Suffix of the per-sample residual metrics of kernel and control stars.
SAMPLE_SUFFIXES = ("SampleResidualMean", "SampleResidualRms")


def _isRecord(value: Any) -> bool:
    """True if ``value`` looks like a finished run's metadata record."""
    return isinstance(value, dict) and all(key in value for key in RECORD_KEYS)


def _load(path: Path) -> Any:
    """The YAML document in ``path``; an unreadable file is an :class:`InputError`."""
    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the run metadata ({exc.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise InputError(f"{path}: not valid YAML ({problem}); expected the metadata.yaml "
                         "that `diffim run` writes") from None


def findMetadata(outdir: str | os.PathLike) -> Path:
    """The metadata file of the run whose outputs are in ``outdir``.

    Parameters
    ----------
    outdir : path
        A run's output directory.

    Returns
    -------
    path : Path
        ``outdir/metadata.yaml`` when it exists, else the one ``*.yaml`` file in
        ``outdir`` that holds a mapping with ``summary`` and ``config`` keys.

    Raises
    ------
    InputError
        If ``outdir`` is not a directory, or holds no such file, or several.
    """
    outdir = Path(outdir)
    if not outdir.is_dir():
        what = "is not a directory" if outdir.exists() else "does not exist"
        raise InputError(f"{outdir}: {what}; expected the output directory of a `diffim run`")
    default = outdir / METADATA_NAME
    if default.is_file():
        return default
    found = []
    for path in sorted(outdir.glob("*.yaml")):
        try:
            if path.is_file() and _isRecord(_load(path)):
                found.append(path)
        except InputError:
            continue
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise InputError(f"{outdir}: several run metadata files ({names}); expected one "
                         f"({METADATA_NAME})")
    if not found:
        raise InputError(f"{outdir}: no run metadata found; expected the {METADATA_NAME} "
                         "(or a *.yaml with 'summary' and 'config') of a finished `diffim run`")
    return found[0]


def readRecord(outdir: str | os.PathLike) -> tuple[Path, dict]:
    """The metadata file of the run in ``outdir`` and the record it holds.

    Raises
    ------
    InputError
        If there is no metadata file (:func:`findMetadata`), or it is not a
        finished run's record (a mapping with ``summary`` and ``config``).
    """
    path = findMetadata(outdir)
    record = _load(path)
    if not _isRecord(record):
        raise InputError(f"{path}: not a finished run's metadata; expected a mapping with "
                         f"{' and '.join(repr(key) for key in RECORD_KEYS)} from `diffim run`")
    return path, record


def countsByKind(record: dict) -> dict[str, int]:
    """Number of diaSources of each kind (positive, negative, dipole, sky) in ``record``."""
    summary = record.get("summary") or {}
    return {kind: int(summary.get(key) or 0) for kind, key in COUNT_KEYS.items()}


def diaSourceTotal(record: dict) -> int:
    """The number of diaSources in ``record``: the summary's, else the kinds' sum."""
    total = (record.get("summary") or {}).get("nDiaSources")
    return sum(countsByKind(record).values()) if total is None else int(total)


def qualityBlock(record: dict) -> dict:
    """The task metadata's ``quality`` block of ``record`` (empty when not recorded)."""
    return (record.get("metadata") or {}).get("quality") or {}


def runStatus(record: dict) -> tuple[str, list[str]]:
    """The run's status (``ok``, ``suspect``, or ``unknown`` when not recorded) and the
    reasons it is suspect: the summary's, else the quality block's."""
    summary, quality = record.get("summary") or {}, qualityBlock(record)
    status = str(summary.get("status") or quality.get("status") or "unknown")
    reasons = summary.get("reasons")
    return status, reasonList(quality.get("reasons") if reasons is None else reasons)


def reasonList(reasons: Any) -> list[str]:
    """Recorded reasons (a list, one text, or None) as a list of texts."""
    if reasons is None:
        return []
    return [str(reasons)] if isinstance(reasons, str) else [str(reason) for reason in reasons]


def stepSeconds(value: Any) -> float:
    """A step's recorded time in seconds, 0 when it is not a finite positive number."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def stepShares(timing: dict) -> tuple[list[tuple[str, Any, float]], float]:
    """Each step of ``timing`` (step -> seconds) as ``(step, recorded value, percent of the
    total)``, and the total seconds."""
    total = sum(stepSeconds(value) for value in timing.values())
    return [(str(step), value, 100.0 * stepSeconds(value) / total if total > 0 else 0.0)
            for step, value in timing.items()], total


def algorithmName(record: dict) -> str | None:
    """The PSF-matching (subtract) plugin of the run, or None when not recorded."""
    metadata = record.get("metadata") or {}
    subtract = (record.get("config") or {}).get("subtract")
    for name in (metadata.get("psfMatchingAlgorithm"),
                 subtract.get("plugin") if isinstance(subtract, dict) else None,
                 (record.get("provenance") or {}).get("DIFFALG")):
        if name:
            return str(name)
    return None


def _hasPrefix(key: str, prefix: str) -> bool:
    """True if ``key`` is ``prefix`` (any case) and then a new word, a dot or nothing.

    ``ALKernelSum`` and ``alKernelSum`` have the prefix ``al``; ``alignment`` has not.
    """
    if len(key) < len(prefix) or key[:len(prefix)].lower() != prefix.lower():
        return False
    rest = key[len(prefix):]
    return not rest or prefix[-1] in "._" or not rest[0].islower()


def isSampleMetric(key: str) -> bool:
    """True for the residual metrics of a star sample (kernel, control, DCR, variable)."""
    return key.endswith(SAMPLE_SUFFIXES)


def kernelFitEntries(record: dict) -> dict[str, Any]:
    """The task metadata entries about the PSF matching, in their recorded order.

    These are the entries named with the algorithm's prefix (``AL...`` for ``al``,
    ``zogy...``, ``gaussianMatch.`` ...), ``psfMatching...``, ``subtract.*``,
    the template coverage and misalignment, and the kernel and control star counts.
    """
    metadata = record.get("metadata") or {}
    algorithm = algorithmName(record)
    prefixes = KERNEL_PREFIXES + ((algorithm,) if algorithm else ())
    return {key: value for key, value in metadata.items()
            if key in KERNEL_KEYS or any(_hasPrefix(key, prefix) for prefix in prefixes)}


def formatSize(size: int) -> str:
    """A file size for people: ``512 B``, ``3.0 KiB``, ``1.2 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def formatNumber(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or ``not measured`` when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def outputFiles(record: dict, outdir: str | os.PathLike) -> list[tuple[str, str, int | None]]:
    """The files a run wrote, each ``(kind, file name, size in bytes or None if missing)``.

    The files are those of ``record["outputs"]`` when the run recorded them (the
    kind is its output kind), else the files in ``outdir`` (with an empty kind).
    """
    outdir = Path(outdir)
    outputs = record.get("outputs")
    if isinstance(outputs, dict):
        listed = [(str(kind), str(name)) for kind, name in outputs.items() if name]
    else:
        listed = [("", path.name) for path in sorted(outdir.iterdir())
                  if path.is_file() and not path.name.startswith(".")]
    files = []
    for kind, name in listed:
        path = outdir / name
        files.append((kind, name, path.stat().st_size if path.is_file() else None))
    return files


def _rows(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """``rows`` as aligned ``name  value`` lines."""
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{indent}{name:<{width}}  {value}".rstrip() for name, value in rows]


def _statusLine(record: dict) -> str:
    status, reasons = runStatus(record)
    return f"{status} ({'; '.join(reasons)})" if reasons else status


def _countLine(record: dict) -> str:
    counts = countsByKind(record)
    total = diaSourceTotal(record)
    names = {"dipole": ("dipole", "dipoles"), "sky": ("sky source", "sky sources")}
    parts = [f"{n} {names[k][n != 1] if k in names else k}" for k, n in counts.items()]
    line = f"{total} ({', '.join(parts)})"
    if sum(counts.values()) != total:
        line += f"; the kinds add up to {sum(counts.values())}"
    return line


def _timingLines(record: dict) -> list[str]:
    timing = (record.get("metadata") or {}).get("timing") or {}
    if not timing:
        return ["time per step: not recorded"]
    shares, total = stepShares(timing)
    rows = [(step, f"{stepSeconds(seconds):8.3f} s" + (f"  {share:5.1f} %" if total > 0 else ""))
            for step, seconds, share in shares]
    rows.append(("all steps", f"{total:8.3f} s"))
    return ["time per step:"] + _rows(rows)


def _fileLines(record: dict, outdir: Path) -> list[str]:
    files = outputFiles(record, outdir)
    if not files:
        return ["files written: none"]
    rows = []
    for kind, name, size in files:
        label = f"{kind}: {name}" if kind else name
        rows.append((label, "MISSING" if size is None else formatSize(size)))
    return ["files written:"] + _rows(rows)


def inspectRun(outdir: str | os.PathLike) -> str:
    """A finished run's summary as text, for ``diffim inspect OUTDIR``.

    Parameters
    ----------
    outdir : path
        The run's output directory (holding its metadata file, see :func:`findMetadata`).

    Returns
    -------
    text : str
        The status (and why when suspect), the diaSource counts by kind and their
        total, the noise ratio, the wall time and time per step, the PSF-matching
        algorithm, the inputs and the files written with their sizes (a listed
        file that is not there is marked ``MISSING``). No trailing newline.

    Raises
    ------
    InputError
        If ``outdir`` holds no finished run's metadata.
    """
    outdir = Path(outdir)
    path, record = readRecord(outdir)
    summary = record["summary"] or {}
    quality = qualityBlock(record)
    algorithm = algorithmName(record) or "not recorded"
    if quality.get("kernelSum") is not None:
        algorithm += f" (kernel sum {formatNumber(quality['kernelSum'], 4)})"
    head = [("status", _statusLine(record)),
            ("diaSources", _countLine(record)),
            ("noise ratio", f"{formatNumber(summary.get('noiseRatio'))} "
                            "(difference noise / expected)"),
            ("wall time", f"{formatNumber(summary.get('wallSeconds'), 1)} s"),
            ("algorithm", algorithm),
            ("date", str(record.get("date") or "not recorded"))]
    lines = [f"run in {outdir} ({path.name})"] + _rows(head, indent="")
    inputs = [(str(key), str(value)) for key, value in (record.get("inputs") or {}).items()
              if value is not None]
    lines += ["inputs:"] + (_rows(inputs) if inputs else ["  not recorded"])
    lines += _timingLines(record) + _fileLines(record, outdir)
    return "\n".join(lines)
