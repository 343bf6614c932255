"""The documented diaSource schema matches what the default pipeline writes."""
from __future__ import annotations

import importlib.util

from paths import REPO


def test_schema_document_is_current_and_every_column_is_described():
    spec = importlib.util.spec_from_file_location("make_schema", REPO / "docs" / "make_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    columns = module.defaultColumns()
    undescribed = [name for name, _, description in columns if not description]
    assert not undescribed, undescribed
    assert (REPO / "docs" / "diaSources.md").read_text() == module.render(columns)
