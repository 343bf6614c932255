"""Mask bit planes: the named plane dictionary shared by every exposure.

A mask is an integer array whose bits mean what the plane dictionary says.
Planes follow the LSST names so that users of the LSST stack read diffim
masks without a lookup table. The dictionary is stored in FITS headers as
``MP_<NAME> = bit`` keys, as LSST does.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np

log = logging.getLogger("diffim.mask")

#: (context, plane) pairs already reported missing.
_REPORTED: set[tuple[str, str]] = set()

MASK_DTYPE = np.int32

#: Default planes and their bits. Order fixes the bit numbers.
DEFAULT_PLANES: dict[str, int] = {
    "BAD": 0,
    "SAT": 1,
    "INTRP": 2,
    "CR": 3,
    "EDGE": 4,
    "DETECTED": 5,
    "DETECTED_NEGATIVE": 6,
    "SUSPECT": 7,
    "NO_DATA": 8,
}

#: Short descriptions written as FITS header comments.
PLANE_DOCS: dict[str, str] = {
    "BAD": "bad detector pixel",
    "SAT": "saturated pixel",
    "INTRP": "interpolated pixel value",
    "CR": "cosmic ray",
    "EDGE": "near the edge or not fully convolved",
    "DETECTED": "inside a positive detection footprint",
    "DETECTED_NEGATIVE": "inside a negative detection footprint",
    "SUSPECT": "suspect (e.g. non-linear) pixel",
    "NO_DATA": "no valid data",
}


class MaskPlanes(Mapping[str, int]):
    """Mapping from plane name to bit number.

    Parameters
    ----------
    planes : mapping of str to int, optional
        Plane names and bit numbers; the default LSST-like planes when omitted.
    """

    def __init__(self, planes: Mapping[str, int] | None = None) -> None:
        self._planes = dict(DEFAULT_PLANES if planes is None else planes)

    def __getitem__(self, name: str) -> int:
        try:
            return self._planes[name]
        except KeyError:
            raise KeyError(
                f"unknown mask plane {name!r}; known planes: {', '.join(self._planes)}"
            ) from None

    def __iter__(self):
        return iter(self._planes)

    def __len__(self) -> int:
        return len(self._planes)

    def bitmask(self, names: Iterable[str] | str, context: str | None = None) -> int:
        """Return the OR of the bits of the named planes.

        Parameters
        ----------
        names : str or iterable of str
            One plane name or several.
        context : str, optional
            Where the names come from (a config field, say). When given, a name
            this dictionary lacks counts as an empty plane, reported once per
            context and name (real exposures carry whatever planes their pipeline
            made); without it, an unknown name is a KeyError.
        """
        if isinstance(names, str):
            names = [names]
        value = 0
        for name in names:
            if context is not None and name not in self._planes:
                _reportMissing(context, name, self)
                continue
            value |= 1 << self[name]
        return value

    def add(self, name: str) -> int:
        """Add a plane (if new) and return its bit number."""
        if name not in self._planes:
            used = set(self._planes.values())
            bit = next(b for b in range(31) if b not in used)
            self._planes[name] = bit
        return self._planes[name]

    def copy(self) -> "MaskPlanes":
        return MaskPlanes(self._planes)

    def to_header_cards(self) -> list[tuple[str, int, str]]:
        """Return ``(MP_<NAME>, bit, comment)`` cards for a FITS header."""
        return [(f"MP_{name}", bit, PLANE_DOCS.get(name, "mask plane"))
                for name, bit in self._planes.items()]

    @classmethod
    def from_header(cls, header: Mapping) -> "MaskPlanes":
        """Read ``MP_<NAME>`` keys from a FITS header (defaults when none)."""
        planes = {key[3:]: int(header[key]) for key in header if str(key).startswith("MP_")}
        return cls(planes or None)

    def __repr__(self) -> str:
        return f"MaskPlanes({self._planes})"


def _reportMissing(context: str, name: str, planes: MaskPlanes) -> None:
    """Log, once per context and plane, that a configured plane is absent and taken as empty."""
    if (context, name) in _REPORTED:
        return
    _REPORTED.add((context, name))
    log.info("%s names the mask plane %s, which the exposure does not have (planes: %s); "
             "it is treated as empty", context, name, ", ".join(planes))


def remapMask(mask: np.ndarray, planes: MaskPlanes, target: MaskPlanes) -> np.ndarray:
    """Express ``mask`` (bits named by ``planes``) in the bit numbers of ``target``.

    Planes ``target`` lacks are added to it. Returns ``mask`` itself when the
    bit numbers already agree, else a new array.
    """
    for name in planes:
        target.add(name)
    if all(planes[name] == target[name] for name in planes):
        return mask
    out = np.zeros_like(mask)
    for name in planes:
        out |= ((mask >> planes[name]) & 1).astype(mask.dtype) << target[name]
    return out
