"""``diffim batch``: the command-line face of :func:`diffim.batch.runBatch`."""
from __future__ import annotations

import logging

import click

from ..cli_options import OVERRIDE, OVERRIDE_FILE
from ..errors import DiffimError


class BatchFailedError(DiffimError):
    """Some data IDs of a batch failed (the others were processed)."""


def parseTemplateVisits(text: str | None) -> list[dict[str, int]] | None:
    """``"3,4"`` -> ``[{"visit": 3}, {"visit": 4}]``; None for None.

    Raises
    ------
    click.BadParameter
        If an entry is not a non-negative integer.
    """
    if text is None:
        return None
    visits = []
    for item in text.split(","):
        try:
            visit = int(item.strip())
        except ValueError:
            visit = -1
        if visit < 0:
            raise click.BadParameter(f"{item.strip()!r} is not a visit number; expected "
                                     "comma-separated visits such as 3,4",
                                     param_hint="--template-visits")
        visits.append({"visit": visit})
    return visits


@click.command()
@click.argument("repository", type=click.Path(file_okay=False))
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--where", metavar="EXPR",
              help="Select the science exposures (calexp) to process, e.g. "
                   "\"visit IN (1, 2) AND band = 'r'\" [default: all].")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes of the local Dask cluster [default: one per core].")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask cluster, e.g. tcp://host:8786 (a dask-jobqueue "
                   "cluster's scheduler_address), instead of a local one.")
@click.option("--template-visits", "templateVisits", metavar="V1,V2,...",
              help="Visits whose calexps make the template, for a getTemplate plugin that "
                   "builds it from exposures [default: the plugin's own choice, e.g. coadd "
                   "patches].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="N", help="FFT threads of each data ID's run. The outputs are the same "
                                "for any N.")
@click.option("--run", "runName", metavar="NAME",
              help="Name the results are recorded under in the repository [default: "
                   "batch-<UTC time>].")
@OVERRIDE
@OVERRIDE_FILE
@click.pass_context
def batch(ctx: click.Context, repository, pipeline, where, workers, scheduler, templateVisits,
          threads, runName, overrides, overrideFiles) -> None:
    """Run PIPELINE on every science exposure of REPOSITORY, in parallel on Dask.

    Data IDs whose outputs are all in the repository are skipped, so a batch that
    was interrupted finishes when run again. A data ID that fails does not stop the
    others; the table at the end says why. Exit status 1 if any failed.
    """
    from .run import runBatch

    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers sizes the local cluster; with --scheduler the "
                               "cluster's own workers run the batch")
    options = ctx.find_root().params
    quiet = bool(options.get("quiet"))
    if not options.get("verbose"):
        # Dask logs each step of starting and stopping a cluster; only its warnings here
        # (set once it is imported: importing it sets its loggers' levels).
        import distributed  # noqa: F401

        logging.getLogger("distributed").setLevel(logging.WARNING)
    try:
        summary = runBatch(repository, pipeline, overrides, overrideFiles, where=where,
                           workers=workers, scheduler=scheduler,
                           templateIdList=parseTemplateVisits(templateVisits),
                           threads=threads, progress=not quiet, runName=runName)
    except KeyboardInterrupt as exc:
        name = exc.args[0] if exc.args else "SIGINT"
        click.echo(f"diffim: batch interrupted by {name}; data IDs already finished keep their "
                   "outputs, run the same command again to process the rest", err=True)
        raise click.exceptions.Exit(130) from None
    click.echo(summary.table())
    click.echo(summary.line())
    failed = len(summary.failed)
    if failed:
        raise BatchFailedError(f"{failed} of {len(summary.results)} data IDs failed (see the "
                               f"table above, or `diffim repo results {repository} --run "
                               f"{summary.run}`)")
