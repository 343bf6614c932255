"""Postage stamps of the diaSources: a FITS file of cutouts and a PNG gallery.

:func:`writeCutouts` writes, for each diaSource, a science, template and
difference stamp centred on the source's nearest pixel, each with its own WCS;
:func:`writeGallery` draws the strongest sources' stamps as a grid.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .catalog import flagColumn
from .errors import ConfigError
from .exposure import Exposure

#: Gallery geometry: each source is a row of three stamps, GALLERY_ROW_SIZE inches
#: (width, height) at GALLERY_DPI dpi, so the PNG is 600 x (200 x rows) pixels
#: (one row, saying "no diaSources", when there are none).
GALLERY_ROW_SIZE = (6.0, 2.0)
GALLERY_DPI = 100

#: Names of the three stamp extensions of each source, in file order.
STAMP_NAMES = ("SCIENCE", "TEMPLATE", "DIFFERENCE")


def checkSize(size, option: str = "size") -> int:
    """``size`` as an int, or a ConfigError naming ``option`` unless it is odd and >= 5."""
    integral = isinstance(size, (int, np.integer)) and not isinstance(size, bool)
    if not integral or size < 5 or size % 2 == 0:
        raise ConfigError(f"{option}={size!r}: a cutout must be an odd number of pixels, "
                          f"at least 5, so that the source sits on its centre pixel")
    return int(size)


def stampOrigin(x: float, y: float, size: int) -> tuple[int, int]:
    """0-based ``(x0, y0)`` of the lower-left pixel of the ``size`` stamp centred on the
    pixel nearest ``(x, y)`` (0-based pixel centres)."""
    half = size // 2
    return int(np.floor(x + 0.5)) - half, int(np.floor(y + 0.5)) - half


def extractStamp(array: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """``array[y0:y0+size, x0:x0+size]`` as float32, NaN where it runs off the array."""
    stamp = np.full((size, size), np.nan, dtype=np.float32)
    ny, nx = array.shape
    ya, yb = max(y0, 0), min(y0 + size, ny)
    xa, xb = max(x0, 0), min(x0 + size, nx)
    if ya < yb and xa < xb:
        stamp[ya - y0:yb - y0, xa - x0:xb - x0] = array[ya:yb, xa:xb]
    return stamp


def stampWcs(wcs, x0: int, y0: int):
    """``wcs`` for a stamp whose pixel (0, 0) is pixel ``(x0, y0)`` of the exposure.

    The reference pixel (and that of SIP distortion terms) moves by ``(-x0, -y0)``;
    this works for stamps that run off the image (negative origins) too.
    """
    if wcs is None:
        return None
    new = wcs.deepcopy()
    shift = np.array([x0, y0], dtype=float)
    new.wcs.crpix = new.wcs.crpix - shift
    if new.sip is not None:
        from astropy.wcs import Sip

        sip = new.sip
        new.sip = Sip(sip.a, sip.b, sip.ap, sip.bp, np.asarray(sip.crpix) - shift)
    if new.pixel_shape is not None:
        new.pixel_shape = None
    return new


def _sourceIds(diaSources) -> np.ndarray:
    if "id" in diaSources.colnames:
        return np.asarray(diaSources["id"])
    return np.arange(1, len(diaSources) + 1)


def writeCutouts(path: str | os.PathLike, science: Exposure, template: Exposure,
                 difference: Exposure, diaSources, size: int = 31,
                 overwrite: bool = True, option: str = "size") -> Path:
    """Write a FITS file of science, template and difference stamps around each diaSource.

    Layout: an empty primary HDU (``NSOURCES``, ``STAMPSIZ``), then for each row
    ``i`` of ``diaSources`` three image HDUs named ``SCIENCE``, ``TEMPLATE`` and
    ``DIFFERENCE`` with ``EXTVER = i + 1``, and last a binary table ``SOURCES``
    holding the rows (same columns, units and descriptions; row ``i`` is EXTVER
    ``i + 1``). Each stamp is ``size`` x ``size`` pixels centred on the pixel
    nearest the source's ``(x, y)``, NaN where it runs off the image. Its header
    carries ``SRCID`` (the source id), ``SRC_X``/``SRC_Y`` (its 0-based position
    in the exposure), ``STAMP_X0``/``STAMP_Y0`` (the exposure pixel, 0-based, of
    the stamp's pixel 0,0), IRAF ``LTV1``/``LTV2`` (so DS9's physical coordinates
    are the exposure's 1-based pixels) and the exposure's WCS shifted to the stamp.

    Parameters
    ----------
    path : str or os.PathLike
        Destination FITS file, written atomically.
    science, template, difference : Exposure
        Exposures on the same pixel grid (the template matched or warped).
    diaSources : astropy.table.Table
        The sources, with ``x`` and ``y``.
    size : int
        Stamp side in pixels: odd, at least 5.
    overwrite : bool
        Replace an existing file.
    option : str
        Name of the option ``size`` came from, for the error message.

    Raises
    ------
    ConfigError
        If ``size`` is even or less than 5.
    """
    from astropy.io import fits

    size = checkSize(size, option)
    ids = _sourceIds(diaSources)
    primary = fits.PrimaryHDU()
    primary.header["NSOURCES"] = (len(diaSources), "number of diaSources (rows of SOURCES)")
    primary.header["STAMPSIZ"] = (size, "side of each stamp (pixels)")
    hdus = [primary]
    exposures = dict(zip(STAMP_NAMES, (science, template, difference)))
    for i, row in enumerate(diaSources):
        x, y = float(row["x"]), float(row["y"])
        x0, y0 = stampOrigin(x, y, size)
        for name, exposure in exposures.items():
            wcs = stampWcs(exposure.wcs, x0, y0)
            header = wcs.to_header(relax=True) if wcs is not None else fits.Header()
            hdu = fits.ImageHDU(extractStamp(exposure.image, x0, y0, size), header=header,
                                name=name, ver=i + 1)
            hdu.header["SRCID"] = (int(ids[i]), "diaSource id (SOURCES row EXTVER-1)")
            hdu.header["SRC_X"] = (x, "source column in the exposure (0-based)")
            hdu.header["SRC_Y"] = (y, "source row in the exposure (0-based)")
            hdu.header["STAMP_X0"] = (x0, "exposure column of stamp pixel 0 (0-based)")
            hdu.header["STAMP_Y0"] = (y0, "exposure row of stamp pixel 0 (0-based)")
            hdu.header["LTV1"] = (-x0, "physical = image - LTV: exposure pixel, 1-based")
            hdu.header["LTV2"] = (-y0, "physical = image - LTV: exposure pixel, 1-based")
            hdus.append(hdu)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        table = fits.table_to_hdu(diaSources)
        table.name = "SOURCES"
        for k in range(1, table.header["TFIELDS"] + 1):
            name = table.header[f"TTYPE{k}"]
            if name in diaSources.colnames and diaSources[name].description:
                table.header.insert(f"TFORM{k}", (f"TCOMM{k}", str(diaSources[name].description)),
                                    after=True)
    hdus.append(table)
    with atomic_write(path, overwrite=overwrite) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        fits.HDUList(hdus).writeto(tmp)
    return Path(path)


def gallerySelection(diaSources, n: int = 20) -> np.ndarray:
    """Row indices of the first ``n`` non-sky diaSources by decreasing |S/N| (``snr``; NaN last)."""
    if len(diaSources) == 0:
        return np.zeros(0, dtype=int)
    snr = np.abs(np.asarray(diaSources["snr"], dtype=float)) if "snr" in diaSources.colnames \
        else np.zeros(len(diaSources))
    snr = np.where(np.isfinite(snr), snr, -1.0)
    rows = np.flatnonzero(~flagColumn(diaSources, "sky_source"))
    order = rows[np.argsort(-snr[rows], kind="stable")]
    return order[:max(int(n), 0)]


def writeGallery(path: str | os.PathLike, science: Exposure, template: Exposure,
                 difference: Exposure, diaSources, n: int = 20, size: int = 31,
                 overwrite: bool = True, option: str = "size") -> Path:
    """Write a PNG grid of stamps of the ``n`` strongest diaSources.

    Rows are sources by decreasing |S/N| (:func:`gallerySelection`; sky sources
    left out), columns the science, template and difference stamps, each with
    its own zscale stretch, labelled with the source id and S/N. The PNG is
    :data:`GALLERY_ROW_SIZE` inches per row at :data:`GALLERY_DPI` dpi:
    600 x (200 x rows) pixels, one row saying "no diaSources" when none is drawn.

    Raises
    ------
    ConfigError
        If ``size`` is even or less than 5.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .quicklook import sourceKinds, zscaleLimits

    size = checkSize(size, option)
    rows = gallerySelection(diaSources, n)
    nRows = max(len(rows), 1)
    fig = Figure(figsize=(GALLERY_ROW_SIZE[0], GALLERY_ROW_SIZE[1] * nRows), dpi=GALLERY_DPI)
    FigureCanvasAgg(fig)
    if len(rows) == 0:
        fig.text(0.5, 0.5, "no diaSources", ha="center", va="center")
    else:
        ids = _sourceIds(diaSources)
        kinds = sourceKinds(diaSources)
        snr = np.asarray(diaSources["snr"], dtype=float) if "snr" in diaSources.colnames \
            else np.full(len(diaSources), np.nan)
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.25 / nRows,
                            wspace=0.05, hspace=0.25)
        for r, i in enumerate(rows):
            x0, y0 = stampOrigin(float(diaSources["x"][i]), float(diaSources["y"][i]), size)
            for c, (name, exposure) in enumerate(zip(STAMP_NAMES, (science, template, difference))):
                ax = fig.add_subplot(nRows, 3, 3 * r + c + 1)
                stamp = extractStamp(exposure.image, x0, y0, size)
                vmin, vmax = zscaleLimits(stamp)
                ax.imshow(stamp, origin="lower", cmap="gray", vmin=vmin, vmax=vmax,
                          interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_title(f"id {ids[i]}  S/N {snr[i]:.1f}  {kinds[i]}", fontsize=8,
                                 loc="left")
                else:
                    ax.set_title(name.lower(), fontsize=8, loc="right")
    with atomic_write(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=GALLERY_DPI)
    return Path(path)
