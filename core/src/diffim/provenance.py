"""Provenance header cards: what made an output file, and from what.

Every FITS file a run writes (images and tables, by :func:`diffim.runner.runFiles`
and by :meth:`diffim.ImageDifferenceTask.runDataRef`) carries these cards in its
primary header:

========  ====================================================================
DIFFVER   diffim version (``importlib.metadata``)
DIFFPIPE  pipeline file name, or ``(config)`` for a config given otherwise
DIFFALG   name of the ``subtract`` plugin
SCIFILE   science input: the file name; for a repository run the data ID
TMPLFILE  template input: the file name; ``repo:<root>`` or the template data
          IDs when the template was built from a repository
SCISUM    SHA-256 (hex) of the science input (see below)
TMPLSUM   SHA-256 (hex) of the template input (see below)
KERNSUM   sum of the PSF-matching kernel, when the algorithm fits one
========  ====================================================================

No date is written: the same inputs and config give byte-identical files
whenever and wherever they are run (a batch on a cluster, a rerun); the run's
date is in its metadata.

The checksums: for an input file, the SHA-256 of the file's bytes (the image
file only, not its companion variance, noise or PSF files), so ``sha256sum
science.fits`` reproduces it. For an input that is no file of its own (a
repository calexp, a template built from coadds) it is the SHA-256 of the image
pixels as little-endian float32 (``np.asarray(image, "<f4").tobytes()``: what
the IMAGE extension of a diffim file holds); for a template built by the run
that is the warped template it subtracted.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .exposure import Exposure

#: Bytes read at a time while hashing a file.
_CHUNK = 4 * 2**20


def fileChecksum(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the bytes of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pixelChecksum(image: np.ndarray) -> str:
    """SHA-256 (hex) of ``image`` as C-ordered little-endian float32 pixels."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype="<f4").tobytes()).hexdigest()


def diffimVersion() -> str:
    """The installed diffim version (``unknown`` when not installed)."""
    try:
        return metadata.version("diffim")
    except metadata.PackageNotFoundError:
        return "unknown"


def _input(value: Any) -> tuple[str, str] | None:
    """``(name, checksum)`` of an input: a path, an ImageFiles, or ``(label, Exposure)``."""
    if value is None:
        return None
    if isinstance(value, tuple):
        label, source = value
        if isinstance(source, Exposure):
            return str(label), pixelChecksum(source.image)
        if isinstance(source, np.ndarray):
            return str(label), pixelChecksum(source)
        if isinstance(source, str) and len(source) == 64:
            return str(label), source
        raise TypeError(f"cannot take a checksum of {type(source).__name__}")
    path = Path(getattr(value, "image", value))
    return path.name, fileChecksum(path)


def kernelSum(result: Any) -> float | None:
    """The matching kernel's sum of a run's ``result``, when known."""
    subtraction = getattr(result, "subtractRes", None)
    kernel = getattr(subtraction, "psfMatchingKernel", None)
    if kernel is not None:
        try:
            return float(kernel.kernelSum)
        except (AttributeError, TypeError, ValueError):
            pass
    meta = getattr(result, "metadata", None) or {}
    for key, value in meta.items():
        if str(key).endswith("KernelSum") and isinstance(value, (int, float, np.number)):
            return float(value)
    quality = meta.get("quality")
    if isinstance(quality, Mapping):
        value = (quality.get("figures") or {}).get("kernelSum")
        if isinstance(value, (int, float, np.number)):
            return float(value)
    return None


def provenanceCards(config, result, science=None, template=None,
                    pipeline: str | os.PathLike | None = None) -> dict[str, tuple[Any, str]]:
    """Primary-header cards recording what made a run's outputs.

    Parameters
    ----------
    config : ImageDifferenceConfig
        The run's config (gives the subtract plugin).
    result : ImageDifferenceResult or None
        What the run returned (gives the kernel sum).
    science, template : path, ImageFiles or (label, Exposure / array / checksum), optional
        The inputs: a file is named by its file name and hashed whole; a
        ``(label, exposure)`` pair (a repository input, a template the run built)
        is named by ``label`` and its pixels hashed (see the module docstring).
    pipeline : path, optional
        The pipeline file (``(config)`` when None).

    Returns
    -------
    dict
        ``keyword -> (value, comment)``; keywords of at most 8 characters (the
        checksums' comments are empty: their values fill the card).
    """
    cards: dict[str, tuple[Any, str]] = {
        "DIFFVER": (diffimVersion(), "diffim version"),
        "DIFFPIPE": (Path(pipeline).name if pipeline is not None else "(config)",
                     "diffim pipeline file"),
    }
    subtract = getattr(config, "subtract", None)
    if subtract is not None and getattr(subtract, "name", None):
        cards["DIFFALG"] = (str(subtract.name), "subtract plugin (image differencing algorithm)")
    for key, sumKey, value, role in (("SCIFILE", "SCISUM", science, "science"),
                                     ("TMPLFILE", "TMPLSUM", template, "template")):
        described = _input(value)
        if described is not None:
            cards[key] = (described[0], f"{role} input")
            # a 64-digit hex value leaves no room for a comment on its card
            cards[sumKey] = (described[1], "")
    total = kernelSum(result)
    if total is not None and np.isfinite(total):
        cards["KERNSUM"] = (total, "sum of the PSF-matching kernel")
    return cards
