"""diffim's ``matcher`` astrometer: sources matched to a reference catalog at the exposure epoch."""
from .config import ReferenceMatcherConfig
from .matcher import ReferenceMatcher
from .motion import propagate

__all__ = ["ReferenceMatcher", "ReferenceMatcherConfig", "propagate"]
