"""Config of the ``coadd`` getTemplate plugin (LSST ``GetCoaddAsTemplateConfig``)."""
from __future__ import annotations

import re

from diffim.config import Config, Field, RangeField


def _isFolderName(value: str) -> bool:
    """True for a name usable as one path component (letters, digits, ``_``, ``-``, ``.``)."""
    return re.fullmatch(r"[A-Za-z0-9_.-]+", value) is not None and value not in (".", "..")


class GetCoaddAsTemplateConfig(Config):
    """Which coadd the template comes from and how far beyond the science image it reaches."""

    coaddName = Field(
        "Name of the coadd the template is built from: patches are read from "
        "<repository>/<coaddName>Coadd/<band>/, e.g. deepCoadd/r for 'deep' (LSST's names are "
        "deep, goodSeeing and dcr). It must equal the task's coaddName.",
        str, default="deep", check=_isFolderName)
    templateBorderSize = RangeField(
        "Pixels (science pixels) by which the science image is grown on every side before "
        "looking for patches and cutting the template, so that the template still covers the "
        "science image after it is warped and convolved with the PSF-matching kernel.",
        int, default=20, min=0)
