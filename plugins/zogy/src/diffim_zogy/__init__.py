"""diffim-zogy: ZOGY proper image subtraction, the ``zogy`` plugin of the ``subtract`` slot.

Use it through ``diffim`` (``subtract: zogy`` in a pipeline), or directly::

    from diffim_zogy import ZogyConfig, ZogySubtraction
    result = ZogySubtraction().diffim_subtract(
        science, template, ZogyConfig(), convolveTemplate=True, kernelSources=None,
        rng=np.random.default_rng(0))
    result.subtractedExposure   # D, science counts, PSF P_D
    result.scoreExposure        # matched-filter flux; image / sqrt(variance) = S_corr
"""
from .config import ZogyConfig
from .errors import FluxScaleError, PsfCentroidError
from .kernels import ZogyKernels, makeKernels
from .psf import GridPsf
from .subtraction import ZogySubtraction

__all__ = ["FluxScaleError", "GridPsf", "PsfCentroidError", "ZogyConfig", "ZogyKernels",
           "ZogySubtraction", "makeKernels"]
