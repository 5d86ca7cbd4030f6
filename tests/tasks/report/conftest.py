"""Fixtures of the report tests (tests/support/testkit/tiny_adapters.py)."""

from testkit.tiny_adapters import airline  # noqa: F401
