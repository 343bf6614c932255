"""diffim's measurement plugins: base measurements (``psf``) and the dipole model (``dipole``)."""
from .config import DipoleMeasurementConfig, PsfMeasurementConfig
from .plugin import DipoleMeasurement, PsfMeasurement, measure
from .schema import DIPOLE_SCHEMA, baseSchema

__all__ = ["DIPOLE_SCHEMA", "DipoleMeasurement", "DipoleMeasurementConfig", "PsfMeasurement",
           "PsfMeasurementConfig", "baseSchema", "measure"]
