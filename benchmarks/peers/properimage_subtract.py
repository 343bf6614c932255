"""Subtract a pair with properimage's ZOGY (``properimage.operations.subtract``); run in its venv.

The pair is already on one pixel grid (the benchmark warps the template), so the
subtraction fits the relative flux scale (``beta=True``) but no shift (``shift=False``);
the PSFs are properimage's Gaussian fits to each image's stars (``fitted_psf=True``, its
default). ZOGY's D is normalised to unit noise, so its variance is 1.

Usage: python properimage_subtract.py SCIENCE TEMPLATE OUT_DIFF
Prints one JSON line: {"subtractSeconds": ...}.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

#: Peer inputs mark missing data with this value or less (see benchmarks/perf/pairs.py).
NO_DATA_BELOW = -1.0e4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("science", type=Path)
    parser.add_argument("template", type=Path)
    parser.add_argument("out", type=Path)
    options = parser.parse_args()
    from properimage.operations import subtract

    science = fits.getdata(options.science).astype(np.float64)
    template = fits.getdata(options.template).astype(np.float64)
    bad = (science <= NO_DATA_BELOW) | (template <= NO_DATA_BELOW)
    start = time.perf_counter()
    result = subtract(ref=np.ma.MaskedArray(template, mask=bad),
                      new=np.ma.MaskedArray(science, mask=bad),
                      align=False, beta=True, shift=False, iterative=False, fitted_psf=True)
    seconds = time.perf_counter() - start
    difference = np.asarray(np.real(result[0]), dtype=np.float32)
    difference[bad] = np.nan
    fits.writeto(options.out, difference, overwrite=True)
    print(json.dumps({"subtractSeconds": seconds}))


if __name__ == "__main__":
    main()
