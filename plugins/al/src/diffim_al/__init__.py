"""diffim-al: Alard–Lupton PSF-matching subtraction, the ``al`` plugin of the ``subtract`` slot.

Use it through ``diffim`` (``subtract: al`` in a pipeline), or directly::

    from diffim_al import AlardLuptonSubtraction, ImagePsfMatchConfig
    result = AlardLuptonSubtraction().diffim_subtract(
        science, template, ImagePsfMatchConfig(), convolveTemplate=True,
        kernelSources=None, rng=np.random.default_rng(0))
"""
from .config import ImagePsfMatchConfig
from .kernel import SpatialBackground, SpatialMatchingKernel
from .subtraction import AlardLuptonSubtraction, KernelFitError

__all__ = ["AlardLuptonSubtraction", "ImagePsfMatchConfig", "KernelFitError",
           "SpatialBackground", "SpatialMatchingKernel"]
