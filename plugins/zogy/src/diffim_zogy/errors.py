"""Errors of the ZOGY subtraction that a user can fix."""
from __future__ import annotations

from diffim.errors import DiffimError


class PsfCentroidError(DiffimError):
    """The science and template PSF images are not centred on the same point.

    Parameters
    ----------
    distance : float
        Distance (pixels) between the two PSF centroids.
    maximum : float
        The allowed distance (``maxPsfCentroidDist``).
    position : tuple of float
        ``(x, y)`` where the PSFs were compared.
    """

    def __init__(self, distance: float, maximum: float, position: tuple[float, float]):
        self.distance = distance
        self.maximum = maximum
        self.position = position
        super().__init__(
            f"science and template PSF centroids differ by {distance:.3f} px at "
            f"({position[0]:.0f}, {position[1]:.0f}); at most maxPsfCentroidDist={maximum} "
            f"px is allowed (centre both PSF models on their stamp)")


class FluxScaleError(DiffimError):
    """The template-to-science flux ratio could not be measured from stars.

    Parameters
    ----------
    nStars : int
        Stars usable for the fit.
    required : int
        Stars needed.
    """

    def __init__(self, nStars: int, required: int):
        self.nStars = nStars
        self.required = required
        super().__init__(
            f"only {nStars} usable stars to fit the template/science flux ratio, at least "
            f"{required} needed; give both exposures a photoCalib, or set "
            f"doFitFluxScaling=False and templateFluxScaling/scienceFluxScaling")
