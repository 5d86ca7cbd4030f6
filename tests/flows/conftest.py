"""Fixtures of the flow tests: the adapters and tau2 calls of testkit/tiny_adapters.py."""

from testkit.tiny_adapters import airline, tiny_adapters  # noqa: F401
