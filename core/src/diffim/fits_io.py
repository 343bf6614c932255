"""Read and write exposures and catalogs as FITS files.

An exposure is written as a multi-extension FITS file that astropy, DS9 and
the LSST stack's readers understand without diffim:

==========  ===============================================================
HDU         content
==========  ===============================================================
PRIMARY     no data; metadata as header cards (where representable),
            ``FILTER``, ``DATE-OBS``, ``MAGZERO`` (photometric zero point)
IMAGE       float32 pixels, WCS header
MASK        int32 bit planes, WCS header, ``MP_<NAME> = bit`` cards
VARIANCE    float32 variance, WCS header
PSF         ``PSFTYPE='IMAGE'``: the 2-D PSF image (``GSIGMA`` for a
            Gaussian); ``PSFTYPE='SPATIAL'``: a cube of PSF stamps with
            ``PSFORDER``, ``BBOX_W``, ``BBOX_H``
PSF_POSITIONS  binary table ``x``, ``y`` of the spatial PSF stamps
==========  ===============================================================

:func:`readExposure` reads that layout back exactly, and also reads a plain
single-image FITS file (as it comes from a telescope or archive); what such a
file does not hold (mask, variance, detections) is derived by
:mod:`diffim.characterize`, and a missing PSF is left to the ``measurePsf``
plugin slot, which the task calls.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning

from .atomic import atomic_write, check_writable
from .characterize import deriveMask, deriveVariance, headerNumber, markDetected
from .errors import InputError
from .exposure import Exposure
from .mask import MASK_DTYPE, MaskPlanes
from .memory import checkImageFits
from .photocalib import PhotoCalib
from .psf import GaussianPsf, ImagePsf, Psf, SpatialPsf

#: Header keys giving the zero point, in order of preference.
ZEROPOINT_KEYS = ("MAGZERO", "MAGZP", "ZP", "PHOTZP")

#: ``PSFNOTE`` of an exposure read without a PSF.
PSF_NOT_IN_FILE = "not in the file: to be measured by the measurePsf plugin"

#: Cards describing the file layout rather than the observation; never metadata.
_STRUCTURAL = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|BZERO|BSCALE|BLANK|PCOUNT|GCOUNT|XTENSION|EXTNAME|"
    r"EXTVER|INHERIT|CHECKSUM|DATASUM|COMMENT|HISTORY|)$")
#: World-coordinate cards: they live in the image HDUs' WCS, not in metadata.
_WCS_KEY = re.compile(
    r"^(WCSAXES|CTYPE\d|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
    r"PS\d_\d+|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|MJDREF|WCSNAME|[AB]P?_ORDER|"
    r"[AB]P?_\d+_\d+|[AB]P?_DMAX|CRDER\d|CSYER\d)$")
#: ``(rows, columns)`` slices of an image: a tile read on its own.
Region = tuple[slice, slice]

#: Most bytes of whole rows read at once for a region (wider images are read row by row).
MAX_BAND_BYTES = 256 * 2**20

#: Primary-header cards that hold Exposure attributes in a diffim file.
_ATTRIBUTE_KEYS = ("FILTER", "DATE-OBS", "MAGZERO")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def writeExposure(exposure: Exposure, path: str | os.PathLike, overwrite: bool = False,
                  header: Mapping[str, Any] | None = None, unit: str | None = None) -> Path:
    """Write ``exposure`` as a multi-extension FITS file, atomically.

    Parameters
    ----------
    exposure : Exposure
        The exposure to write.
    path : str or os.PathLike
        Destination file.
    overwrite : bool
        Replace an existing file.
    header : mapping, optional
        Extra primary-header cards, ``key -> value`` or ``key -> (value, comment)``
        (e.g. :func:`diffim.provenance.provenanceCards`).
    unit : str, optional
        ``BUNIT`` of the IMAGE extension (the VARIANCE extension gets its square);
        by default the exposure's own ``BUNIT`` metadata, else ``adu``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    diffim.errors.OutputError
        If the file exists and ``overwrite`` is False, or its directory is missing.
    """
    path = check_writable(path, overwrite)
    wcsHeader = _wcs_header(exposure.wcs)
    imageUnit = pixelUnit(exposure) if unit is None else unit
    imageHeader = wcsHeader.copy()
    imageHeader["BUNIT"] = (imageUnit, "unit of the pixel values")
    hdus = [fits.PrimaryHDU(header=_primary_header(exposure, header)),
            fits.ImageHDU(exposure.image.astype(np.float32, copy=False), imageHeader,
                          name="IMAGE")]
    maskHeader = wcsHeader.copy()
    for key, bit, comment in exposure.maskPlanes.to_header_cards():
        maskHeader[_card_key(key)] = (bit, comment)
    hdus.append(fits.ImageHDU(exposure.mask.astype(MASK_DTYPE, copy=False), maskHeader,
                              name="MASK"))
    if exposure.variance is not None:
        varianceHeader = wcsHeader.copy()
        varianceHeader["BUNIT"] = (squaredUnit(imageUnit), "unit of the variance (IMAGE's squared)")
        hdus.append(fits.ImageHDU(exposure.variance.astype(np.float32, copy=False),
                                  varianceHeader, name="VARIANCE"))
    if exposure.psf is not None:
        hdus.extend(_psf_hdus(exposure.psf, exposure.shape))
    with atomic_write(path, overwrite=overwrite) as tmp:
        fits.HDUList(hdus).writeto(tmp)
    return path


class ExposureBlockWriter:
    """A diffim exposure file written one block of pixels at a time.

    For images too large to hold whole: the headers (those :func:`writeExposure`
    writes) go first and the IMAGE, MASK and VARIANCE data units are reserved;
    :meth:`write` then puts each block in its place and :meth:`finish` appends the
    PSF. Pixels no block covers read as 0. Use it on a temporary path (see
    :func:`diffim.atomic.atomic_write`): the file is complete only once closed.

    Parameters
    ----------
    path : path
        The file to create.
    shape : tuple of int
        ``(height, width)`` of the whole image.
    description : Exposure
        Gives the headers: metadata, filter, date, calibration, WCS (of the whole
        image) and mask planes; its pixels are not written.
    """

    #: Data units in file order: extension name and big-endian FITS type.
    PLANES = (("IMAGE", ">f4"), ("MASK", ">i4"), ("VARIANCE", ">f4"))

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int],
                 description: Exposure) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self._stream = open(path, "wb")
        self._offsets: dict[str, int] = {}
        self._stream.write(fits.PrimaryHDU(header=_primary_header(description))
                           .header.tostring().encode("ascii"))
        wcsHeader = _wcs_header(description.wcs)
        imageUnit = pixelUnit(description)
        units = {"IMAGE": imageUnit, "VARIANCE": squaredUnit(imageUnit)}
        for name, dtype in self.PLANES:
            header = fits.ImageHDU(np.zeros((1, 1), dtype=dtype), wcsHeader.copy(),
                                   name=name).header
            header["NAXIS1"], header["NAXIS2"] = self.shape[1], self.shape[0]
            if name in units:
                header["BUNIT"] = (units[name], "unit of the pixel values")
            if name == "MASK":
                for key, bit, comment in description.maskPlanes.to_header_cards():
                    header[_card_key(key)] = (bit, comment)
            self._stream.write(header.tostring().encode("ascii"))
            self._offsets[name] = self._stream.tell()
            self._stream.seek(_padded(self.shape[0] * self.shape[1] * 4), os.SEEK_CUR)
        self._stream.truncate()

    def __enter__(self) -> "ExposureBlockWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self._stream.close()

    def write(self, rows: slice, columns: slice, block: Exposure) -> None:
        """Put ``block`` (image, mask, variance) at ``[rows, columns]`` of the image."""
        width = self.shape[1]
        for (name, dtype), plane in zip(self.PLANES, (block.image, block.mask, block.variance)):
            data = np.ascontiguousarray(plane, dtype=dtype)
            for index, row in enumerate(range(rows.start, rows.stop)):
                self._stream.seek(self._offsets[name] + 4 * (row * width + columns.start))
                self._stream.write(data[index].tobytes())

    def finish(self, psf: Psf | None) -> None:
        """Append the PSF extensions (when ``psf`` is given) and close the file."""
        self._stream.seek(0, os.SEEK_END)
        if psf is not None:
            primary = fits.PrimaryHDU()
            buffer = io.BytesIO()
            fits.HDUList([primary, *_psf_hdus(psf, self.shape)]).writeto(buffer)
            self._stream.write(buffer.getvalue()[len(primary.header.tostring()):])
        self._stream.close()


def _padded(nbytes: int) -> int:
    """``nbytes`` rounded up to whole 2880-byte FITS blocks."""
    return -(-nbytes // 2880) * 2880


def _card_key(key: str) -> str:
    """``key`` as written: a standard keyword when it is one, else a HIERARCH keyword."""
    return key if re.fullmatch(r"[A-Z0-9_-]{1,8}", key) else f"HIERARCH {key}"


def _representable(key: Any, value: Any) -> bool:
    """Whether ``key = value`` can be a FITS header card (printable ASCII, scalar value)."""
    if (not isinstance(key, str) or not key or not key.isascii() or not key.isprintable()
            or "=" in key or len(key) > 60):
        return False
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isfinite(value))
    return isinstance(value, str) and value.isascii() and value.isprintable()


#: Pixel unit of an exposure whose metadata gives none (counts).
DEFAULT_UNIT = "adu"


def pixelUnit(exposure: Exposure) -> str:
    """The unit of ``exposure``'s pixels: its ``BUNIT`` metadata, else :data:`DEFAULT_UNIT`."""
    unit = exposure.metadata.get("BUNIT")
    return unit.strip() if isinstance(unit, str) and unit.strip() else DEFAULT_UNIT


def squaredUnit(unit: str) -> str:
    """``unit`` squared, as a FITS unit string (``adu`` -> ``adu2``), e.g. for a variance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for form in ("fits", "generic"):
            try:
                return (u.Unit(unit, format=form) ** 2).to_string(form)
            except (ValueError, TypeError):
                continue
        return f"({unit})**2"


def _extra_cards(header: fits.Header, extra: Mapping[str, Any] | None) -> None:
    """Add ``extra`` (``key -> value`` or ``(value, comment)``) to ``header``."""
    for key, card in (extra or {}).items():
        value, comment = card if isinstance(card, tuple) else (card, None)
        if isinstance(value, np.generic):
            value = value.item()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            header[_card_key(key)] = (value, comment) if comment else value


def stampPrimaryHeader(path: str | os.PathLike, extra: Mapping[str, Any]) -> None:
    """Add the cards of ``extra`` to the primary header of the FITS file at ``path``, in place.

    For outputs another writer made (a run in tiles writes its own); the file is
    rewritten only when the header outgrows its padding.
    """
    with fits.open(path, mode="update") as hdus:
        _extra_cards(hdus[0].header, extra)


def _primary_header(exposure: Exposure, extra: Mapping[str, Any] | None = None) -> fits.Header:
    """Metadata cards (where representable) plus FILTER, DATE-OBS, MAGZERO and ``extra``."""
    header = fits.Header()
    for key, value in exposure.metadata.items():
        if (not _representable(key, value) or key.upper() in _ATTRIBUTE_KEYS
                or _STRUCTURAL.match(key.upper()) or _WCS_KEY.match(key.upper())):
            continue
        if isinstance(value, np.generic):
            value = value.item()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            header[_card_key(key)] = value
    if exposure.filter is not None:
        header["FILTER"] = (exposure.filter, "band")
    if exposure.obsDate is not None:
        header["DATE-OBS"] = (exposure.obsDate, "observation start (UTC)")
    if exposure.photoCalib is not None:
        header["MAGZERO"] = (exposure.photoCalib.zeroPoint, "AB mag giving 1 count")
    _extra_cards(header, extra)
    return header


def _wcs_header(wcs: WCS | None) -> fits.Header:
    """The WCS as header cards (SIP included); empty without a WCS."""
    if wcs is None:
        return fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return wcs.to_header(relax=True)


def _psf_hdus(psf: Psf, shape: tuple[int, int]) -> list[fits.hdu.base.ExtensionHDU]:
    """HDUs storing ``psf``: an image, or a stamp cube plus the stamp positions.

    A SpatialPsf keeps its own stamps. Another spatially varying model is
    sampled on a 5×5 grid over the image and stored as a SpatialPsf of order 2.
    """
    header = fits.Header()
    header["AVGPOSX"] = (float(psf.averagePosition[0]), "x where the PSF is summarised")
    header["AVGPOSY"] = (float(psf.averagePosition[1]), "y where the PSF is summarised")
    if isinstance(psf, SpatialPsf) or psf.isSpatiallyVarying:
        if isinstance(psf, SpatialPsf):
            stamps, x, y, order, bbox = psf.stamps, psf.x, psf.y, psf.order, psf.bbox
        else:
            h, w = shape
            gx, gy = np.meshgrid(np.linspace(0, w - 1, 5), np.linspace(0, h - 1, 5))
            x, y, order, bbox = gx.ravel(), gy.ravel(), 2, (w, h)
            stamps = np.array([psf.at(px, py) for px, py in zip(x, y)])
        header["PSFTYPE"] = ("SPATIAL", "stamp pixels are polynomials in position")
        header["PSFORDER"] = (int(order), "polynomial order of the variation")
        header["BBOX_W"] = (int(bbox[0]), "width of the image the model describes")
        header["BBOX_H"] = (int(bbox[1]), "height of the image the model describes")
        positions = fits.BinTableHDU.from_columns(
            [fits.Column("x", "D", array=np.asarray(x, dtype=np.float64)),
             fits.Column("y", "D", array=np.asarray(y, dtype=np.float64))],
            name="PSF_POSITIONS")
        return [fits.ImageHDU(np.asarray(stamps, dtype=np.float64), header, name="PSF"),
                positions]
    header["PSFTYPE"] = ("IMAGE", "one PSF image for the whole exposure")
    if isinstance(psf, GaussianPsf):
        header["GSIGMA"] = (psf.gaussianSigma, "Gaussian sigma (pixels)")
        image = psf.image
    elif isinstance(psf, ImagePsf):
        image = psf.image
    else:
        image = psf.at(*psf.averagePosition)
    return [fits.ImageHDU(np.asarray(image, dtype=np.float64), header, name="PSF")]


def writeTable(table: Table, path: str | os.PathLike, overwrite: bool = False,
               header: Mapping[str, Any] | None = None) -> Path:
    """Write ``table`` as a FITS binary table, atomically.

    Units go to ``TUNITn``; column descriptions go to ``TCOMMn`` and to
    astropy's serialized-column comments, so :meth:`astropy.table.Table.read`
    and other FITS readers both recover them.

    Parameters
    ----------
    table : astropy.table.Table
        The catalog.
    path : str or os.PathLike
        Destination file.
    overwrite : bool
        Replace an existing file.
    header : mapping, optional
        Extra primary-header cards, ``key -> value`` or ``key -> (value, comment)``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = check_writable(path, overwrite)
    with atomic_write(path, overwrite=overwrite) as tmp:
        table.write(tmp, format="fits")
        with fits.open(tmp, mode="update") as hdus, warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            _extra_cards(hdus[0].header, header)
            header = hdus[1].header
            for i in range(1, header["TFIELDS"] + 1):
                name = header[f"TTYPE{i}"]
                if name in table.colnames and table[name].description:
                    header.insert(f"TFORM{i}", (f"TCOMM{i}", str(table[name].description)),
                                  after=True)
    return path


def readTable(path: str | os.PathLike) -> Table:
    """Read the first table of a FITS file: text columns as ``str``, numbers native-endian.

    Raises
    ------
    InputError
        If the file is missing, not FITS, or holds no table.
    """
    path = Path(path)
    _check_file(path)
    try:
        table = Table.read(path, format="fits")
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: cannot read a FITS table ({_one_line(exc)})") from None
    table.convert_bytestring_to_unicode()
    for name in table.colnames:
        dtype = table[name].dtype
        if dtype.kind in "biufc" and not dtype.isnative:
            table[name] = table[name].astype(dtype.newbyteorder("="))
    return table


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


@dataclass
class Supplements:
    """What a user supplies beside an image file, in place of what it holds or lacks.

    Attributes
    ----------
    header : dict
        Cards that override the file's header (a plain image's, or a diffim file's
        primary header) before the mask and variance are derived: ``GAIN``,
        ``RDNOISE``, ``SATURATE``, ``FWHM`` (pixels), ``SEEING`` (arcsec), ...
    variance : numpy.ndarray, optional
        The variance plane, replacing the file's (or the one derived).
    varianceFile : pathlib.Path, optional
        The file it was read from (named when its shape is wrong).
    varianceNote : str
        Where ``variance`` came from (``VARNOTE``).
    psf : Psf, optional
        The PSF model, replacing the file's (or the one the task would measure).
    psfNote : str
        Where ``psf`` came from (``PSFNOTE``).
    """

    header: dict[str, Any] = field(default_factory=dict)
    variance: np.ndarray | None = None
    varianceFile: Path | None = None
    varianceNote: str = ""
    psf: Psf | None = None
    psfNote: str = ""

    def applyHeader(self, header: fits.Header) -> fits.Header:
        """A copy of ``header`` with the supplied cards set."""
        if not self.header:
            return header
        header = header.copy()
        for key, value in self.header.items():
            header[key] = value
        return header

    def applyVariance(self, exposure: Exposure) -> bool:
        """Set the supplied variance plane (checked against the image); False when none."""
        if self.variance is None:
            return False
        exposure.variance = _checked_plane(self.variance, exposure.shape, "variance",
                                           self.varianceFile, np.float32)
        exposure.metadata["VARNOTE"] = self.varianceNote
        return True

    def applyPsf(self, exposure: Exposure) -> bool:
        """Set the supplied PSF model; False when none."""
        if self.psf is None:
            return False
        exposure.psf = self.psf.copy()
        if not exposure.psf.isSpatiallyVarying:
            exposure.psf.averagePosition = exposure.center
        exposure.metadata["PSFNOTE"] = self.psfNote
        return True


@contextlib.contextmanager
def _opened(path: Path, expected: str, checkMemory: bool = False) -> Iterator[fits.HDUList]:
    """The HDUs of a complete FITS file (warnings of odd headers silenced), then closed.

    With ``checkMemory``, images too large for the available memory are refused
    from their headers first.

    Raises
    ------
    InputError
        If the file is missing, not FITS, truncated or has bytes after its last HDU.
    """
    _check_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        warnings.simplefilter("ignore", AstropyUserWarning)
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise InputError(f"{path}: not a readable FITS file ({_one_line(exc)}); expected "
                             f"{expected}") from None
        with hdul:
            if checkMemory:
                _check_memory(hdul, path)
            _check_complete(hdul, path)
            yield hdul


def readExposure(path: str | os.PathLike, supplements: Supplements | None = None,
                 region: Region | None = None) -> Exposure:
    """Read an exposure from a diffim (or LSST-style) MEF file or a plain FITS image.

    A file with an ``IMAGE`` extension is read as a multi-extension exposure
    (MASK, VARIANCE, PSF, PSF_POSITIONS and the primary header's FILTER,
    DATE-OBS and MAGZERO as :func:`writeExposure` writes them). Otherwise the
    first HDU holding data is a plain image, and:

    * pixels become float32; NaN, infinite and blank-sentinel pixels are set to
      0 and flagged NO_DATA, saturated ones SAT (:func:`diffim.characterize.deriveMask`);
    * the variance comes from GAIN and RDNOISE or the sky noise
      (:func:`diffim.characterize.deriveVariance`);
    * the image's own sources are flagged DETECTED
      (:func:`diffim.characterize.markDetected`);
    * the WCS is the header's, if celestial;
    * filter, observation date and zero point come from FILTER, DATE-OBS
      (with UT / TIME-OBS, or MJD-OBS when DATE-OBS holds no time) and
      MAGZERO (or an alias).

    A MEF without MASK or VARIANCE extensions gets them derived the same way.
    Without a PSF extension (a plain image) the PSF is None, ``PSFNOTE`` says so,
    and :meth:`diffim.task.ImageDifferenceTask.characterize` measures it with the
    ``measurePsf`` plugin. Every derived choice is recorded in ``metadata``
    (``VARNOTE``, ``PSFNOTE``, ``SATLEVEL``) next to the header's own cards.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file.
    supplements : Supplements, optional
        Header cards, a variance plane and a PSF supplied beside the file
        (:mod:`diffim.inputs` reads them from their own files); they take the
        place of the file's own. With ``region``, a supplied variance plane is
        that region's.
    region : tuple of slice, optional
        ``(rows, columns)``: read only this part of the image (a tile of a large
        one); its WCS and PSF positions are those of the cut-out, pixel
        ``(0, 0)`` being the region's first.

    Returns
    -------
    Exposure
        Image, mask, variance (always set) and the models found or derived.

    Raises
    ------
    InputError
        If the file is missing, is not FITS, is truncated or corrupt, has MASK
        or VARIANCE but no IMAGE extension, has no 2-D non-empty image, has an
        image too large for the available memory, or has an unusable WCS.
    """
    path = Path(path)
    with _opened(path, "a FITS image or a diffim exposure file",
                 checkMemory=region is None) as hdul:
        if region is None:
            return _read_hdul(hdul, path, supplements or Supplements(), region)
        _check_region_memory(region, path)
        exposure = _read_hdul(hdul, path, supplements or Supplements(), region)
    if exposure.psf is not None:
        exposure.psf = _region_psf(exposure.psf, region, exposure.center)
    return exposure


def imageShape(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of the exposure or image in ``path``, from its headers alone.

    (Its first two axes, for an image with more: :func:`readExposure` refuses those.)

    Raises
    ------
    InputError
        If the file is unreadable or holds no 2-D image.
    """
    path = Path(path)
    with _opened(path, "a FITS image or a diffim exposure file") as hdul:
        hdu = _exposure_image_hdu(hdul, path)
        dims = _declared_dims(hdu) + [1]
    return dims[1], dims[0]


def readWcs(path: str | os.PathLike) -> WCS | None:
    """The celestial WCS of the exposure or image in ``path`` (None without one), from its header.

    Raises
    ------
    InputError
        If the file is unreadable, holds no 2-D image or has an unusable WCS.
    """
    path = Path(path)
    with _opened(path, "a FITS image or a diffim exposure file") as hdul:
        hdu = _exposure_image_hdu(hdul, path)
        dims = _declared_dims(hdu)
        return _celestial_wcs(hdu.header, (dims[1], dims[0]), path)


def _exposure_image_hdu(hdul: fits.HDUList,
                        path: Path) -> fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU:
    """The HDU :func:`readExposure` reads pixels from: IMAGE, else the first image."""
    return _image_extension(hdul, "IMAGE", path) if "IMAGE" in hdul else _image_hdu(hdul, path)


def _read_hdul(hdul: fits.HDUList, path: Path, supplements: Supplements,
               region: Region | None) -> Exposure:
    """Dispatch on the layout: diffim / LSST MEF, or a plain image."""
    names = [hdu.name for hdu in hdul]
    if "IMAGE" in names:
        return _read_mef(hdul, path, supplements, region)
    planes = [name for name in ("MASK", "VARIANCE") if name in names]
    if planes:
        raise InputError(f"{path}: has {' and '.join(planes)} extensions but no IMAGE extension "
                         "(expected the IMAGE, MASK, VARIANCE layout, or a plain image)")
    return _read_plain(_image_hdu(hdul, path), hdul[0].header, path, supplements, region)


#: wcslib's prefix naming its own source line ("ERROR 4 in wcs_types() at line 3121 of
#: file cextern/wcslib/C/wcs.c:"), which tells a user nothing about their file.
_WCSLIB_PREFIX = re.compile(r"ERROR \d+ in \w+\(\) at line \d+ of file \S+:\s*")


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line, without wcslib's source-line prefix."""
    return _WCSLIB_PREFIX.sub("", " ".join(str(exc).split())) or type(exc).__name__


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")


def _check_memory(hdul: fits.HDUList, path: Path) -> None:
    """Refuse, from the headers alone, images too large to process in the available memory."""
    for hdu in hdul:
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
            dims = _declared_dims(hdu)
            if len(dims) >= 2 and 0 not in dims:
                checkImageFits(dims[0], int(np.prod(dims[1:])), str(path))


def _check_region_memory(region: Region, path: Path) -> None:
    """Refuse a region too large to process in the available memory."""
    rows, columns = region
    checkImageFits(columns.stop - columns.start, rows.stop - rows.start,
                   f"{path} {regionLabel(region)}")


def regionLabel(region: Region) -> str:
    """``[y0:y1, x0:x1]``: a region as messages show it."""
    rows, columns = region
    return f"[{rows.start}:{rows.stop}, {columns.start}:{columns.stop}]"


def _check_complete(hdul: fits.HDUList, path: Path) -> None:
    """Raise InputError if the file is shorter or longer than the HDUs it declares.

    astropy pads a truncated data unit with zeros and drops an extension whose
    header is cut short, with warnings only; either would be processed as if
    it were data. A compressed file (not starting with ``SIMPLE``) is checked by
    its decompressor instead.
    """
    with open(path, "rb") as stream:
        if stream.read(6) != b"SIMPLE":
            return
    size = path.stat().st_size
    end = 0
    for index, hdu in enumerate(hdul):
        info = hdu.fileinfo()
        end = info["datLoc"] + info["datSpan"]
        if size < end:
            raise InputError(f"{path}: truncated: HDU {index} ({hdu.name}) ends at byte {end} "
                             f"but the file has {size} bytes (copy or download it again)")
    if size > end:
        raise InputError(f"{path}: {size - end} bytes after HDU {len(hdul) - 1} "
                         f"({hdul[-1].name}) are not a valid FITS extension (the file is "
                         "truncated or corrupt: copy or download it again)")


def _image_hdu(hdul: fits.HDUList,
               path: Path) -> fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU:
    """The first image HDU with data; InputError if none, or if it is empty."""
    emptyShape = None
    for hdu in hdul:
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
            continue
        dims = _declared_dims(hdu)
        if not dims:
            continue
        if 0 in dims:
            emptyShape = emptyShape or tuple(reversed(dims))
            continue
        return hdu
    if emptyShape is not None:
        raise InputError(f"{path}: image has zero size (shape {emptyShape}); expected a "
                         "non-empty 2-D image")
    raise InputError(f"{path}: no image data (expected a 2-D image in some HDU)")


def _declared_dims(hdu: fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU) -> list[int]:
    """``[NAXIS1, NAXIS2, ...]`` as the header declares them (of the image, if tile-compressed)."""
    header = hdu.header
    naxis = int(header.get("ZNAXIS", header.get("NAXIS", 0)))
    return [int(header.get(f"ZNAXIS{i}", header.get(f"NAXIS{i}", 0)))
            for i in range(1, naxis + 1)]


def _image_array(hdu: fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU,
                 path: Path, region: Region | None = None) -> np.ndarray:
    """The HDU's data (or ``region`` of it) as a 2-D array (length-1 outer axes dropped)."""
    try:
        data = hdu.data if region is None else _section(hdu, region)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: cannot read image data ({_one_line(exc)})") from None
    if data is None or data.size == 0:
        raise InputError(f"{path}: image has zero size; expected a non-empty 2-D image")
    data = np.asarray(data)
    while data.ndim > 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise InputError(f"{path}: image data are {data.ndim}-D with shape {data.shape}; "
                         "expected a 2-D image")
    return data


def _section(hdu: fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU,
             region: Region) -> np.ndarray:
    """``region`` of the HDU's image, read without the rest of it.

    Whole rows are read and then cut (one contiguous read is many times faster
    than a seek per row of the region), unless they would take more than
    :data:`MAX_BAND_BYTES`.
    """
    rows, columns = region
    dims = _declared_dims(hdu)
    if len(dims) != 2 and (len(dims) < 2 or any(n != 1 for n in dims[2:])):
        raise ValueError(f"image data have shape {tuple(reversed(dims))}; expected a 2-D image")
    outer = (0,) * (len(dims) - 2)
    bandBytes = (rows.stop - rows.start) * dims[0] * abs(int(hdu.header["BITPIX"])) // 8
    if bandBytes > MAX_BAND_BYTES:
        return np.asarray(hdu.section[outer + (rows, columns)])
    return np.asarray(hdu.section[outer + (rows, slice(None))])[:, columns]


def _read_mef(hdul: fits.HDUList, path: Path, supplements: Supplements,
              region: Region | None = None) -> Exposure:
    """Read the IMAGE / MASK / VARIANCE / PSF layout; derive what is missing."""
    primary = supplements.applyHeader(hdul[0].header)
    imageHdu = _image_extension(hdul, "IMAGE", path)
    raw = _image_array(imageHdu, path, region)
    exposure = Exposure(image=raw, wcs=_region_wcs(imageHdu, raw.shape, path, region),
                        metadata=_metadata(primary, exclude=_ATTRIBUTE_KEYS))
    _set_attributes(exposure, primary)
    if "MASK" in hdul:
        maskHdu = _image_extension(hdul, "MASK", path)
        exposure.mask = _checked_plane(_image_array(maskHdu, path, region), raw.shape, "MASK",
                                       path, MASK_DTYPE)
        exposure.maskPlanes = MaskPlanes.from_header(maskHdu.header)
    else:
        deriveMask(exposure, supplements.applyHeader(imageHdu.header), raw)
    if supplements.applyVariance(exposure):
        exposure.metadata["VARNOTE"] = supplements.varianceNote
    elif "VARIANCE" in hdul:
        varianceHdu = _image_extension(hdul, "VARIANCE", path)
        exposure.variance = _checked_plane(_image_array(varianceHdu, path, region), raw.shape,
                                           "VARIANCE", path, np.float32)
    else:
        deriveVariance(exposure, primary)
    if not supplements.applyPsf(exposure):
        exposure.psf = _read_psf(hdul) if "PSF" in hdul else None
        if exposure.psf is None:
            exposure.metadata["PSFNOTE"] = PSF_NOT_IN_FILE
    return exposure


def readImageData(path: str | os.PathLike, region: Region | None = None) -> np.ndarray:
    """The 2-D array (or ``region`` of it) of the first image HDU of a FITS file (float64).

    Raises
    ------
    InputError
        If the file is missing, not FITS, truncated, or holds no 2-D image.
    """
    path = Path(path)
    with _opened(path, "a FITS image") as hdul:
        return np.asarray(_image_array(_image_hdu(hdul, path), path, region), dtype=np.float64)


def readPsfFile(path: str | os.PathLike) -> Psf:
    """A PSF model from a FITS file: a diffim PSF extension, or an image of the PSF.

    A file with a ``PSF`` extension as :func:`writeExposure` writes it gives that
    model; otherwise the first image is the PSF at every position (an odd square
    stamp centred on its middle pixel; it is normalised to unit sum).

    Raises
    ------
    InputError
        If the file is unreadable or the image is not an odd square with a positive sum.
    """
    path = Path(path)
    with _opened(path, "a FITS image of the PSF") as hdul:
        psf = _read_psf(hdul) if "PSF" in hdul else None
        stamp = None if psf is not None else np.asarray(
            _image_array(_image_hdu(hdul, path), path), dtype=np.float64)
    if psf is not None:
        return psf
    height, width = stamp.shape
    if height != width or height % 2 == 0 or not np.isfinite(stamp).all() or stamp.sum() <= 0:
        raise InputError(f"{path}: the PSF image is {height}x{width}; expected an odd square "
                         "stamp of finite values with a positive sum, centred on its middle "
                         "pixel")
    return ImagePsf(stamp)


def _image_extension(hdul: fits.HDUList, name: str,
                     path: Path) -> fits.ImageHDU | fits.CompImageHDU:
    """The extension ``name``; InputError if it holds something other than an image."""
    hdu = hdul[name]
    if not isinstance(hdu, (fits.ImageHDU, fits.CompImageHDU, fits.PrimaryHDU)):
        raise InputError(f"{path}: the {name} extension is a {type(hdu).__name__}; expected "
                         "an image extension")
    return hdu


def _checked_plane(data: np.ndarray, shape: tuple[int, int], name: str, path: Path,
                   dtype) -> np.ndarray:
    if data.shape != shape:
        raise InputError(f"{path}: {name} shape {data.shape} differs from IMAGE shape {shape}")
    return np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("="))


def _read_plain(hdu: fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU, primary: fits.Header,
                path: Path, supplements: Supplements,
                region: Region | None = None) -> Exposure:
    """Read a plain image HDU and derive its mask, variance and detections."""
    raw = _image_array(hdu, path, region)
    header = hdu.header
    if header is not primary:
        merged = primary.copy()
        merged.update(header)
        header = merged
    header = supplements.applyHeader(header)
    exposure = Exposure(image=raw, wcs=_region_wcs(hdu, raw.shape, path, region),
                        metadata=_metadata(header))
    _set_attributes(exposure, header)
    deriveMask(exposure, header, raw)
    if not supplements.applyVariance(exposure):
        deriveVariance(exposure, header)
    markDetected(exposure)
    if not supplements.applyPsf(exposure):
        exposure.metadata["PSFNOTE"] = PSF_NOT_IN_FILE
    return exposure


def _metadata(header: fits.Header, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Header cards that describe the observation (no layout, WCS or excluded keys)."""
    out: dict[str, Any] = {}
    for card in header.cards:
        key = card.keyword
        if _STRUCTURAL.match(key) or _WCS_KEY.match(key) or key in exclude:
            continue
        value = card.value
        if isinstance(value, fits.card.Undefined):
            continue
        out[key] = value
    return out


def _celestial_wcs(header: fits.Header, shape: tuple[int, int], path: Path) -> WCS | None:
    """The header's celestial WCS, or None if it declares none.

    Raises
    ------
    InputError
        If the header has WCS cards (``CTYPEn``) that do not make a usable
        celestial WCS: unknown projection, inconsistent axes, or a mapping
        that is singular or not finite at the image centre.
    """
    declared = [header[key] for key in ("CTYPE1", "CTYPE2") if key in header]
    try:
        wcs = WCS(header)
    except (ValueError, KeyError, MemoryError, TypeError) as exc:
        if declared:
            raise InputError(f"{path}: invalid WCS ({_one_line(exc)}); expected a celestial "
                             "WCS such as RA---TAN/DEC--TAN, or no CTYPE cards at all") from None
        return None
    if not wcs.has_celestial:
        return None
    celestial = wcs.celestial
    y, x = (np.asarray(shape) - 1) / 2.0
    with np.errstate(all="ignore"):
        centre = np.asarray(celestial.pixel_to_world_values(x, y), dtype=float)
        scale = float(np.linalg.det(celestial.pixel_scale_matrix))
    if not (np.all(np.isfinite(centre)) and np.isfinite(scale) and scale != 0.0):
        raise InputError(f"{path}: invalid WCS (CTYPE {', '.join(map(str, declared))}): the "
                         "pixel-to-sky mapping is singular or not finite at the image centre; "
                         "fix CRVAL/CD/PC/CDELT, or remove the WCS")
    return celestial


def _region_wcs(hdu: fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU,
                shape: tuple[int, int], path: Path, region: Region | None) -> WCS | None:
    """The HDU's celestial WCS, of ``region`` when given (see :func:`_celestial_wcs`).

    ``shape`` is that of the pixels read (the region's, when given).
    """
    if region is None:
        return _celestial_wcs(hdu.header, shape, path)
    dims = _declared_dims(hdu)
    wcs = _celestial_wcs(hdu.header, (dims[1], dims[0]), path)
    return None if wcs is None else wcs.slice(region)


def _region_psf(psf: Psf, region: Region, center: tuple[float, float]) -> Psf:
    """``psf`` in the pixel coordinates of ``region``.

    A SpatialPsf keeps its stamps at the moved positions; another model is
    summarised at ``center`` (the region's centre, in its coordinates).
    """
    rows, columns = region
    if isinstance(psf, SpatialPsf):
        return SpatialPsf(psf.stamps, psf.x - columns.start, psf.y - rows.start, psf.order,
                          psf.bbox)
    psf = psf.copy()
    psf.averagePosition = center
    return psf


def _set_attributes(exposure: Exposure, header: fits.Header) -> None:
    """Filter, observation date and zero point from header keys."""
    value = header.get("FILTER")
    if isinstance(value, str) and value.strip():
        exposure.filter = value.strip()
    exposure.obsDate = _obs_date(header)
    zeroPoint = headerNumber(header, ZEROPOINT_KEYS)
    if zeroPoint is not None:
        exposure.photoCalib = PhotoCalib(zeroPoint)


def _obs_date(header: fits.Header) -> str | None:
    """DATE-OBS; joined with UT / TIME-OBS, or replaced by MJD-OBS, when it holds no time."""
    date = header.get("DATE-OBS")
    date = date.strip() if isinstance(date, str) else None
    if date and "T" in date:
        return date
    clock = header.get("TIME-OBS", header.get("UT"))
    if date and isinstance(clock, str) and re.fullmatch(r"\d{1,2}:\d{2}:\d{2}(\.\d*)?",
                                                        clock.strip()):
        return f"{date}T{clock.strip()}"
    mjd = headerNumber(header, ("MJD-OBS",))
    if mjd is not None:
        return Time(mjd, format="mjd", scale="utc").isot
    return date or None


def _read_psf(hdul: fits.HDUList) -> Psf | None:
    """The PSF stored by :func:`writeExposure`; None for an unknown PSFTYPE."""
    hdu = hdul["PSF"]
    header = hdu.header
    data = np.asarray(hdu.data, dtype=np.float64)
    average = (float(header.get("AVGPOSX", 0.0)), float(header.get("AVGPOSY", 0.0)))
    kind = header.get("PSFTYPE")
    if kind == "IMAGE":
        if "GSIGMA" in header:
            return GaussianPsf(float(header["GSIGMA"]), size=data.shape[0],
                               averagePosition=average)
        return ImagePsf(data, averagePosition=average)
    if kind == "SPATIAL" and "PSF_POSITIONS" in hdul:
        positions = hdul["PSF_POSITIONS"].data
        return SpatialPsf(data, np.asarray(positions["x"]), np.asarray(positions["y"]),
                          int(header["PSFORDER"]), (int(header["BBOX_W"]),
                                                    int(header["BBOX_H"])))
    return None
