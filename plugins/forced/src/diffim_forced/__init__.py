"""diffim's ``psf`` forcedMeasurement plugin: PSF fluxes on the science exposure at diaSources."""
from .config import PsfForcedMeasurementConfig
from .plugin import PsfForcedMeasurement, fittedArea, forcedPsfFlux
from .schema import FORCED_SCHEMA

__all__ = ["FORCED_SCHEMA", "PsfForcedMeasurement", "PsfForcedMeasurementConfig", "fittedArea",
           "forcedPsfFlux"]
