"""Fixtures of the promote tests, shared with evaluate's (tests/tasks/evaluate/tiny_adapters.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))

from tiny_adapters import airline, tiny_adapters, tiny_base  # noqa: F401
