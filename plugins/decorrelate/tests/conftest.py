"""Puts this directory on ``sys.path`` for ``decorrelate_testing`` (a unique name: the suite
runs in pytest's importlib mode with every plugin's tests together)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
