"""diffim's kernel-star selectors (``sourceSelector`` slot): objectSize, science and catalog.

All three measure the science sources themselves (:func:`measureSources`)
when the task passes no catalog.
"""
from .catalog import CatalogStarSelector
from .config import (CatalogStarSelectorConfig, ObjectSizeStarSelectorConfig,
                     ScienceStarSelectorConfig, SourceMeasurementConfig, StarSelectorConfig)
from .measurement import measureSources
from .objectsize import ObjectSizeStarSelector
from .science import ScienceStarSelector

__all__ = ["CatalogStarSelector", "CatalogStarSelectorConfig", "ObjectSizeStarSelector",
           "ObjectSizeStarSelectorConfig", "ScienceStarSelector", "ScienceStarSelectorConfig",
           "SourceMeasurementConfig", "StarSelectorConfig", "measureSources"]
