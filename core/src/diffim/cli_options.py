"""Command-line options shared by ``diffim`` commands that load a pipeline."""
from __future__ import annotations

import click

#: ``-c FIELD=VALUE``: one config override (repeatable).
OVERRIDE = click.option("-c", "--config", "overrides", multiple=True, metavar="FIELD=VALUE",
                        help="Override a config field, e.g. -c detection.thresholdValue=5.0 "
                             "(repeatable).")

#: ``-C FILE``: a YAML file of overrides (repeatable).
OVERRIDE_FILE = click.option("-C", "--config-file", "overrideFiles", multiple=True,
                             type=click.Path(dir_okay=False),
                             help="YAML file of overrides in pipeline format (repeatable).")
