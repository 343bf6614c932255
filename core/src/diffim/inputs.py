"""The files of one input image: the image, and what a user supplies beside it.

A plain FITS image says little about itself. As HOTPANTS users do, a user can
give its variance (or 1-sigma noise) map and its PSF as files of their own, and
header values (gain, read noise, saturation, seeing) that the file lacks or gets
wrong; they take the place of the file's own, or of what diffim would derive.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .exposure import Exposure
from .fits_io import Region, Supplements, readExposure, readImageData, readPsfFile


@dataclass
class ImageFiles:
    """One input image and its companion files.

    Attributes
    ----------
    image : path
        The FITS image (plain, or a diffim / LSST exposure).
    variance : path, optional
        A FITS image of the variance of each pixel.
    noise : path, optional
        A FITS image of the 1-sigma noise of each pixel (squared into the variance);
        give this or ``variance``.
    psf : path, optional
        A FITS image of the PSF (odd square stamp), or a file with a diffim PSF
        extension.
    header : dict
        Header cards that override the image's (``GAIN``, ``RDNOISE``, ``SATURATE``,
        ``FWHM`` in pixels, ``SEEING`` in arcsec, ...).
    """

    image: str | os.PathLike
    variance: str | os.PathLike | None = None
    noise: str | os.PathLike | None = None
    psf: str | os.PathLike | None = None
    header: Mapping[str, Any] = field(default_factory=dict)

    def read(self, region: Region | None = None) -> Exposure:
        """The exposure (or ``region`` of it), with the supplied variance, PSF and header cards.

        ``region`` is ``(rows, columns)`` slices: a tile of a large image
        (:func:`diffim.fits_io.readExposure`).

        Raises
        ------
        InputError
            If a file is unreadable, a map's shape differs from the image's, or both
            a variance and a noise map are given.
        """
        if self.variance is not None and self.noise is not None:
            raise InputError(f"{self.image}: give a variance map or a noise map, not both "
                             f"({self.variance}, {self.noise})")
        supplements = Supplements(header=dict(self.header))
        if self.variance is not None:
            supplements.variance = readImageData(self.variance, region)
            supplements.varianceFile = Path(self.variance)
            supplements.varianceNote = f"from the variance map {self.variance}"
        elif self.noise is not None:
            supplements.variance = readImageData(self.noise, region) ** 2
            supplements.varianceFile = Path(self.noise)
            supplements.varianceNote = f"the square of the noise map {self.noise}"
        if self.psf is not None:
            supplements.psf = readPsfFile(self.psf)
            supplements.psfNote = f"from the PSF file {self.psf}"
        exposure = readExposure(self.image, supplements, region)
        if self.header:
            exposure.metadata["HDROVERR"] = ", ".join(f"{k}={v}" for k, v in self.header.items())
        return exposure


def parseHeaderCards(cards: tuple[str, ...] | list[str], role: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings as header cards (numbers as numbers, keys upper case).

    Raises
    ------
    InputError
        If a card is not ``KEY=VALUE`` with a FITS keyword of at most 8 characters.
    """
    parsed: dict[str, Any] = {}
    for card in cards:
        key, sep, value = card.partition("=")
        key = key.strip().upper()
        if not sep or not key or len(key) > 8 or not key.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"--{role}-header {card!r}: expected KEY=VALUE with a FITS keyword "
                             "of at most 8 characters, e.g. GAIN=2.1 or SATURATE=60000")
        parsed[key] = _number(value.strip())
    return parsed


def _number(text: str) -> Any:
    """``text`` as an int or a float when it is one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
