"""Photometric calibration: the zero point of an exposure."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: AB magnitude of 1 nJy.
AB_NJY_ZEROPOINT = 31.4


@dataclass(frozen=True)
class PhotoCalib:
    """Photometric zero point of an exposure.

    Parameters
    ----------
    zeroPoint : float
        AB magnitude of a source giving 1 count (instFlux = 1) in the image.
    """

    zeroPoint: float

    @property
    def calibration(self) -> float:
        """nJy per count."""
        return float(10.0 ** (0.4 * (AB_NJY_ZEROPOINT - self.zeroPoint)))

    def instFluxToNanojansky(self, instFlux):
        """Convert counts to nJy."""
        return np.asarray(instFlux) * self.calibration

    def instFluxToMagnitude(self, instFlux):
        """Convert counts to AB magnitude."""
        return self.zeroPoint - 2.5 * np.log10(instFlux)
