"""Data repositories: files addressed by data ID, a registry, and a sky map.

See :class:`Repository` for the layout; :mod:`diffim.repo.datasets` for the
dataset types; :class:`SkyMap` for tracts and patches; :mod:`diffim.repo.where`
for the query language.
"""
from .datasets import DIFF_KINDS, DIMENSIONS, exposureId, formatDataId
from .dataref import DataRef
from .registry import DatasetExistsError, RegistryError
from .repository import DatasetRef, Repository, RepositoryError
from .skymap import SkyMap, TractInfo

__all__ = ["DIFF_KINDS", "DIMENSIONS", "DataRef", "DatasetExistsError", "DatasetRef",
           "RegistryError", "Repository", "RepositoryError", "SkyMap", "TractInfo", "exposureId",
           "formatDataId"]
