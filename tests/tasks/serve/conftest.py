"""Fixtures of the router tests: the world of testkit/router_world.py (clustered tau2 calls,
promoted champions on a tiny Llama, a fake upstream LLM)."""

from testkit.router_world import served, upstream, world  # noqa: F401
