"""Subtract a pair with sfft's NumPy (CPU) backend, crowded flavour; run inside sfft's own venv.

The crowded flavour of sfft fits the whole frame and masks only saturated sources: its
``EasyCrowdedPacket`` finds them with SExtractor and replaces them by the sky background in
the "masked" images the kernel is fitted on. SExtractor is not installed here, so this
script builds the same masked images from the pair's SAT pixels (grown by 2 FWHM) and the
``sep`` sky background, and calls ``Customized_Packet`` (DIFF = SCI - Conv(REF)).

Usage: python sfft_subtract.py SCIENCE TEMPLATE SAT OUT_DIFF --kernel-half-width N --grow N
    [--kernel-order N] [--background-order N] [--threads N]
Prints one JSON line: {"subtractSeconds": ...}.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import sep
from astropy.io import fits
from scipy import ndimage

#: Peer inputs mark missing data with this value or less (see benchmarks/perf/pairs.py).
NO_DATA_BELOW = -1.0e4


def maskedImage(image: np.ndarray, protect: np.ndarray) -> np.ndarray:
    """``image`` with the protected pixels (and missing data) replaced by its sky background."""
    valid = np.isfinite(image)
    background = sep.Background(np.ascontiguousarray(np.where(valid, image, 0.0)),
                                mask=~valid).back()
    return np.where(protect | ~valid, background, image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("science", type=Path)
    parser.add_argument("template", type=Path)
    parser.add_argument("sat", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--kernel-half-width", type=int, required=True)
    parser.add_argument("--grow", type=int, required=True, help="SAT growth (pixels)")
    parser.add_argument("--kernel-order", type=int, default=2,
                        help="polynomial degree of the kernel's spatial variation")
    parser.add_argument("--background-order", type=int, default=2,
                        help="polynomial degree of the background")
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    from sfft.CustomizedPacket import Customized_Packet

    science = fits.getdata(options.science).astype(np.float64)
    template = fits.getdata(options.template).astype(np.float64)
    science[science <= NO_DATA_BELOW] = np.nan
    template[template <= NO_DATA_BELOW] = np.nan
    protect = ndimage.binary_dilation(fits.getdata(options.sat) > 0, iterations=options.grow)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"{name}.fits" for name in ("sci", "ref", "msci", "mref")}
        for name, data in (("sci", science), ("ref", template),
                           ("msci", maskedImage(science, protect)),
                           ("mref", maskedImage(template, protect))):
            fits.writeto(paths[name], data, overwrite=True)
        start = time.perf_counter()
        Customized_Packet.CP(FITS_REF=str(paths["ref"]), FITS_SCI=str(paths["sci"]),
                             FITS_mREF=str(paths["mref"]), FITS_mSCI=str(paths["msci"]),
                             ForceConv="REF", GKerHW=options.kernel_half_width,
                             FITS_DIFF=str(options.out), KerPolyOrder=options.kernel_order,
                             BGPolyOrder=options.background_order,
                             ConstPhotRatio=True, BACKEND_4SUBTRACT="Numpy",
                             NUM_CPU_THREADS_4SUBTRACT=options.threads, VERBOSE_LEVEL=0)
        seconds = time.perf_counter() - start
    print(json.dumps({"subtractSeconds": seconds}))


if __name__ == "__main__":
    main()
