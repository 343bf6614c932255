"""diffim's ``iqr`` scaleVariance plugin: LSST ScaleVarianceTask's noise-to-variance factor."""
from .config import IqrScaleVarianceConfig
from .plugin import IqrScaleVariance, varianceScaleFactor

__all__ = ["IqrScaleVariance", "IqrScaleVarianceConfig", "varianceScaleFactor"]
