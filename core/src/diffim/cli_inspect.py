"""``diffim inspect OUTDIR``: print the summary of a finished run."""
from __future__ import annotations

import click


@click.command(name="inspect")
@click.argument("outdir", type=click.Path(file_okay=False))
def inspect(outdir: str) -> None:
    """Print the summary of the run whose outputs are in OUTDIR.

    The status (and why when suspect), the diaSources by kind, the noise ratio,
    the wall time and time per step, the PSF-matching algorithm, the inputs and
    the files written with their sizes, read from the run's metadata.yaml.
    """
    from .inspection import inspectRun

    click.echo(inspectRun(outdir))
