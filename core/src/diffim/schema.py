"""Catalog column declarations shared by the plugins that add diaSource columns."""
from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u


@dataclass(frozen=True)
class ColumnSpec:
    """One catalog column: name, numpy dtype, unit (None if dimensionless) and description."""

    name: str
    dtype: str
    unit: u.UnitBase | None
    description: str
