"""The config system: typed fields, nested configs and plugin slots (pex_config style)."""
from .config import Config
from .suggest import suggest
from .fields import AutoField, ChoiceField, ConfigField, Field, ListField, RangeField
from .slot import Slot, SlotField

__all__ = ["AutoField", "Config", "ChoiceField", "ConfigField", "Field", "ListField", "RangeField",
           "Slot", "SlotField", "suggest"]
