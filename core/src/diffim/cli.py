"""The ``diffim`` command: run, validate and print pipelines, list plugins, simulate data."""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click

from . import plugins
from .errors import DiffimError
from .pipeline import dump_config, load_pipeline

_OVERRIDE = click.option("-c", "--config", "overrides", multiple=True, metavar="FIELD=VALUE",
                         help="Override a config field, e.g. -c detection.thresholdValue=5.0 "
                              "(repeatable).")
_OVERRIDE_FILE = click.option("-C", "--config-file", "overrideFiles", multiple=True,
                              type=click.Path(dir_okay=False),
                              help="YAML file of overrides in pipeline format (repeatable).")
_PIPELINE = click.argument("pipeline", type=click.Path(dir_okay=False))


@click.group()
@click.version_option(package_name="diffim")
@click.option("-v", "--verbose", count=True, help="Debug log output.")
def cli(verbose: int) -> None:
    """diffim: astronomical image differencing with swappable algorithms."""
    # Each step of a run is logged as it starts and ends: that is the progress display.
    level = logging.INFO if verbose == 0 else logging.DEBUG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("diffim").setLevel(level)


@cli.command()
@_PIPELINE
@click.option("--science", required=True, type=click.Path(dir_okay=False),
              help="Science exposure (diffim MEF or plain FITS image).")
@click.option("--template", type=click.Path(dir_okay=False),
              help="Template exposure (needed unless doSubtract=False).")
@click.option("--science-sources", "scienceSources", type=click.Path(dir_okay=False),
              help="Science source catalog (FITS table: id, x, y or ra, dec) for doMatchSources.")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Output directory.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@_OVERRIDE
@_OVERRIDE_FILE
def run(pipeline, science, template, scienceSources, outdir, overwrite, overrides,
        overrideFiles) -> None:
    """Run PIPELINE on a science/template pair and write the outputs to OUTDIR."""
    from .runner import runFiles

    config = load_pipeline(pipeline, overrides, overrideFiles)
    summary = runFiles(config, science, template, outdir, overwrite=overwrite, pipeline=pipeline,
                       scienceSources=scienceSources)
    for kind, path in summary.outputs.items():
        click.echo(f"{kind:>14}: {path}")
    click.echo(summary.line())


@cli.command()
@_PIPELINE
@_OVERRIDE
@_OVERRIDE_FILE
def validate(pipeline, overrides, overrideFiles) -> None:
    """Check PIPELINE (and overrides) without running it."""
    config = load_pipeline(pipeline, overrides, overrideFiles)
    chosen = ", ".join(f"{name}={slot.name}" for name, slot in config.slots().items()
                       if slot.available)
    click.echo(f"{pipeline}: valid ({chosen})")


@cli.command(name="config")
@_PIPELINE
@_OVERRIDE
@_OVERRIDE_FILE
def config_(pipeline, overrides, overrideFiles) -> None:
    """Print the fully resolved config of PIPELINE as YAML."""
    click.echo(dump_config(load_pipeline(pipeline, overrides, overrideFiles)), nl=False)


@cli.command(name="plugins")
def plugins_() -> None:
    """List every slot with its installed implementations."""
    for slot in plugins.SLOTS:
        found = plugins.installed(slot)
        failures = plugins.broken(slot) if found else {}
        click.echo(f"{slot}:")
        if not found:
            click.echo("    (none installed)")
        for name, info in found.items():
            where = f"{info.distribution} {info.version}" if info.distribution else "?"
            state = f"  BROKEN: {failures[name]}" if name in failures else ""
            click.echo(f"    {name:<16} {where:<32} {info.target}{state}")


@cli.command()
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Directory for science.fits, template.fits and truth.fits.")
@click.option("--size", default=2048, show_default=True, help="Image width and height (px).")
@click.option("--seed", default=1, show_default=True, help="Random seed.")
@click.option("--seeing-ratio", default=1.3, show_default=True,
              help="Science PSF width / template PSF width.")
@click.option("--transients", "nTransients", default=50, show_default=True,
              help="Number of transients injected into the science image.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
def simulate(outdir, size, seed, seeing_ratio, nTransients, overwrite) -> None:
    """Make a realistic science/template pair with truth, for demos and tests."""
    from .simulate import writePair

    paths = writePair(Path(outdir), size=size, seed=seed, seeingRatio=seeing_ratio,
                      nTransients=nTransients, overwrite=overwrite)
    for kind, path in paths.items():
        click.echo(f"{kind:>9}: {path}")


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors on stderr, non-zero exit status, nothing partial left."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="diffim", standalone_mode=False)
    except DiffimError as exc:
        click.echo(f"diffim: error: {exc}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("diffim: interrupted; no outputs were written", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"diffim: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("diffim: interrupted; no outputs were written", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
