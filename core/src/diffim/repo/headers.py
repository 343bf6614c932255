"""Data-ID values written in FITS headers, for ingesting files."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from astropy.io import fits

from ..errors import InputError

#: Header keywords that may hold each data-ID key, in order of preference.
HEADER_KEYWORDS: dict[str, tuple[str, ...]] = {
    "visit": ("VISIT", "EXPNUM", "EXPID"),
    "detector": ("DETECTOR", "CCDNUM", "CCD"),
    "band": ("BAND", "FILTER"),
    "tract": ("TRACT",),
    "patch": ("PATCH",),
}


def dataIdFromHeader(path: str | Path) -> dict[str, Any]:
    """The data-ID values the headers of a FITS file declare.

    The primary header is read first, then the first image extension's (the
    ``IMAGE`` extension of a diffim exposure); the first keyword found for a key
    wins (:data:`HEADER_KEYWORDS`). No pixels are read.

    Raises
    ------
    InputError
        If the file is not readable FITS.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path) as hdul:
                headers = [hdu.header for hdu in hdul[:2]]
                found: dict[str, Any] = {}
                for key, keywords in HEADER_KEYWORDS.items():
                    for header in headers:
                        value = next((header[k] for k in keywords if k in header
                                      and header[k] not in (None, "")), None)
                        if value is not None:
                            found[key] = value.strip() if isinstance(value, str) else value
                            break
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise InputError(f"{path}: not a readable FITS file ({' '.join(str(exc).split())})") \
            from None
    return found
