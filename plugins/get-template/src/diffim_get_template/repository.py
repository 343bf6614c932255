"""The data repository: where the patches of a coadd live, and what their headers say.

Only headers are read here (FITS HDUs are loaded lazily), so a repository of
many patches is searched without reading any pixels.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning

from .errors import TemplateRepositoryError


@dataclass(frozen=True)
class PatchHeader:
    """What the header of one patch file says about its pixels.

    Parameters
    ----------
    path : pathlib.Path
        The patch file.
    shape : tuple of int
        ``(height, width)`` of its image.
    wcs : astropy.wcs.WCS
        Its celestial WCS.
    """

    path: Path
    shape: tuple[int, int]
    wcs: WCS


def coaddFolder(repository: Path, coaddName: str, band: str) -> Path:
    """Return ``<repository>/<coaddName>Coadd/<band>``.

    Raises
    ------
    TemplateRepositoryError
        If the repository or the folder is missing; the message lists the
        ``<coadd>/<band>`` folders that exist.
    """
    if not repository.is_dir():
        raise TemplateRepositoryError(
            f"{repository}: template repository not found (expected a directory holding "
            f"{coaddName}Coadd/{band}/*.fits patches)")
    folder = repository / f"{coaddName}Coadd" / band
    if not folder.is_dir():
        found = sorted(f"{coadd.name}/{bandDir.name}"
                       for coadd in repository.glob("*Coadd") if coadd.is_dir()
                       for bandDir in coadd.iterdir() if bandDir.is_dir())
        raise TemplateRepositoryError(
            f"{repository}: no {coaddName}Coadd/{band} folder for band {band!r} (expected "
            f"{coaddName}Coadd/{band}/*.fits patches; found: {', '.join(found) or 'none'})")
    return folder


def patchFiles(folder: Path, repository: Path, band: str) -> list[Path]:
    """The ``*.fits`` files anywhere under ``folder``, sorted by path.

    Raises
    ------
    TemplateRepositoryError
        If there is none.
    """
    paths = sorted(path for path in folder.rglob("*.fits") if path.is_file())
    if not paths:
        raise TemplateRepositoryError(
            f"{repository}: {folder.relative_to(repository)} holds no *.fits patch for band "
            f"{band!r} (expected coadd patches written by diffim.fits_io.writeExposure or "
            "plain FITS images with a celestial WCS)")
    return paths


def readPatchHeader(path: Path) -> PatchHeader:
    """Read the image shape and celestial WCS of a patch without reading its pixels.

    The image is the ``IMAGE`` extension of a multi-extension file, else the
    first HDU holding a 2-D image, as :func:`diffim.fits_io.readExposure` reads it.

    Raises
    ------
    TemplateRepositoryError
        If the file is not readable FITS, holds no 2-D image, or has no celestial WCS.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        warnings.simplefilter("ignore", AstropyUserWarning)
        try:
            with fits.open(path) as hdul:
                header = _imageHeader(hdul)
                if header is not None:
                    header = header.copy()
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise TemplateRepositoryError(
                f"{path}: not a readable FITS patch ({' '.join(str(exc).split())})") from None
        if header is None:
            raise TemplateRepositoryError(f"{path}: no 2-D image in the patch file (expected "
                                          "an IMAGE extension or a 2-D primary image)")
        try:
            wcs = WCS(header, naxis=2)
        except (ValueError, KeyError, MemoryError, TypeError) as exc:
            raise TemplateRepositoryError(
                f"{path}: invalid WCS ({' '.join(str(exc).split())}); expected a celestial "
                "WCS such as RA---TAN/DEC--TAN") from None
    if not wcs.has_celestial:
        raise TemplateRepositoryError(f"{path}: patch has no celestial WCS (expected one such "
                                      "as RA---TAN/DEC--TAN: patches are placed by sky position)")
    shape = (int(header.get("ZNAXIS2", header["NAXIS2"])),
             int(header.get("ZNAXIS1", header["NAXIS1"])))
    return PatchHeader(path, shape, wcs.celestial)


def _imageHeader(hdul: fits.HDUList) -> fits.Header | None:
    """Header of the IMAGE extension, else of the first HDU declaring a non-empty 2-D image."""
    for hdu in hdul:
        if hdu.name == "IMAGE":
            return hdu.header
    for hdu in hdul:
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
            continue
        header = hdu.header
        naxis = int(header.get("ZNAXIS", header.get("NAXIS", 0)))
        dims = [int(header.get(f"ZNAXIS{i}", header.get(f"NAXIS{i}", 0)))
                for i in range(1, naxis + 1)]
        if len(dims) >= 2 and 0 not in dims and all(n == 1 for n in dims[2:]):
            return header
    return None
