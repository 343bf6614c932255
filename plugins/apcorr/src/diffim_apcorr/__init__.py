"""diffim's ``apCorr`` applyApCorr plugin: aperture corrections from the science stars."""
from .config import ApplyApCorrConfig
from .errors import InsufficientApCorrStarsError
from .field import ApCorrField, fitApCorrField
from .plugin import ApplyApCorr, algorithmName, applyApCorr, measureApCorr
from .stars import StarFluxes, measureStars

__all__ = ["ApCorrField", "ApplyApCorr", "ApplyApCorrConfig", "InsufficientApCorrStarsError",
           "StarFluxes", "algorithmName", "applyApCorr", "fitApCorrField", "measureApCorr",
           "measureStars"]
