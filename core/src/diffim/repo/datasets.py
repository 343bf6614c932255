"""Dataset types of a data repository: their data-ID keys, storage and file names.

- ``calexp`` and ``calexpBackground`` (exposures; the background model subtracted from the
  calexp, added back with doAddCalexpBackground), ``src`` and ``truth`` (tables): one per
  (visit, detector, band);
- ``<name>Coadd`` (exposure), e.g. ``deepCoadd``: one per (tract, patch, band);
- ``<coaddName>Diff_<kind>`` for the outputs of image differencing, e.g.
  ``deepDiff_differenceExp`` (exposures), ``deepDiff_diaSrc`` (tables) and the files made
  for looking at a run (``deepDiff_quicklook``, ``_gallery``: PNG; ``_cutouts``: FITS;
  ``_regions``: DS9; ``_report``: HTML): one per (visit, detector, band);
- ``skyMap``: the repository's sky map (no data ID).
"""
from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: Every data-ID key a repository knows, and the type of its values.
DIMENSIONS: dict[str, type] = {"visit": int, "detector": int, "band": str, "tract": int,
                               "patch": int}

#: Keys of a science exposure and of everything made from it.
VISIT_KEYS = ("visit", "detector", "band")

#: Keys of a coadd patch.
PATCH_KEYS = ("tract", "patch", "band")

#: The image-differencing outputs (``<coaddName>Diff_<kind>``) and how each is stored: an
#: exposure, a table, or a file of bytes with the given suffix (the pictures, cutouts,
#: region file and report of :data:`diffim.runner.LOOK_AT_OUTPUTS` and ``report``).
DIFF_KINDS = {"differenceExp": "exposure", "diaSrc": "table", "matchedExp": "exposure",
              "warpedExp": "exposure", "scoreExp": "exposure", "kernelSrc": "table",
              "quicklook": ".png", "gallery": ".png", "cutouts": ".fits", "regions": ".reg",
              "report": ".html"}

#: Bits of an exposure id given to the detector (:func:`exposureId`).
DETECTOR_BITS = 8

#: Bits of an exposure id in all (the high bits of a diaSource id).
EXPOSURE_ID_BITS = 32

_NAME = r"[A-Za-z][A-Za-z0-9]*"
_COADD = re.compile(rf"({_NAME})Coadd")
_DIFF = re.compile(rf"({_NAME})Diff_({'|'.join(DIFF_KINDS)})")
_BAND = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class DatasetType:
    """What a dataset type is stored as and which data-ID keys name one dataset.

    Parameters
    ----------
    name : str
        E.g. ``calexp`` or ``deepDiff_diaSrc``.
    keys : tuple of str
        Its data-ID keys.
    storage : {"exposure", "table", "yaml", "file"}
        How a dataset of this type is written and read (``file``: bytes, as they are).
    suffix : str
        The suffix of its file names.
    """

    name: str
    keys: tuple[str, ...]
    storage: str
    suffix: str = ".fits"

    def relativePath(self, dataId: Mapping[str, Any]) -> str:
        """File of the dataset with ``dataId`` (normalised), relative to the repository root."""
        if not self.keys:
            return f"{self.name}.yaml"
        if self.keys == VISIT_KEYS:
            band, visit, detector = dataId["band"], dataId["visit"], dataId["detector"]
            return (f"{self.name}/{band}/{visit}/{self.name}_{band}_{visit}_{detector}"
                    f"{self.suffix}")
        band, tract, patch = dataId["band"], dataId["tract"], dataId["patch"]
        return f"{self.name}/{band}/{tract}/{patch}/{self.name}_{band}_{tract}_{patch}.fits"

    def normalize(self, dataId: Mapping[str, Any]) -> dict[str, Any]:
        """``dataId`` reduced to this type's keys, each converted to its type.

        Keys of other dataset types (e.g. a visit's ``visit`` when a coadd is
        asked for) are dropped, so one data ID can name related datasets.

        Raises
        ------
        InputError
            If a key is unknown, one of this type's keys is missing, or a value
            has the wrong type.
        """
        unknown = sorted(set(dataId) - set(DIMENSIONS))
        if unknown:
            raise InputError(f"data ID {dict(dataId)}: unknown key(s) {', '.join(unknown)} "
                             f"(expected {', '.join(DIMENSIONS)})")
        missing = [key for key in self.keys if dataId.get(key) is None]
        if missing:
            raise InputError(f"data ID {dict(dataId)} of {self.name}: missing "
                             f"{', '.join(missing)} (a {self.name} is named by "
                             f"{', '.join(self.keys)})")
        return {key: convertValue(key, dataId[key]) for key in self.keys}


def convertValue(key: str, value: Any) -> int | str:
    """``value`` of data-ID key ``key`` as its type (int or a folder-safe band name).

    Raises
    ------
    InputError
        If it cannot be.
    """
    kind = DIMENSIONS[key]
    if kind is int:
        try:
            if isinstance(value, bool):
                raise TypeError
            number = int(value.strip()) if isinstance(value, str) else operator.index(value)
        except (TypeError, ValueError):
            raise InputError(f"data ID key {key}: expected an integer, got {value!r}") from None
        if number < 0:
            raise InputError(f"data ID key {key}: expected a non-negative integer, got {number}")
        return number
    text = str(value)
    if not _BAND.fullmatch(text):
        raise InputError(f"data ID key {key}: {value!r} is not a band name (letters, digits, "
                         "'_', '-', '.')")
    return text


def datasetType(name: str) -> DatasetType:
    """The :class:`DatasetType` called ``name``.

    Raises
    ------
    InputError
        If no dataset type has that name; the message lists the forms that exist.
    """
    if name in ("calexp", "calexpBackground"):
        return DatasetType(name, VISIT_KEYS, "exposure")
    if name in ("src", "truth"):
        return DatasetType(name, VISIT_KEYS, "table")
    if name == "skyMap":
        return DatasetType(name, (), "yaml")
    if _COADD.fullmatch(name):
        return DatasetType(name, PATCH_KEYS, "exposure")
    match = _DIFF.fullmatch(name)
    if match:
        storage = DIFF_KINDS[match.group(2)]
        if storage.startswith("."):
            return DatasetType(name, VISIT_KEYS, "file", storage)
        return DatasetType(name, VISIT_KEYS, storage)
    raise InputError(f"unknown dataset type {name!r} (expected calexp, calexpBackground, src, "
                     "truth, skyMap, "
                     f"<coaddName>Coadd such as deepCoadd, or <coaddName>Diff_<kind> with kind "
                     f"one of {', '.join(DIFF_KINDS)})")


def exposureId(dataId: Mapping[str, Any]) -> int:
    """The exposure id of a science data ID: ``visit << 8 | detector``.

    It fills the high :data:`EXPOSURE_ID_BITS` bits of the ids of the
    diaSources found on the exposure (:class:`diffim.ids.IdFactory`), so ids are
    unique across a repository.

    Raises
    ------
    InputError
        If the detector or the visit does not fit in its bits.
    """
    visit, detector = int(dataId["visit"]), int(dataId["detector"])
    if detector >= 1 << DETECTOR_BITS or visit >= 1 << (EXPOSURE_ID_BITS - DETECTOR_BITS):
        raise InputError(f"data ID {dict(dataId)}: visit must be below "
                         f"{1 << (EXPOSURE_ID_BITS - DETECTOR_BITS)} and detector below "
                         f"{1 << DETECTOR_BITS} to make a diaSource id")
    return (visit << DETECTOR_BITS) | detector


def dataIdKey(dataId: Mapping[str, Any]) -> str:
    """Canonical text of a normalised data ID (``band=r,detector=0,visit=3``), sorted by key."""
    return ",".join(f"{key}={dataId[key]}" for key in sorted(dataId))


def formatDataId(dataId: Mapping[str, Any]) -> str:
    """A data ID for messages: ``{visit: 3, detector: 0, band: 'r'}`` in dimension order."""
    keys = [key for key in DIMENSIONS if key in dataId]
    return "{" + ", ".join(f"{key}: {dataId[key]!r}" for key in keys) + "}"
