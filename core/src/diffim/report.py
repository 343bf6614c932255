"""report.html: one self-contained page that shows what a run did and how well.

The page needs no network and no JavaScript: the pictures are embedded as
``data:`` URIs, the only style is the small inline CSS block below, and a
Content-Security-Policy forbids the browser from loading anything else. Every
text taken from the run record (inputs, config, plugin metadata) is HTML-escaped.
"""
from __future__ import annotations

import base64
import math
import os
from html import escape
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_write
from .inspection import (algorithmName, countsByKind, diaSourceTotal, formatNumber,
                         isSampleMetric, kernelFitEntries, qualityBlock, reasonList,
                         runStatus, stepSeconds, stepShares)

#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Most items of a list shown in a table cell; longer lists are cut with a count.
MAX_LIST_ITEMS = 12

#: Nothing but inline styles and data: images may be used by the page.
CONTENT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

#: The picture sections: kind, heading, what it shows, the option that makes it.
PICTURES = {
    "quicklook": ("Quick look", "science, matched template, difference and significance, "
                                "diaSources circled by kind", "--quicklook"),
    "gallery": ("Gallery", "science, template and difference stamps of the diaSources of "
                           "highest S/N", "--cutouts"),
}

#: Task metadata shown in sections of their own, not among the other entries.
OWN_SECTIONS = ("timing", "cpuTiming", "quality")

STYLE = """
body { font-family: system-ui, sans-serif; color: #222; background: #fff; line-height: 1.4;
       max-width: 1640px; margin: 1em auto; padding: 0 1em; }
h1 { font-size: 1.4em; margin: 0.2em 0; }
h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 0.8em 0 0.2em; }
nav a { margin-right: 0.8em; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { padding: 0.15em 0.8em 0.15em 0; border-bottom: 1px solid #eee; text-align: left;
         vertical-align: top; }
th { font-weight: 600; }
td { font-family: ui-monospace, Menlo, Consolas, monospace; }
td.num { text-align: right; }
.badge { display: inline-block; padding: 0.05em 0.6em; border-radius: 0.3em; color: #fff;
         font-weight: bold; }
.badge.ok { background: #2e7d32; }
.badge.suspect { background: #b85c00; }
.badge.unknown { background: #666; }
.track { width: 16em; height: 0.8em; background: #eee; }
.bar { display: block; height: 100%; background: #4a78b5; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.9em; }
.missing { color: #666; font-style: italic; }
"""


def formatValue(value: Any) -> str:
    """``value`` as the text of a table cell (not yet escaped)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={formatValue(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        items = [formatValue(item) for item in value[:MAX_LIST_ITEMS]]
        more = f", … ({len(value)} in all)" if len(value) > MAX_LIST_ITEMS else ""
        return f"[{', '.join(items)}{more}]"
    return str(value)


def flatten(mapping: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """The entries of a nested mapping as ``(dotted.key, value)`` pairs, in order."""
    rows: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def _table(rows: list[tuple[str, Any]], tableId: str | None = None) -> str:
    """A two-column table of names and formatted, escaped values."""
    ident = f' id="{escape(tableId)}"' if tableId else ""
    body = "".join(f"<tr><th>{escape(str(name))}</th><td>{escape(formatValue(value))}</td></tr>"
                   for name, value in rows)
    return f"<table{ident}>{body}</table>"


def _number(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, escaped (``not measured`` when missing)."""
    return escape(formatNumber(value, digits))


def _missing(text: str) -> str:
    return f'<p class="missing">{escape(text)}</p>'


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{body}</section>'


def _badge(status: str, ident: str) -> str:
    kind = status if status in ("ok", "suspect") else "unknown"
    return f'<span id="{ident}" class="badge {kind}">{escape(status)}</span>'


def _header(record: dict) -> str:
    summary = record.get("summary") or {}
    status, reasons = runStatus(record)
    verdict = _badge(status, "status")
    if reasons:
        verdict += ' <span id="reasons">' + escape("; ".join(reasons)) + "</span>"
    counts = countsByKind(record)
    total = diaSourceTotal(record)
    labels = {"dipole": "dipoles", "sky": "sky sources"}
    kinds = ", ".join(f'<span id="count-{kind}">{n}</span> {labels.get(kind, kind)}'
                      for kind, n in counts.items())
    if sum(counts.values()) != total:
        kinds += f"; the kinds add up to {sum(counts.values())}"
    rows = [("status", verdict),
            ("noise ratio", f'<span id="noiseRatio">{_number(summary.get("noiseRatio"))}'
                            "</span> (difference noise / expected)"),
            ("diaSources", f'<span id="count-total">{escape(str(total))}</span> ({kinds})'),
            ("wall time", f'<span id="wallSeconds">{_number(summary.get("wallSeconds"), 2)}'
                          "</span> s"),
            ("algorithm", escape(algorithmName(record) or "not recorded")),
            ("date", escape(str(record.get("date") or "not recorded")))]
    rows += [(escape(str(key)), escape(formatValue(value)))
             for key, value in (record.get("inputs") or {}).items() if value is not None]
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<header><h1>diffim run report</h1><table id="summary">{body}</table></header>'


def _picture(kind: str, pictures: dict[str, bytes]) -> str:
    """The section of one embedded picture, or a note that it was not made."""
    title, what, option = PICTURES[kind]
    data = pictures.get(kind)
    if data is None:
        body = _missing(f"No {title.lower()} picture was made (run with {option}).")
    elif not bytes(data[:len(PNG_SIGNATURE)]) == PNG_SIGNATURE:
        body = _missing(f"The {title.lower()} picture is not a PNG image; it is left out.")
    else:
        uri = "data:image/png;base64," + base64.b64encode(bytes(data)).decode("ascii")
        body = (f'<figure><img id="{kind}" src="{uri}" alt="{escape(title)}: {escape(what)}">'
                f"<figcaption>{escape(what[0].upper() + what[1:])}.</figcaption></figure>")
    return _section(f"{kind}-section", title, body)


def _qualitySection(record: dict) -> str:
    quality = qualityBlock(record)
    if not quality:
        return _section("quality", "Quality", _missing("The run recorded no quality block."))
    reasons = reasonList(quality.get("reasons"))
    why = ("<ul>" + "".join(f"<li>{escape(reason)}</li>" for reason in reasons) + "</ul>"
           if reasons else "<p>No reason to suspect the result.</p>")
    figures = [(key, value) for key, value in quality.items()
               if key not in ("status", "reasons", "metrics")]
    status = str(quality.get("status") or "unknown")
    body = f"<p>Status {_badge(status, 'quality-status')}</p>{why}"
    return _section("quality", "Quality", body + _table(flatten(dict(figures)), "figures"))


def _kernelSection(record: dict) -> str:
    entries = kernelFitEntries(record)
    algorithm = algorithmName(record) or "algorithm not recorded"
    body = (_table(flatten(entries), "kernel-figures") if entries
            else _missing("The run recorded no PSF-matching metadata."))
    return _section("kernel", f"Kernel-fit quality ({algorithm})", body)


def _controlSection(record: dict) -> str:
    metrics = qualityBlock(record).get("metrics") or {}
    samples = {key: value for key, value in (record.get("metadata") or {}).items()
               if isSampleMetric(key)}
    rows = flatten(samples) + flatten(metrics)
    body = (_table(rows, "control-metrics") if rows else
            _missing("No control-sample metrics (run with -c doSelectSources=true "
                     "-c doAddMetrics=true)."))
    return _section("control", "Control-sample metrics", body)


def _timingSection(record: dict) -> str:
    metadata = record.get("metadata") or {}
    timing, cpu = metadata.get("timing") or {}, metadata.get("cpuTiming") or {}
    if not timing:
        return _section("timing", "Time per step", _missing("The run recorded no step timings."))
    shares, total = stepShares(timing)
    rows = []
    for step, value, share in shares:
        rows.append(f"<tr><th>{escape(step)}</th><td class=\"num\">{_number(value)}"
                    f"</td><td class=\"num\">{_number(cpu.get(step))}</td>"
                    f'<td class="num">{share:.1f} %</td><td><div class="track">'
                    f'<span class="bar" style="width: {share:.1f}%"></span></div></td></tr>')
    wall = (record.get("summary") or {}).get("wallSeconds")
    rows.append(f'<tr><th>all steps</th><td class="num">{total:.3f}</td>'
                f'<td class="num">{sum(stepSeconds(v) for v in cpu.values()):.3f}</td>'
                f'<td class="num">100.0 %</td><td>of a {_number(wall, 2)} s run</td></tr>')
    head = ("<tr><th>step</th><th>wall s</th><th>CPU s</th><th>share</th><th></th></tr>")
    return _section("timing", "Time per step", f'<table id="timing-table">{head}'
                                               f'{"".join(rows)}</table>')


def _provenanceSection(record: dict) -> str:
    parts = []
    for key, title in (("provenance", "Provenance (output header keywords)"),
                       ("versions", "Versions")):
        values = record.get(key) or {}
        parts.append(f"<h3>{title}</h3>" + (_table(list(values.items()), key) if values
                                            else _missing("Not recorded.")))
    return _section("provenance-section", "Provenance and versions", "".join(parts))


def _outputsSection(record: dict) -> str:
    outputs = record.get("outputs")
    body = (_table(list(outputs.items()), "outputs") if isinstance(outputs, dict) and outputs
            else _missing("The run recorded no list of its outputs."))
    return _section("outputs-section", "Outputs written", body)


def _otherSection(record: dict) -> str:
    metadata = record.get("metadata") or {}
    shown = set(kernelFitEntries(record)) | set(OWN_SECTIONS)
    rest = {key: value for key, value in metadata.items()
            if key not in shown and not isSampleMetric(key)}
    body = _table(flatten(rest), "other-metadata") if rest else _missing("None.")
    return _section("metadata", "Other task metadata", body)


def _configSection(record: dict) -> str:
    config = record.get("config") or {}
    if not config:
        return _section("config", "Configuration", _missing("The run recorded no config."))
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return _section("config", "Configuration",
                    f"<details open><summary>{len(flatten(config))} fields</summary>"
                    f'<pre id="config-yaml">{escape(text)}</pre></details>')


#: The sections of the page, in order (after the header).
SECTIONS = (("quicklook-section", "Quick look"), ("quality", "Quality"),
            ("kernel", "Kernel fit"), ("control", "Control sample"), ("timing", "Timing"),
            ("gallery-section", "Gallery"), ("provenance-section", "Provenance"),
            ("outputs-section", "Outputs"), ("metadata", "Other metadata"),
            ("config", "Configuration"))


def renderReport(record: dict, pictures: dict[str, bytes]) -> str:
    """The HTML text of the report of ``record`` (see :func:`writeReport`)."""
    status = runStatus(record)[0]
    science = (record.get("inputs") or {}).get("science")
    title = f"diffim report: {status}" + (f" — {Path(str(science)).name}" if science else "")
    nav = " ".join(f'<a href="#{ident}">{escape(name)}</a>' for ident, name in SECTIONS)
    body = [_header(record), f"<nav>{nav}</nav>", _picture("quicklook", pictures),
            _qualitySection(record), _kernelSection(record), _controlSection(record),
            _timingSection(record), _picture("gallery", pictures),
            _provenanceSection(record), _outputsSection(record), _otherSection(record),
            _configSection(record)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def writeReport(path: str | os.PathLike, record: dict, pictures: dict[str, bytes],
                overwrite: bool = True) -> Path:
    """Write report.html: one self-contained offline page about a finished run.

    The page shows, in order: the verdict (status and reasons), noise ratio,
    diaSource counts by kind, wall time, date and inputs; the quick-look picture;
    the quality block; the kernel-fit quality (the PSF-matching metadata); the
    control-sample metrics; the time per step; the cutout gallery; provenance and
    versions; the outputs written; the other task metadata; the full configuration.

    Parameters
    ----------
    path : str or os.PathLike
        Destination HTML file, written atomically.
    record : dict
        The run record, as written to the run's metadata.yaml (keys ``date``,
        ``inputs``, ``versions``, ``provenance``, ``summary``, ``metadata``,
        ``config`` and optionally ``outputs``); missing parts are reported as such.
    pictures : dict of str to bytes
        PNG files to embed, by kind: ``"quicklook"`` and/or ``"gallery"``.
    overwrite : bool
        Replace an existing file; when False an existing ``path`` is an error.

    Returns
    -------
    path : Path
        The file written.

    Raises
    ------
    OutputError
        If ``path`` exists (without ``overwrite``) or cannot be written.
    """
    text = renderReport(record, pictures)
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
