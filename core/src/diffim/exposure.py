"""The Exposure: image, mask, variance, PSF, WCS, calibration and metadata."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.wcs import WCS

from .mask import MASK_DTYPE, MaskPlanes
from .photocalib import PhotoCalib
from .psf import Psf


@dataclass(eq=False)
class Exposure:
    """An image with its mask, variance and the models that describe it.

    Arrays are indexed ``[y, x]``. The core keeps them native-endian, image and
    variance float32, mask int32.

    Parameters
    ----------
    image : numpy.ndarray
        Pixel values (counts).
    mask : numpy.ndarray, optional
        Integer bit planes, named by ``maskPlanes``; zeros when omitted.
    variance : numpy.ndarray, optional
        Per-pixel variance (counts²); required for any processing.
    psf : Psf, optional
        PSF model.
    wcs : astropy.wcs.WCS, optional
        Celestial WCS of the pixel grid.
    photoCalib : PhotoCalib, optional
        Photometric zero point.
    filter : str, optional
        Band name.
    obsDate : str, optional
        Observation date (ISO 8601, UTC).
    metadata : dict
        Free-form key/values (FITS header cards of the input, processing notes).
    maskPlanes : MaskPlanes
        Plane name to bit dictionary.
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    variance: np.ndarray | None = None
    psf: Psf | None = None
    wcs: WCS | None = None
    photoCalib: PhotoCalib | None = None
    filter: str | None = None
    obsDate: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    maskPlanes: MaskPlanes = field(default_factory=MaskPlanes)

    def __post_init__(self) -> None:
        self.image = _native(self.image, np.float32)
        if self.image.ndim != 2:
            raise ValueError(f"Exposure image must be 2-D, got {self.image.ndim}-D")
        if self.mask is None:
            self.mask = np.zeros(self.image.shape, dtype=MASK_DTYPE)
        self.mask = _native(self.mask, MASK_DTYPE)
        if self.variance is not None:
            self.variance = _native(self.variance, np.float32)
        for name in ("mask", "variance"):
            plane = getattr(self, name)
            if plane is not None and plane.shape != self.image.shape:
                raise ValueError(f"Exposure {name} shape {plane.shape} differs from image "
                                 f"shape {self.image.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return self.image.shape

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]

    @property
    def center(self) -> tuple[float, float]:
        """``(x, y)`` of the image centre, 0-based."""
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def bitmask(self, *names: str, context: str | None = None) -> int:
        """OR of the bits of the named mask planes (see :meth:`MaskPlanes.bitmask`)."""
        return self.maskPlanes.bitmask(names, context)

    def maskedPixels(self, *names: str, context: str | None = None) -> np.ndarray:
        """Boolean array, True where any of the named planes is set.

        With ``context`` (the config field the names come from), planes the
        exposure lacks count as empty, reported once; without it they are a
        KeyError.
        """
        return (self.mask & self.bitmask(*names, context=context)) != 0

    def setMask(self, where: np.ndarray, *names: str) -> None:
        """Set the named planes where ``where`` is True (a boolean array or an index)."""
        bits = self.mask.dtype.type(self.bitmask(*names))
        if isinstance(where, np.ndarray) and where.dtype == bool and where.shape == self.shape:
            np.bitwise_or(self.mask, bits, out=self.mask, where=where)  # one pass, no gather
        else:
            self.mask[where] |= bits

    def clearMask(self, *names: str) -> None:
        """Clear the named planes everywhere."""
        self.mask &= ~self.bitmask(*names)

    def pixelScale(self) -> float | None:
        """Pixel scale in arcseconds at the image centre, or None without a WCS."""
        if self.wcs is None or not self.wcs.has_celestial:
            return None
        x, y = self.center
        sky = self.wcs.pixel_to_world(np.array([x, x + 1, x]), np.array([y, y, y + 1]))
        dx = sky[0].separation(sky[1]).arcsec
        dy = sky[0].separation(sky[2]).arcsec
        return float(np.sqrt(dx * dy))

    def clone(self) -> "Exposure":
        """Return a deep copy (arrays, models and metadata)."""
        return Exposure(
            image=self.image.copy(),
            mask=self.mask.copy(),
            variance=None if self.variance is None else self.variance.copy(),
            psf=None if self.psf is None else self.psf.copy(),
            wcs=None if self.wcs is None else self.wcs.deepcopy(),
            photoCalib=self.photoCalib,
            filter=self.filter,
            obsDate=self.obsDate,
            metadata=copy.deepcopy(self.metadata),
            maskPlanes=self.maskPlanes.copy(),
        )

    def to_ccddata(self):
        """Convert to :class:`astropy.nddata.CCDData` (variance as uncertainty)."""
        from astropy.nddata import CCDData, VarianceUncertainty

        unc = None if self.variance is None else VarianceUncertainty(self.variance)
        meta = dict(self.metadata)
        meta["MASKPLANES"] = dict(self.maskPlanes)
        return CCDData(self.image, unit="adu", mask=self.mask != 0, uncertainty=unc,
                       wcs=self.wcs, meta=meta, psf=None if self.psf is None else
                       self.psf.at(*self.psf.averagePosition))

    @classmethod
    def from_ccddata(cls, ccd) -> "Exposure":
        """Build from :class:`astropy.nddata.CCDData`; a boolean mask becomes BAD."""
        from astropy.nddata import VarianceUncertainty

        from .psf import ImagePsf

        planes = MaskPlanes()
        mask = None
        if ccd.mask is not None:
            mask = np.where(np.asarray(ccd.mask), 1 << planes["BAD"], 0)
        variance = None
        if ccd.uncertainty is not None:
            variance = ccd.uncertainty.represent_as(VarianceUncertainty).array
        psf = ImagePsf(ccd.psf) if getattr(ccd, "psf", None) is not None else None
        return cls(image=np.asarray(ccd.data), mask=mask, variance=variance, psf=psf,
                   wcs=ccd.wcs, metadata=dict(ccd.meta))


def _native(array: np.ndarray, dtype) -> np.ndarray:
    """Return ``array`` as a native-endian, C-contiguous array of ``dtype``."""
    return np.ascontiguousarray(np.asarray(array), dtype=np.dtype(dtype).newbyteorder("="))
