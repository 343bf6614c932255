"""``diffim repo``: create a data repository, ingest files, query datasets, check consistency."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

_REPO = click.argument("repository", type=click.Path(file_okay=False))


@click.group(name="repo")
def repo() -> None:
    """Data repositories: datasets addressed by data ID, a registry, a sky map."""


def _centre(text: str) -> tuple[float, float]:
    try:
        ra, dec = (float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected RA,DEC in degrees, e.g. 150.0,2.2",
                                 param_hint="--tract") from None
    return ra, dec


@repo.command()
@_REPO
@click.option("--registry", metavar="URL",
              help="SQLAlchemy URL of the registry database (e.g. "
                   "postgresql+psycopg://host/db) [default: an SQLite file in REPOSITORY].")
@click.option("--tract", "tracts", multiple=True, metavar="RA,DEC",
              help="Centre (degrees) of a sky-map tract; repeat for several. Without it the "
                   "repository has no sky map.")
@click.option("--tract-radius", "radius", type=click.FloatRange(min=0, min_open=True),
              default=1.0, show_default=True, help="Radius (degrees) each tract covers.")
@click.option("--pixel-scale", "pixelScale", type=click.FloatRange(min=0, min_open=True),
              default=0.2, show_default=True, help="Tract pixel scale (arcsec).")
@click.option("--patch-size", "patchSize", type=click.IntRange(min=1), default=4000,
              show_default=True, help="Side of a patch's inner box (pixels).")
@click.option("--patch-border", "patchBorder", type=click.IntRange(min=0), default=100,
              show_default=True, help="Pixels a patch extends beyond its inner box.")
def create(repository, registry, tracts, radius, pixelScale, patchSize, patchBorder) -> None:
    """Create an empty data repository in REPOSITORY (with a sky map when --tract is given)."""
    from .repo import Repository, SkyMap

    skyMap = None
    if tracts:
        skyMap = SkyMap.discrete([_centre(text) for text in tracts], radius,
                                 pixelScale=pixelScale, patchInnerDimensions=patchSize,
                                 patchBorder=patchBorder)
    created = Repository.create(repository, skyMap=skyMap, registry=registry)
    sky = "no sky map" if skyMap is None else \
        f"sky map of {len(skyMap.tracts)} tracts, {skyMap.tracts[0].numPatches[0]}x" \
        f"{skyMap.tracts[0].numPatches[1]} patches each"
    click.echo(f"created {created.root} (registry {created.registryUrl}; {sky})")


def _dataId(items: tuple[str, ...]) -> dict[str, str]:
    dataId = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. visit=12",
                                     param_hint="--data-id")
        dataId[key.strip()] = value.strip()
    return dataId


@repo.command()
@_REPO
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--type", "datasetType", required=True,
              help="Dataset type, e.g. calexp, src or deepCoadd.")
@click.option("--data-id", "dataId", multiple=True, metavar="KEY=VALUE",
              help="Data-ID value for every file (repeatable); the rest come from each file's "
                   "header (VISIT or EXPNUM, DETECTOR or CCDNUM, FILTER or BAND, TRACT, PATCH).")
@click.option("--transfer", type=click.Choice(["copy", "move", "symlink"]), default="copy",
              show_default=True, help="How files get into the repository.")
@click.option("--overwrite", is_flag=True, help="Replace datasets registered already.")
def ingest(repository, files, datasetType, dataId, transfer, overwrite) -> None:
    """Register FITS FILES in REPOSITORY as datasets of one type."""
    from .repo import Repository, formatDataId

    opened = Repository(repository)
    values = _dataId(dataId)
    for file in files:
        path = opened.ingest(file, datasetType, values, transfer=transfer, overwrite=overwrite)
        ref = next(ref for ref in opened.query(datasetType) if ref.path == path)
        click.echo(f"{datasetType} {formatDataId(ref.dataId)}: {path}")


@repo.command()
@_REPO
@click.argument("datasetType", required=False)
@click.option("--where", metavar="EXPR",
              help="Only data IDs matching, e.g. \"visit > 3 AND band = 'r'\" or "
                   "\"visit IN (1, 2)\".")
def query(repository, datasettype, where) -> None:
    """List the datasets of REPOSITORY (of one DATASETTYPE) as a table."""
    from .repo import DIMENSIONS, Repository

    opened = Repository(repository)
    refs = opened.query(datasettype, where=where)
    keys = [key for key in DIMENSIONS if any(key in ref.dataId for ref in refs)]
    rows = [[ref.datasetType, *[str(ref.dataId.get(key, "")) for key in keys],
             str(ref.path.relative_to(opened.root))] for ref in refs]
    _table(["datasetType", *keys, "path"], rows)
    click.echo(f"{len(refs)} datasets")


@repo.command()
@_REPO
@click.option("--remove-stale", "removeStale", is_flag=True,
              help="Delete temporary files left by writers that no longer run.")
def check(repository, removeStale) -> None:
    """Check that registry and files agree; exit 1 if they do not."""
    from .repo import Repository

    opened = Repository(repository)
    if removeStale:
        for path in opened.removeStaleTemporaries():
            click.echo(f"removed {path}")
    problems = opened.check()
    for problem in problems:
        click.echo(problem)
    click.echo(f"{opened.root}: {'consistent' if not problems else f'{len(problems)} problems'}")
    if problems:
        raise click.exceptions.Exit(1)


@repo.command()
@_REPO
@click.option("--run", "runName", help="Only this batch run.")
def results(repository, runName) -> None:
    """Show the per-data-ID results batch runs recorded in REPOSITORY, a table per run."""
    from .batch.plan import sortKey
    from .batch.summary import BatchSummary, DataIdResult
    from .repo import Repository

    table = Repository(repository).batchResults(runName)
    summaries: dict[str, BatchSummary] = {}
    for row in table:
        value = lambda name: None if np.ma.is_masked(row[name]) else row[name].item()  # noqa
        summaries.setdefault(str(row["run"]), BatchSummary(run=str(row["run"]))).results.append(
            DataIdResult(dataId={key: value(key) for key in ("visit", "detector", "band")},
                         status=str(row["status"]), quality=str(row["quality"]) or None,
                         nDiaSources=value("n_dia_sources"), nPositive=value("n_positive"),
                         nNegative=value("n_negative"), nDipoles=value("n_dipoles"),
                         nSkySources=value("n_sky_sources"), noiseRatio=value("noise_ratio"),
                         seconds=float(row["seconds"]), message=str(row["message"])))
    if not summaries:
        click.echo(f"no batch results{f' of run {runName}' if runName else ''} in "
                   f"{Path(repository).expanduser().absolute()}")
    for run, summary in summaries.items():
        summary.results.sort(key=lambda result: sortKey(result.dataId))
        click.echo(f"run {run}:")
        click.echo(summary.table())


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Print rows under a header, columns aligned."""
    widths = [max([len(name), *[len(row[i]) for row in rows]]) for i, name in enumerate(header)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
