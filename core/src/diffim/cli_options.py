"""Command-line options shared by ``diffim`` commands: config overrides and verbosity."""
from __future__ import annotations

import logging

import click

#: ``-c FIELD=VALUE``: one config override (repeatable).
OVERRIDE = click.option("-c", "--config", "overrides", multiple=True, metavar="FIELD=VALUE",
                        help="Override a config field, e.g. -c detection.thresholdValue=5.0 "
                             "(repeatable).")

#: ``-C FILE``: a YAML file of overrides (repeatable).
OVERRIDE_FILE = click.option("-C", "--config-file", "overrideFiles", multiple=True,
                             type=click.Path(dir_okay=False),
                             help="YAML file of overrides in pipeline format (repeatable).")


#: Help of ``-v`` and ``-q``, before or after a command's name.
VERBOSE_HELP = "Debug log output, and Python warnings from the libraries diffim uses."
QUIET_HELP = "No progress display: only warnings and errors on stderr."


def configureLogging(verbose: int = 0, quiet: bool = False) -> None:
    """Set how much the ``diffim`` logger prints: debug with ``verbose``, warnings and errors
    only with ``quiet``, else each step as it starts and ends (the progress display).

    Python warnings of numpy, astropy and the other libraries are shown only with
    ``verbose``.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.getLogger("diffim").setLevel(level)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _verbosity(ctx: click.Context, param: click.Parameter, value) -> None:
    """Callback of -v and -q given after a command's name: they override those before it."""
    if not value or ctx.resilient_parsing:
        return
    if param.name == "verbose":
        configureLogging(verbose=value)
    else:
        configureLogging(quiet=True)


def verbosityOptions() -> list[click.Option]:
    """New ``-v/--verbose`` and ``-q/--quiet`` options for one command."""
    return [
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_verbosity,
                     help=VERBOSE_HELP),
        click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_verbosity,
                     help=QUIET_HELP),
    ]


def addVerbosityOptions(command: click.Command) -> None:
    """Give every subcommand of ``command`` (recursively) its own -v and -q, so they work in
    any position: ``diffim -q run ...`` and ``diffim run ... -q`` alike."""
    for sub in getattr(command, "commands", {}).values():
        names = {name for param in sub.params for name in getattr(param, "opts", [])}
        if not names & {"-v", "-q", "--verbose", "--quiet"}:
            sub.params.extend(verbosityOptions())
        addVerbosityOptions(sub)
