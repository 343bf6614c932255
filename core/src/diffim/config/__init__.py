"""The config system: typed fields, nested configs and plugin slots (pex_config style)."""
from .config import Config
from .suggest import suggest
from .fields import ChoiceField, ConfigField, Field, ListField, RangeField
from .slot import Slot, SlotField

__all__ = ["Config", "ChoiceField", "ConfigField", "Field", "ListField", "RangeField", "Slot",
           "SlotField", "suggest"]
