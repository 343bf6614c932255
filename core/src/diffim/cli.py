"""The ``diffim`` command: run, validate and print pipelines, list plugins, simulate data."""
from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import click

from . import plugins
from .batch.command import batch
from .cli_inspect import inspect
from .cli_options import (OVERRIDE, OVERRIDE_FILE, QUIET_HELP, VERBOSE_HELP, addVerbosityOptions,
                          configureLogging)
from .cli_repo import repo
from .errors import DiffimError
from .messages import MAX_LINE, oneLine
from .pipeline import dump_config, load_pipeline
from .shipped_pipelines import pipelineSummary, resolvePipeline, shippedPipelines

#: A pipeline file, or the name of one shipped with diffim (``diffim pipelines``).
_PIPELINE = click.argument("pipeline", type=click.Path(dir_okay=False))


#: Exit status of a suspect run with --strict.
SUSPECT_STATUS = 3

#: Exit status when the reader of stdout goes away, as a shell reports a SIGPIPE death.
BROKEN_PIPE_STATUS = 128 + signal.SIGPIPE

#: What every error line starts with.
ERROR_PREFIX = "diffim: error: "


@click.group()
@click.version_option(package_name="diffim")
@click.option("-v", "--verbose", count=True, help=VERBOSE_HELP)
@click.option("-q", "--quiet", is_flag=True, help=QUIET_HELP)
def cli(verbose: int, quiet: bool) -> None:
    """diffim: astronomical image differencing with swappable algorithms.

    PIPELINE arguments take a YAML file or the name of a pipeline shipped with
    diffim (see diffim pipelines). -v and -q may also follow a command's name.
    """
    # Each step of a run is logged as it starts and ends: that is the progress display.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Numerical warnings of numpy, astropy and friends are not for the user unless asked for.
    logging.captureWarnings(True)
    configureLogging(verbose, quiet)


@cli.command()
@_PIPELINE
@click.option("--science", required=True, type=click.Path(dir_okay=False),
              help="Science exposure (diffim MEF or plain FITS image).")
@click.option("--template", type=click.Path(dir_okay=False),
              help="Template exposure (or --template-repo; not with --difference).")
@click.option("--template-repo", "templateRepo", type=click.Path(),
              help="Data repository the getTemplate plugin builds the template from "
                   "(coadd patches under <repo>/<coaddName>Coadd/<band>/), instead of "
                   "--template.")
@click.option("--science-sources", "scienceSources", type=click.Path(dir_okay=False),
              help="Science source catalog (FITS table: id, x, y or ra, dec) for doMatchSources.")
@click.option("--template-sources", "templateSources", type=click.Path(dir_okay=False),
              help="Template source catalog (FITS table: ra, dec, or x, y on the science grid): "
                   "with doSelectSources, kernel stars must be in it too.")
@click.option("--background", type=click.Path(dir_okay=False),
              help="FITS image of the calexp background model, added back to the science image "
                   "before processing (sets doAddCalexpBackground).")
@click.option("--difference", type=click.Path(dir_okay=False),
              help="An existing difference exposure to detect and measure on instead of "
                   "subtracting (sets doSubtract=False; no template).")
@click.option("--science-variance", "scienceVariance", type=click.Path(dir_okay=False),
              help="FITS image of the science variance (replaces the file's or the derived one).")
@click.option("--science-noise", "scienceNoise", type=click.Path(dir_okay=False),
              help="FITS image of the science 1-sigma noise (squared into the variance).")
@click.option("--science-psf", "sciencePsf", type=click.Path(dir_okay=False),
              help="FITS image of the science PSF (odd square stamp), instead of measuring it.")
@click.option("--science-header", "scienceHeader", multiple=True, metavar="KEY=VALUE",
              help="Science header card to set before the mask and variance are derived "
                   "(GAIN, RDNOISE, SATURATE, FWHM in px, SEEING in arcsec; repeatable).")
@click.option("--template-variance", "templateVariance", type=click.Path(dir_okay=False),
              help="FITS image of the template variance.")
@click.option("--template-noise", "templateNoise", type=click.Path(dir_okay=False),
              help="FITS image of the template 1-sigma noise (squared into the variance).")
@click.option("--template-psf", "templatePsf", type=click.Path(dir_okay=False),
              help="FITS image of the template PSF (odd square stamp).")
@click.option("--template-header", "templateHeader", multiple=True, metavar="KEY=VALUE",
              help="Template header card to set (as --science-header; repeatable).")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Output directory.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--quicklook", is_flag=True,
              help="Also write quicklook.png: science, template, difference and significance "
                   "side by side, diaSources circled by kind (doWriteQuicklook).")
@click.option("--cutouts", is_flag=True,
              help="Also write cutouts.fits (science, template and difference stamps of every "
                   "diaSource, with its row) and gallery.png (doWriteCutouts; size: "
                   "-c cutoutSize=N).")
@click.option("--regions", is_flag=True,
              help="Also write diaSources.reg, a DS9 region file of the diaSources "
                   "(doWriteRegions).")
@click.option("--report", is_flag=True,
              help="Also write report.html: one self-contained page with the status, quality "
                   "figures, timings, the quicklook and the cutout gallery (doWriteReport).")
@click.option("--strict", is_flag=True,
              help="Exit with status 3 when the result is suspect (see the metadata's quality "
                   "block); the outputs are written all the same.")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="Most threads for Fourier transforms [default: all available cores]. "
                   "The outputs are bit-identical for any N.")
@click.option("--tile-size", "tileSize", type=click.IntRange(min=0), default=None,
              metavar="N",
              help="Process the pair in overlapping tiles of N pixels a side, so memory stays "
                   "bounded (0: never) [default: tiles of 2048 for images over 24 Mpixel].")
@OVERRIDE
@OVERRIDE_FILE
@click.pass_obj
def run(stopper, pipeline, science, template, templateRepo, scienceSources, templateSources,
        background, difference, scienceVariance, scienceNoise, sciencePsf, scienceHeader,
        templateVariance, templateNoise, templatePsf, templateHeader, outdir, overwrite,
        quicklook, cutouts, regions, report, strict, threads, tileSize, overrides,
        overrideFiles) -> None:
    """Run PIPELINE on a science/template pair and write the outputs to OUTDIR.

    The outputs appear all together when the run succeeds; after an error or an
    interruption (Ctrl-C, SIGTERM) none are left behind.
    """
    from .inputs import ImageFiles, parseHeaderCards
    from .runner import runFiles

    if template is not None and templateRepo is not None:
        raise click.UsageError("give --template or --template-repo, not both")
    if difference is not None and (template is not None or templateRepo is not None):
        raise click.UsageError("--difference detects on an existing difference: give no "
                               "--template or --template-repo with it")
    for role, variance, noise in (("science", scienceVariance, scienceNoise),
                                  ("template", templateVariance, templateNoise)):
        if variance is not None and noise is not None:
            raise click.UsageError(f"give --{role}-variance or --{role}-noise, not both")
    if template is None and (templateVariance or templateNoise or templatePsf or templateHeader):
        raise click.UsageError("--template-variance, --template-noise, --template-psf and "
                               "--template-header need --template")
    flags = {"doWriteQuicklook": quicklook, "doWriteCutouts": cutouts, "doWriteRegions": regions,
             "doWriteReport": report, "doAddCalexpBackground": background is not None}
    settings = [f"{field}=true" for field, on in flags.items() if on]
    if difference is not None:
        settings.append("doSubtract=false")
    overrides = [*settings, *overrides]
    pipeline = resolvePipeline(pipeline)
    config = load_pipeline(pipeline, overrides, overrideFiles)
    science = ImageFiles(science, scienceVariance, scienceNoise, sciencePsf,
                         parseHeaderCards(scienceHeader, "science"))
    if template is not None:
        template = ImageFiles(template, templateVariance, templateNoise, templatePsf,
                              parseHeaderCards(templateHeader, "template"))
    summary = runFiles(config, science, template, outdir, overwrite=overwrite, pipeline=pipeline,
                       scienceSources=scienceSources, threads=threads, templateRepo=templateRepo,
                       onPublished=None if stopper is None else stopper.outputsPublished,
                       tileSize=tileSize, templateSources=templateSources, background=background,
                       difference=difference)
    for kind, path in summary.outputs.items():
        click.echo(f"{kind:>14}: {path}")
    click.echo(summary.line())
    if strict and summary.reasons:
        click.echo(_errorLine(f"the result is suspect (--strict): "
                              f"{'; '.join(summary.reasons)}"), err=True)
        raise click.exceptions.Exit(SUSPECT_STATUS)


@cli.command()
@_PIPELINE
@OVERRIDE
@OVERRIDE_FILE
def validate(pipeline, overrides, overrideFiles) -> None:
    """Check PIPELINE (and overrides) without running it."""
    config = load_pipeline(pipeline, overrides, overrideFiles)
    chosen = ", ".join(f"{name}={slot.name}" for name, slot in config.slots().items()
                       if slot.available)
    click.echo(f"{pipeline}: valid ({chosen})")


@cli.command(name="config")
@_PIPELINE
@OVERRIDE
@OVERRIDE_FILE
def config_(pipeline, overrides, overrideFiles) -> None:
    """Print the fully resolved config of PIPELINE as YAML."""
    click.echo(dump_config(load_pipeline(pipeline, overrides, overrideFiles)), nl=False)


@cli.command(name="pipelines")
def pipelines_() -> None:
    """List the pipelines shipped with diffim, usable by name (diffim run NAME ...)."""
    for name, path in shippedPipelines().items():
        click.echo(f"{name:<12} {pipelineSummary(path)}")
        click.echo(f"{'':<12} {path}")


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
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False),
              help="Directory for science.fits, template.fits and truth.fits.")
@click.option("--repo", "repoDir", type=click.Path(file_okay=False),
              help="Build a small data repository in this new or empty directory instead: a "
                   "sky map, 4 deepCoadd patches and 8 calexp visits (band r) with their "
                   "truth.")
@click.option("--size", default=2048, show_default=True, help="Image width and height (px).")
@click.option("--seed", default=1, show_default=True, help="Random seed.")
@click.option("--seeing-ratio", default=1.3, show_default=True,
              help="Science PSF width / template PSF width.")
@click.option("--transients", "nTransients", default=50, show_default=True,
              help="Number of transients injected into the science image.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.pass_context
def simulate(ctx, outdir, repoDir, size, seed, seeing_ratio, nTransients, overwrite) -> None:
    """Make a realistic science/template pair with truth (-o), or a data repository (--repo),
    for demos and tests."""
    if outdir is not None and repoDir is not None:
        raise click.UsageError("give -o/--output (a science/template pair) or --repo (a data "
                               "repository), not both")
    if outdir is None and repoDir is None:
        raise click.UsageError("give -o/--output DIR for a science/template pair or --repo DIR "
                               "for a data repository")
    if repoDir is not None:
        _simulateRepo(ctx, Path(repoDir), seed)
        return
    from .testing.simulate import pairPaths, writePair

    existing = [path.name for path in pairPaths(outdir).values() if path.exists()]
    if existing and not overwrite:
        raise click.UsageError(f"{outdir}: {', '.join(existing)} exist already; use --overwrite "
                               "to replace them, or choose another -o directory")
    paths = writePair(Path(outdir), size=size, seed=seed, seeingRatio=seeing_ratio,
                      nTransients=nTransients, overwrite=overwrite)
    for kind, path in paths.items():
        click.echo(f"{kind:>9}: {path}")


def _simulateRepo(ctx: click.Context, root: Path, seed: int) -> None:
    """``simulate --repo``: build the repository and print what it holds."""
    from click.core import ParameterSource

    from .testing.simulate_repo import REQUIRED_TEMPLATE_FRACTION, simulateRepo

    pairOnly = [f"--{name.replace('_', '-')}" if name != "nTransients" else "--transients"
                for name in ("size", "seeing_ratio", "nTransients", "overwrite")
                if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT]
    if pairOnly:
        verb = "applies" if len(pairOnly) == 1 else "apply"
        raise click.UsageError(f"{', '.join(pairOnly)} {verb} to -o, not to --repo (which needs "
                               "a new or empty directory)")
    made = simulateRepo(root, seed=seed)
    made.repository.close()
    poor = made.poorlyCovered["visit"]
    click.echo(f"repository: {made.root}")
    click.echo(f"   patches: {len(made.patches)} deepCoadd patches of tract {made.tract} "
               f"({', '.join(map(str, made.patches))}), band {made.visits[0]['band']}")
    click.echo(f"    visits: {len(made.visits)} calexp visits with truth "
               f"({', '.join(str(v['visit']) for v in made.visits)}), detector "
               f"{made.visits[0]['detector']}")
    click.echo(f" uncovered: visit {poor}: the patches cover {made.coverage[poor]:.1%} of it, "
               f"below requiredTemplateFraction {REQUIRED_TEMPLATE_FRACTION}")


cli.add_command(repo)
cli.add_command(batch)
cli.add_command(inspect)
addVerbosityOptions(cli)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when SIGINT or SIGTERM arrives."""


class _Stopper:
    """The SIGINT and SIGTERM handler of one command.

    It interrupts the command, unless the run's outputs are already all in
    place: a signal arriving after that (while the summary is printed) is
    ignored, so that an interruption always means nothing was written.
    """

    def __init__(self) -> None:
        self.published = False

    def outputsPublished(self) -> None:
        self.published = True

    def __call__(self, signum: int, frame) -> None:
        if not self.published:
            raise Interrupted(signal.Signals(signum).name)


def _errorLine(message: str) -> str:
    """The printed error line: one line of at most :data:`diffim.messages.MAX_LINE`."""
    return ERROR_PREFIX + oneLine(message, MAX_LINE - len(ERROR_PREFIX))


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors on stderr, non-zero exit status, nothing partial left.

    Exit status: 0 on success, 1 for a diffim error (bad input, config, plugin,
    output), 2 for a command-line usage error, 3 for a suspect result with
    ``run --strict``, 130 when interrupted by SIGINT or SIGTERM, 141 when the reader of
    stdout goes away. The signal handlers
    and warning capture it installs are restored on return. Errors are printed as one
    line of at most :data:`diffim.messages.MAX_LINE` characters.
    """
    stopper = _Stopper()
    previous = {number: signal.signal(number, stopper)
                for number in (signal.SIGINT, signal.SIGTERM)}
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # Not cli.main(): it prints a blank line on KeyboardInterrupt.
        with cli.make_context("diffim", args, obj=stopper) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except DiffimError as exc:
        click.echo(_errorLine(str(exc)), err=True)
        return 1
    except click.ClickException as exc:
        click.echo(_errorLine(exc.format_message()), err=True)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        name = exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"
        click.echo(f"diffim: interrupted by {name}; no outputs were written", err=True)
        return 130
    except BrokenPipeError:
        # Whoever read the output stopped (``diffim repo query ... | head``): end quietly,
        # with stdout sent nowhere so that flushing it at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        logging.captureWarnings(False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
