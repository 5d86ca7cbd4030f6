"""Fixtures of the report tests (tests/testkit/tiny_adapters.py)."""

from testkit.tiny_adapters import airline  # noqa: F401
