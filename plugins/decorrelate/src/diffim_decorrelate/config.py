"""Config of the Alard–Lupton decorrelation (LSST's DecorrelateALKernelSpatialConfig)."""
from __future__ import annotations

from diffim.config import Config, Field, ListField, RangeField


class DecorrelateALKernelConfig(Config):
    """Post-filter that whitens the noise of an Alard–Lupton difference image."""

    ignoreMaskPlanes = ListField(
        "Mask planes whose pixels are left out of the mean variances of the science and "
        "template variance planes (3-sigma clipped mean, 3 iterations) that set the filter. "
        "A plane that an exposure does not define counts as empty for it.",
        str, default=("INTRP", "EDGE", "DETECTED", "SAT", "CR", "BAD", "NO_DATA",
                      "DETECTED_NEGATIVE"))
    completeVarPlanePropagation = Field(
        "Compute the variance plane by convolving each input variance plane with the square "
        "of the real-space filter its noise goes through. This follows a variance that changes "
        "on the scale of the filter (around bright stars, at mask edges) and costs three more "
        "image-sized FFTs. When False (LSST's default) each input variance plane is scaled by "
        "its filter's total power, which is exact where the variance is locally constant.",
        bool, default=False)
    scaleByFwhm = Field(
        "Give gridStep and borderSize in units of the FWHM of the difference-image PSF at the "
        "image centre (True) or in pixels (False). Used only with doSpatiallyVarying.",
        bool, default=True)
    gridStep = RangeField(
        "Spacing of the grid of nodes at which a spatially varying decorrelation is computed "
        "(doSpatiallyVarying). Each node's filter uses the matching kernel, the PSF and the "
        "mean variances at that node and is applied to the square of half-width gridStep "
        "around it; neighbouring results are blended with linear (tent) weights, so the "
        "filter changes smoothly and leaves no seams. Nodes also sit on the image edges. "
        "20 FWHM makes each node's square 40 FWHM wide, about LSST's cellSize of 41 FWHM. "
        "Smaller steps follow faster variation but cost more FFTs.",
        float, default=20.0, min=0.0, inclusiveMin=False)
    borderSize = RangeField(
        "Margin of extra difference-image pixels around each node's square that is filtered "
        "with it and then discarded (doSpatiallyVarying), so that pixels near the square's "
        "edge see real neighbours rather than the zero padding of the FFT. It should exceed "
        "the filter's half-width, a few FWHM.",
        float, default=8.0, min=0.0)
    psfSpatialOrder = RangeField(
        "Polynomial order in x and y of the output PSF model of a spatially varying "
        "decorrelation, fitted to the corrected PSFs at the grid nodes (lowered to one less "
        "than the number of nodes along the shorter axis when the grid is too coarse).",
        int, default=2, min=0)
