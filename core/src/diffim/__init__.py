"""diffim: astronomical image differencing, a small core plus plugins.

The public API::

    from diffim import Exposure, ImageDifferenceTask, load_pipeline
    config = load_pipeline("default")  # a shipped pipeline, or a YAML file
    result = ImageDifferenceTask(config=config).run(exposure=science, templateExposure=template)
"""
from .exposure import Exposure
from .mask import MaskPlanes
from .photocalib import PhotoCalib
from .psf import GaussianPsf, ImagePsf, Psf, SpatialPsf

__version__ = "0.1.0"

__all__ = ["Exposure", "GaussianPsf", "ImagePsf", "MaskPlanes", "PhotoCalib", "Psf", "SpatialPsf",
           "__version__"]
