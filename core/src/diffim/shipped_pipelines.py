"""The pipelines that ship inside the ``diffim`` package, usable by name.

``diffim run default ...`` runs ``diffim/pipelines/default.yaml`` from the installed
package; a pipeline argument that names an existing file is always that file.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

from .errors import ConfigError

#: Folder of the shipped pipeline files, inside the installed package.
SHIPPED_DIR = Path(str(resources.files("diffim") / "pipelines"))


def shippedPipelines() -> dict[str, Path]:
    """Name -> file of every shipped pipeline, sorted by name."""
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.yaml"))}


def pipelineSummary(path: Path) -> str:
    """What a pipeline file is, in a few words: its ``description`` up to the first colon or
    full stop (empty when it has none)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    description = " ".join(str(data.get("description", "")).split())
    return re.split(r":\s|\.(?:\s|$)", description, maxsplit=1)[0]


def resolvePipeline(pipeline: str | Path) -> Path:
    """The file ``pipeline`` stands for: itself when it exists, else the shipped pipeline of
    that name (``default`` or ``default.yaml``).

    Raises
    ------
    ConfigError
        If ``pipeline`` is neither an existing file nor a shipped pipeline's name.
    """
    path = Path(pipeline)
    if path.exists() or path.parent != Path("."):
        return path
    shipped = shippedPipelines()
    name = path.stem if path.suffix == ".yaml" else path.name
    if name in shipped:
        return shipped[name]
    raise ConfigError(f"{pipeline}: pipeline file not found, and not the name of a pipeline "
                      f"shipped with diffim ({', '.join(shipped)}; see diffim pipelines)")
