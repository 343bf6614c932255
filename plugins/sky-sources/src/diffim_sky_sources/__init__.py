"""diffim's ``skyObjects`` skySources plugin: circular footprints placed in empty sky."""
from .config import SkyObjectsConfig
from .placement import placeCircles
from .plugin import SkyObjects, skyObjects

__all__ = ["SkyObjects", "SkyObjectsConfig", "placeCircles", "skyObjects"]
