"""diffim's ``threshold`` detection plugin: LSST SourceDetectionTask as run on difference images."""
from .config import ThresholdDetectionConfig
from .plugin import ThresholdDetection, detect
from .schema import DIA_SOURCE_SCHEMA, PIXEL_FLAG_PLANES

__all__ = ["DIA_SOURCE_SCHEMA", "PIXEL_FLAG_PLANES", "ThresholdDetection",
           "ThresholdDetectionConfig", "detect"]
