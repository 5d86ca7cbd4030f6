"""Fixtures of the promote tests, shared with evaluate's (testkit/tiny_adapters.py)."""

from testkit.tiny_adapters import airline, tiny_adapters  # noqa: F401
